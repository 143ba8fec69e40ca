"""Atomic, owner-only output files: every output is written beside its target, then renamed."""

from __future__ import annotations

import codecs
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from cardaudit.normalize import text_chunks

# Spreadsheet programs run cells starting with these as formulas (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` for a library that writes by file name; renamed on success."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_write(path: Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Write to a temporary file beside `path`, fsync, then rename over it (owner-only)."""
    text = "b" not in mode
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding if text else None,
                                        newline="" if text else None) as handle:
        yield handle


def remove_stale_temporaries(folder: Path) -> int:
    """Delete temporaries a killed earlier run left behind (`.<name>.<random>.tmp`)."""
    removed = 0
    for stale in folder.glob(".*.tmp"):
        if stale.is_file():
            stale.unlink(missing_ok=True)
            removed += 1
    return removed


def write_text(path: Path, text: str) -> Path:
    """Write UTF-8 text atomically and return the path."""
    with atomic_write(path) as handle:
        handle.write(text)
    return path


def safe_file_name(name: str) -> str:
    """A legal-entity name usable as part of a file name on Windows and Linux."""
    bad = '<>:"/\\|?*\0'
    cleaned = "".join("_" if c in bad or ord(c) < 32 else c for c in name).strip(" .")
    return cleaned[:80] or "entity"


CSV_OPTIONS = pacsv.WriteOptions(quoting_style="needed")


# A cell that starts with any of FORMULA_PREFIXES (one-character prefixes, as a class).
_FORMULA_START = "^[" + "".join(FORMULA_PREFIXES).replace("-", "\\-") + "]"


def neutralised(frame: pd.DataFrame) -> pa.Table:
    """The frame as an Arrow table whose formula-like text cells start with a quote."""
    text = [c for c in frame.columns if frame[c].dtype == "str" or frame[c].dtype == object]
    table = pa.Table.from_pandas(frame.astype(dict.fromkeys(text, "str")), preserve_index=False)
    for column in text:
        i = table.schema.get_field_index(column)
        values = table.column(i)
        if not _may_start_formula(values):
            continue
        risky = pc.match_substring_regex(values, _FORMULA_START)
        if pc.any(risky).as_py():  # rare: only those cells are rewritten
            quoted = pc.binary_join_element_wise(pa.scalar("'", values.type), values,
                                                 pa.scalar("", values.type))
            table = table.set_column(i, table.field(i), pc.if_else(risky, quoted, values))
    return table


_FORMULA_BYTES = np.array([ord(p) for p in FORMULA_PREFIXES], dtype=np.uint8)


def _may_start_formula(values: pa.ChunkedArray) -> bool:
    """Whether some value may start with one of FORMULA_PREFIXES (read from the first byte of
    each non-empty value: every prefix is one ASCII byte)."""
    for offsets, data in text_chunks(values):
        starts = offsets[:-1][offsets[1:] > offsets[:-1]]
        if np.isin(data[starts], _FORMULA_BYTES).any():
            return True
    return False


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    """UTF-8 with BOM (opens correctly in Excel); formula-like cells are neutralised."""
    with atomic_write(path, mode="wb") as handle:
        handle.write(codecs.BOM_UTF8)
        pacsv.write_csv(neutralised(frame), handle, write_options=CSV_OPTIONS)
    return path
