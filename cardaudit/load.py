"""Read bank export files (CSV, XLSX, Parquet) into one all-text DataFrame with canonical columns.

Every value is text (card and ID numbers never become numbers): leading and trailing white space
is stripped and a cell that is empty after stripping becomes NA. The frame has the canonical
columns that were found (in the order of the alias index), then ``_source_file`` (the file name
only) and ``_source_row`` (int64).

``_source_row`` is the row a person sees when opening the file: the header is row 1 and the first
data record row 2 (or the real row after any title rows above the header). For XLSX it is the real
sheet row; every sheet with a recognised header row is read (a long export is split over sheets),
and when several are, their rows' ``_source_file`` is ``file.xlsx[sheet]``. For CSV it is the
*record* number, which is what Excel shows: a quoted value containing line breaks is one row, and
entirely empty lines still count (they are skipped, never loaded); a line of delimiters is a row
of empty cells. For Parquet it is the record index + 2, as if the file had a header row.

No row is ever dropped silently: a NUL byte anywhere in a CSV, a row with too few or too many
fields, a quote left open (also at the very end of a truncated export) and a line of only white
space are errors naming the row.

All user-facing messages are Simplified Chinese; every problem with an input is an
:class:`~cardaudit.errors.InputError` naming the file (and the row/column where relevant) and
saying how to fix it.

Speed: CSV is parsed by ``pyarrow.csv`` (multi-threaded) straight from the file's bytes into
binary columns, reading only the columns needed; then each column is turned into text on its own
(in worker threads): an all-ASCII column (card, ID and phone numbers, dates) is used as it is;
UTF-8 is validated; GB18030/GBK is transcoded in large blocks - a low-cardinality column (branch,
status, product) through its dictionary, any other as one joined block. This works because GB
multi-byte sequences never contain ``"`` ``,`` tab ``;`` or line breaks; a ``|``-delimited GB file
(``|`` can be a GBK trail byte), UTF-16 and other encodings are transcoded whole before parsing.
The file's SHA-256 is computed in a worker thread while it is parsed.

Entity-by-entity audits read a CSV export a chunk of records at a time (`csv_chunks`): the start
of the file settles its encoding, header and columns, and each chunk (ending at a line break
outside quotes) is parsed and decoded as above, with the same rows, row numbers and errors as
the whole-file reader; memory then holds one chunk, never the file.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import os
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cardaudit import schema
from cardaudit.errors import InputError

__all__ = [
    "BLACKLIST_COLUMNS",
    "BLACKLIST_LABELS",
    "BLACKLIST_REQUIRED",
    "CsvChunks",
    "FileInfo",
    "LoadedExport",
    "column_text",
    "csv_chunks",
    "display_names",
    "files_frame",
    "load_blacklist",
    "load_exports",
    "load_table",
    "resolve_headers",
    "text_frame",
]

CSV_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})
XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
SUPPORTED_FORMATS = (
    "CSV 文本（.csv、.txt、.tsv）、Excel 工作簿（.xlsx、.xlsm）、"
    "Parquet（.parquet、.pq，或包含 Parquet 文件的目录）"
)

SAMPLE_BYTES = 4 << 20  # encoding detection sample
HEADER_SEARCH_ROWS = 20  # the header may follow a few title rows
DELIMITERS = (",", "\t", ";", "|")  # ties go to the earlier one
_DELIMITER_NAMES = {",": "逗号", "\t": "制表符", ";": "分号", "|": "竖线"}
_UTF8 = frozenset({"utf-8", "utf-8-sig"})
# Multi-byte encodings whose trail bytes never collide with '"', ',', tab, ';', CR or LF.
_GB_FAMILY = frozenset({"gb18030", "gbk", "gb2312"})
_CSV_BLOCK_SIZE = 1 << 20


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


@dataclass
class FileInfo:
    """One input file as read: for the report's provenance section.

    ``path`` is what ``_source_file`` holds for its rows (the file name; for a member of a Parquet
    directory ``directory/member``; for one of several sheets read from a workbook
    ``file.xlsx[sheet]``; for same-named files from different folders the shortest path suffix
    that tells them apart). ``sheet`` and ``header_row`` say where the header was found;
    ``mapping`` is this file's canonical name -> original header.
    """

    path: str
    sha256: str
    rows: int
    encoding: str | None
    format: str
    delimiter: str | None
    sheet: str | None = None
    header_row: int = 1
    mapping: dict[str, str] = field(default_factory=dict)


@dataclass
class LoadedExport:
    """The combined frame, one :class:`FileInfo` per file read, and the first file's mapping."""

    frame: pd.DataFrame
    files: list[FileInfo]
    mapping: dict[str, str]


BLACKLIST_LABELS: dict[str, str] = {
    "id_number": "证件号码",
    "name": "姓名",
    "listed_date": "列入日期",
    "end_date": "惩戒截止日期",
    "period_years": "惩戒期限(年)",
    "source": "来源",
    "reason": "原因",
}
_BLACKLIST_ALIASES: dict[str, tuple[str, ...]] = {
    "id_number": ("id_number", "证件号码", "身份证号码", "证件号", "身份证号"),
    "name": ("name", "姓名"),
    "listed_date": ("listed_date", "列入日期", "认定日期"),
    "end_date": ("end_date", "惩戒截止日期", "截止日期"),
    "period_years": ("period_years", "惩戒期限(年)"),
    "source": ("source", "来源", "认定机关"),
    "reason": ("reason", "原因", "认定原因"),
}
#: header_key -> canonical name for the 惩戒名单 (blacklist) file.
BLACKLIST_COLUMNS: dict[str, str] = {
    schema.header_key(alias): name
    for name, aliases in _BLACKLIST_ALIASES.items()
    for alias in aliases
}
BLACKLIST_REQUIRED: tuple[str, ...] = ("id_number",)


def load_exports(
    paths: Sequence[Path | str],
    *,
    encoding: str | None = None,
    mapping: Mapping[str, str | Sequence[str]] | None = None,
    columns: Collection[str] | None = None,
    required: Collection[str] = schema.REQUIRED,
) -> LoadedExport:
    """Read one or several debit-card exports into one frame of canonical text columns.

    ``mapping`` (canonical name -> header text, from ``--mapping``) is applied before the built-in
    aliases; a value may also be a list of alternative header spellings (the first one present
    in a file is used), for several files whose headers differ. ``columns`` limits the columns
    read and kept. Files are concatenated in order; a non-required column missing from some files
    is NA there.
    """
    return _load(
        paths,
        alias_index=schema.ALIAS_INDEX,
        labels=None,
        required=required,
        encoding=encoding,
        mapping=mapping,
        columns=columns,
    )


def load_table(
    path: Path | str,
    *,
    alias_index: Mapping[str, str] = schema.ALIAS_INDEX,
    required: Collection[str] = schema.REQUIRED,
    labels: Mapping[str, str] | None = None,
    encoding: str | None = None,
    mapping: Mapping[str, str | Sequence[str]] | None = None,
    columns: Collection[str] | None = None,
) -> LoadedExport:
    """Read one table file with a caller-supplied alias index (header_key -> canonical name).

    ``labels`` gives the Chinese label of each canonical name for messages (default:
    :func:`cardaudit.schema.label`).
    """
    return _load(
        [path],
        alias_index=alias_index,
        labels=labels,
        required=required,
        encoding=encoding,
        mapping=mapping,
        columns=columns,
    )


def resolve_headers(
    headers: Sequence[str],
    display: str,
    mapping: Mapping[str, str | Sequence[str]] | None = None,
    required: Collection[str] = schema.REQUIRED,
) -> tuple[dict[str, int], dict[str, str]]:
    """Map one table's headers as `load_exports` would: (canonical name -> header index, and
    canonical name -> header), in canonical order; an InputError names what is missing."""
    resolver = _Resolver(schema.ALIAS_INDEX, None, mapping, required, None)
    return resolver.resolve(headers, display)


def column_text(column: pa.ChunkedArray | pa.Array, header: str, display: str) -> pa.Array | pa.ChunkedArray:
    """Any Arrow column as the loader's text: large_string, stripped, empty as null."""
    if isinstance(column, pa.Array):
        column = pa.chunked_array([column], column.type)
    return _arrow_text(column, header, display)


def column_categories(column: pa.ChunkedArray, header: str, display: str) -> pa.ChunkedArray | None:
    """A dictionary-encoded text column as the loader's text, still dictionary-encoded: each
    chunk's distinct values are finished once (`column_text`: stripped, empty as null) and made
    distinct again, so the pandas frame gets a Categorical of the very texts `column_text` gives.
    None when the column is not dictionary-encoded text (the caller takes `column_text`)."""
    kind = column.type
    if not (pa.types.is_dictionary(kind) and (pa.types.is_string(kind.value_type)
                                              or pa.types.is_large_string(kind.value_type))):
        return None
    chunks = []
    for chunk in column.chunks:
        texts = column_text(chunk.dictionary, header, display)
        distinct = _single(pc.dictionary_encode(texts))  # two spellings may finish alike
        chunks.append(pa.DictionaryArray.from_arrays(
            distinct.indices.take(chunk.indices).cast(pa.int32()),
            distinct.dictionary.cast(pa.large_string())))
    return pa.chunked_array(chunks, pa.dictionary(pa.int32(), pa.large_string()))


def load_blacklist(path: Path | str, encoding: str | None = None) -> LoadedExport:
    """Read a 惩戒名单 (blacklist) file: requires ``id_number``; other known columns are kept."""
    return load_table(
        path,
        alias_index=BLACKLIST_COLUMNS,
        required=BLACKLIST_REQUIRED,
        labels=BLACKLIST_LABELS,
        encoding=encoding,
    )


# --------------------------------------------------------------------------------------------
# Header mapping
# --------------------------------------------------------------------------------------------


def _quote(text: str) -> str:
    return f"「{text}」"


def _list_headers(headers: Sequence[str], limit: int = 40, width: int = 30) -> str:
    """The headers for a message; a garbled (wrongly decoded) header line stays short."""
    shown = [h if len(h) <= width else h[:width] + "…" for h in headers if h]
    if len(shown) > limit:
        shown = [*shown[:limit], f"…（共 {len(shown)} 列）"]
    return "、".join(shown) if shown else "（无）"


class _Resolver:
    """Maps a file's headers onto canonical names: user mapping first, then built-in aliases."""

    def __init__(
        self,
        alias_index: Mapping[str, str],
        labels: Mapping[str, str] | None,
        mapping: Mapping[str, str | Sequence[str]] | None,
        required: Collection[str],
        columns: Collection[str] | None,
    ) -> None:
        self.alias_index = dict(alias_index)
        self.order = list(dict.fromkeys(self.alias_index.values()))
        self.labels = dict(labels) if labels is not None else None
        self.required = tuple(dict.fromkeys(required))
        self.user = self._check_mapping(mapping)
        self.user_keys = {
            schema.header_key(header)
            for alternatives in self.user.values()
            for header in alternatives
        }
        if columns is None:
            self.keep: set[str] | None = None
        else:
            if isinstance(columns, str):
                columns = [columns]
            unknown = [name for name in columns if name not in self.order]
            if unknown:
                raise InputError(
                    f"要读取的列 {'、'.join(unknown)} 不是有效的标准列名。"
                    f"有效的标准列名有：{self._valid_names()}。"
                )
            self.keep = set(columns)

    def label(self, name: str) -> str:
        if self.labels is not None and name in self.labels:
            return self.labels[name]
        return schema.label(name)

    def describe(self, name: str) -> str:
        return f"{_quote(self.label(name))}({name})"

    def _valid_names(self) -> str:
        return "、".join(f"{name}（{self.label(name)}）" for name in self.order)

    def _check_mapping(
        self, mapping: Mapping[str, str | Sequence[str]] | None
    ) -> dict[str, list[str]]:
        if not mapping:
            return {}
        if not isinstance(mapping, Mapping):
            raise InputError(
                "--mapping 文件的内容必须是「标准列名: 文件中的列名」的键值对，例如：\n"
                "  id_number: 身份证件号码"
            )
        checked: dict[str, list[str]] = {}
        for key, value in mapping.items():
            name = str(key).strip()
            if name not in self.order:
                hint = ""
                if isinstance(value, str) and value.strip() in self.order:
                    hint = f"看起来写反了，应写作「{value.strip()}: {name}」。"
                raise InputError(
                    f"--mapping 中的{_quote(name)}不是有效的标准列名。{hint}"
                    f"有效的标准列名有：{self._valid_names()}。"
                    "格式示例：id_number: 身份证件号码"
                )
            values = [value] if isinstance(value, str | int | float) else value
            if not isinstance(values, list | tuple) or not values:
                raise InputError(
                    f"--mapping 中 {name} 的值必须是文件中的列名（文本，或几个列名组成的列表），"
                    f"例如：{name}: 某列名"
                )
            headers = [str(v).strip() for v in values if v is not None and str(v).strip()]
            if len(headers) != len(values):
                raise InputError(f"--mapping 中 {name} 的值含有空的列名，请填写文件中实际的列名。")
            checked[name] = headers
        return checked

    def count_known(self, headers: Sequence[str]) -> int:
        """How many headers are known aliases or user-mapped headers (for header detection)."""
        keys = (schema.header_key(h) for h in headers if h)
        return sum(1 for k in keys if k in self.alias_index or k in self.user_keys)

    def resolve(
        self, headers: Sequence[str], display: str, *, where: str = ""
    ) -> tuple[dict[str, int], dict[str, str]]:
        """Canonical name -> header index (kept columns only) and canonical name -> header."""
        keys = [schema.header_key(h) if h else "" for h in headers]
        found = _list_headers(headers)
        file_text = f"文件 {display}{where}"
        chosen: dict[str, int] = {}
        for name, alternatives in self.user.items():
            for header in alternatives:
                key = schema.header_key(header)
                hits = [i for i, k in enumerate(keys) if k == key]
                if len(hits) > 1:
                    raise InputError(
                        f"{file_text} 中有 {len(hits)} 列都叫{_quote(header)}"
                        f"（第 {'、'.join(str(i + 1) for i in hits)} 列），"
                        f"--mapping 指定的 {name} 无法确定使用哪一列。请把其中一列改名后重试。"
                    )
                if hits:
                    chosen[name] = hits[0]
                    break
            else:
                wanted = "、".join(_quote(h) for h in alternatives)
                raise InputError(
                    f"--mapping 指定 {self.describe(name)} 对应列{wanted}，"
                    f"但{file_text} 中没有这一列。"
                    f"已找到的列：{found}。请修改 --mapping 文件，填写文件中实际的列名。"
                )
        claimed = set(chosen.values())
        for i, key in enumerate(keys):
            name = self.alias_index.get(key)
            if name is None or name in self.user or i in claimed:
                continue
            if name in chosen:
                j = chosen[name]
                raise InputError(
                    f"{file_text} 中{_quote(headers[j])}（第 {j + 1} 列）和{_quote(headers[i])}"
                    f"（第 {i + 1} 列）都对应标准列{self.describe(name)}，无法确定使用哪一列。"
                    f"请在 --mapping 文件中指定，例如：{name}: {headers[j]}"
                )
            chosen[name] = i
        missing = [name for name in self.required if name not in chosen]
        if missing:
            what = "、".join(self.describe(name) for name in missing)
            hint = ""
            if self.count_known(headers) == 0:
                hint = (
                    "（没有一列能识别：如果列名显示为乱码，请用 --encoding 指定文件编码；"
                    "如果文件没有表头行，请先加上表头。）"
                )
            raise InputError(
                f"{file_text} 缺少必需列{what}；已找到的列：{found}。{hint}"
                f"请在 --mapping 文件中指定对应列名，例如：{missing[0]}: 文件中的列名"
            )
        if self.keep is not None:
            chosen = {name: i for name, i in chosen.items() if name in self.keep}
        ordered = {name: chosen[name] for name in self.order if name in chosen}
        return ordered, {name: headers[i] for name, i in ordered.items()}


# --------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------


@dataclass
class _Part:
    """One file read: canonical name -> text array, and the row numbers."""

    display: str
    columns: dict[str, pa.Array | pa.ChunkedArray]
    rows: np.ndarray
    sha: Future[str]
    encoding: str | None
    format: str
    delimiter: str | None
    mapping: dict[str, str]
    sheet: str | None = None
    header_row: int = 1
    file: str = ""  # the file's display name (several sheets of one workbook share it)


def _load(
    paths: Sequence[Path | str],
    *,
    alias_index: Mapping[str, str],
    labels: Mapping[str, str] | None,
    required: Collection[str],
    encoding: str | None,
    mapping: Mapping[str, str | Sequence[str]] | None,
    columns: Collection[str] | None,
) -> LoadedExport:
    if isinstance(paths, str | Path):
        paths = [paths]
    path_list = [Path(p) for p in paths]
    if not path_list:
        raise InputError("没有指定要读取的文件。请至少给出一个导出文件。")
    resolver = _Resolver(alias_index, labels, mapping, required, columns)
    forced = _normalise_encoding(encoding) if encoding else None
    displays = _display_names(path_list)
    # Worker threads hash the files and convert columns (numpy, Arrow and hashlib release the GIL).
    workers = (os.cpu_count() or 2) + 1
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cardaudit-load") as pool:
        parts: list[_Part] = []
        for path, display in zip(path_list, displays, strict=True):
            parts.extend(_read_path(path, display, resolver, forced, pool))
        try:
            digests = [part.sha.result() for part in parts]
        except OSError as exc:
            raise _os_error(Path(exc.filename or "").name or "?", exc) from None
    check_distinct_files([(part.file or part.display, digest)
                          for part, digest in zip(parts, digests, strict=True)])
    frame = _combine(parts, resolver.order)
    files = [
        FileInfo(
            path=part.display,
            sha256=digest,
            rows=len(part.rows),
            encoding=part.encoding,
            format=part.format,
            delimiter=part.delimiter,
            sheet=part.sheet,
            header_row=part.header_row,
            mapping=dict(part.mapping),
        )
        for part, digest in zip(parts, digests, strict=True)
    ]
    return LoadedExport(frame=frame, files=files, mapping=dict(parts[0].mapping))


def check_distinct_files(files: Sequence[tuple[str, str]]) -> None:
    """(name, sha256) of every input: the same content given twice is an error.

    Sheets of one workbook share the file's digest and name, so they never clash.
    """
    seen: dict[str, str] = {}
    for source, digest in files:
        if seen.get(digest, source) != source:
            raise InputError(
                f"文件 {seen[digest]} 和 {source} 的内容完全相同（SHA-256 一致），"
                "同一份数据被重复指定了。请去掉其中一个后重试。"
            )
        seen[digest] = source


def parquet_members(paths: Sequence[Path]) -> list[tuple[Path, str]] | None:
    """Every Parquet file these paths name (directories expanded as the loader expands them),
    with the name ``_source_file`` gives its rows; None when any path is not Parquet."""
    members: list[tuple[Path, str]] = []
    for path, display in zip(paths, _display_names(paths), strict=True):
        if path.is_dir():
            members += [(m, f"{display}/{m.relative_to(path).as_posix()}")
                        for m in _parquet_dir_members(path, display)]
        elif path.suffix.lower() in PARQUET_SUFFIXES and path.is_file():
            members.append((path, display))
        else:
            return None
    return members


def hash_file(path: Path) -> str:
    return _hash_file(path)


def display_names(paths: Sequence[Path]) -> list[str]:
    """What ``_source_file`` holds for each of these input paths (see :class:`FileInfo`)."""
    return _display_names(paths)


def _display_names(paths: Sequence[Path]) -> list[str]:
    """File names; for same-named files the shortest path suffix that tells them apart."""
    resolved = [p.resolve() if p.exists() else p.absolute() for p in paths]
    names: list[str] = []
    for i, path in enumerate(resolved):
        depth = 1
        while True:
            mine = path.parts[-depth:]
            clash = any(
                other != path and other.parts[-depth:] == mine
                for j, other in enumerate(resolved)
                if j != i
            )
            if not clash or depth >= len(path.parts):
                break
            depth += 1
        names.append("/".join(path.parts[-depth:]) if depth > 1 else path.name)
    return names


def _combine(parts: Sequence[_Part], order: Sequence[str]) -> pd.DataFrame:
    return files_frame([(part.display, pa.table(
        {**part.columns, schema.SOURCE_ROW: pa.array(part.rows, pa.int64())})) for part in parts],
        order)


def files_frame(parts: Sequence[tuple[str, pa.Table]], order: Sequence[str]) -> pd.DataFrame:
    """The loader's frame from each file's rows: (the name ``_source_file`` gives them, a table of
    their text columns and ``_source_row``), files in order. Columns follow ``order``; a column
    missing from some files is NA there."""
    tables = [table.append_column(schema.SOURCE_FILE, pa.chunked_array(
        [constant_text(name, table.num_rows)])) for name, table in parts]
    if len(tables) > 1:
        tables = _same_kinds(tables)
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")
    present = set(table.column_names)
    return text_frame(table.select(
        [name for name in order if name in present] + [schema.SOURCE_FILE, schema.SOURCE_ROW]))


def _same_kinds(tables: list[pa.Table]) -> list[pa.Table]:
    """The tables with a column that is dictionary-encoded in some and plain text in others made
    plain text in all, so that they can be concatenated."""
    kinds: dict[str, set[pa.DataType]] = {}
    for table in tables:
        for column in table.schema:
            kinds.setdefault(column.name, set()).add(column.type)
    mixed = {name for name, found in kinds.items() if len(found) > 1}
    if not mixed:
        return tables
    out = []
    for table in tables:
        for name in mixed & set(table.column_names):
            if pa.types.is_dictionary(table.schema.field(name).type):
                i = table.schema.get_field_index(name)
                table = table.set_column(i, name, table.column(i).cast(pa.large_string()))
        out.append(table)
    return out


def _present_categories(values: pd.Series) -> pd.Series:
    """A Categorical of text categories, only those some row holds (a Parquet row group's
    dictionary also holds the values of rows not read)."""
    codes = values.cat.codes.to_numpy()
    categories = pd.Index(values.cat.categories.astype("str"), dtype="str")
    present = np.bincount(codes.astype(np.int64) + 1, minlength=len(categories) + 1)[1:] > 0
    if present.all() and values.cat.categories.dtype == "str":
        return values
    renumbered = np.where(present, np.cumsum(present) - 1, -1)
    codes = np.where(codes >= 0, np.append(renumbered, -1)[codes], -1)
    return pd.Series(pd.Categorical.from_codes(codes, categories=categories[present]),
                     index=values.index)


def text_frame(table: pa.Table) -> pd.DataFrame:
    """The loader's frame from an Arrow table of finished text columns, then the two source columns.

    A dictionary-encoded column (see `column_categories`) becomes a Categorical of its texts.
    Shared with the Spark engine, which builds the same table from each legal entity's rows.
    """
    frame = table.to_pandas()
    # Arrow large_string converts to pandas' default str dtype; make sure of it (e.g. 0 rows).
    for name in frame.columns[:-1]:
        values = frame[name]
        if isinstance(values.dtype, pd.CategoricalDtype):
            frame[name] = _present_categories(values)
        elif values.dtype != "str":
            frame[name] = values.astype("str")
    return frame


def constant_text(text: str, n: int) -> pa.Array:
    """`text` repeated n times, as a large_string array built from its buffers."""
    raw = text.encode("utf-8")
    offsets = np.arange(n + 1, dtype=np.int64)
    offsets *= len(raw)
    return pa.Array.from_buffers(
        pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(raw * n)]
    )


def _read_path(
    path: Path,
    display: str,
    resolver: _Resolver,
    forced: str | None,
    pool: ThreadPoolExecutor,
) -> list[_Part]:
    if path.is_dir():
        return _read_parquet_dir(path, display, resolver, pool)
    suffix = path.suffix.lower()
    if not path.exists():
        raise InputError(f"找不到文件 {display}（{path}）。请检查文件路径是否正确。")
    if suffix in CSV_SUFFIXES:
        return [_read_csv(path, display, resolver, forced, pool)]
    if suffix in XLSX_SUFFIXES:
        return _read_xlsx(path, display, resolver, pool)
    if suffix in PARQUET_SUFFIXES:
        return [_read_parquet_file(path, display, resolver, pool)]
    hint = ""
    if suffix in {".xls", ".et", ".ods", ".numbers"}:
        hint = "请在 Excel/WPS 中把它另存为 .xlsx 或 CSV（UTF-8）后再读取。"
    raise InputError(
        f"不支持文件 {display} 的格式（扩展名{_quote(path.suffix or '无')}）。"
        f"支持的格式：{SUPPORTED_FORMATS}。{hint}"
    )


def _hash_bytes(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _os_error(display: str, exc: OSError) -> InputError:
    return InputError(
        f"无法读取文件 {display}：{exc.strerror or exc}。请确认文件存在、没有被其他程序占用，"
        "并且有读取权限。"
    )


# --------------------------------------------------------------------------------------------
# Text finishing (shared by all formats): strip white space, empty -> null, large_string
# --------------------------------------------------------------------------------------------


def _space2(b0: np.ndarray, b1: np.ndarray) -> np.ndarray:
    """UTF-8 of U+0085 or U+00A0."""
    return (b0 == 0xC2) & ((b1 == 0xA0) | (b1 == 0x85))


def _space3(b0: np.ndarray, b1: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """UTF-8 of U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F or U+3000."""
    return (
        ((b0 == 0xE2) & (b1 == 0x80) & ((b2 <= 0x8A) | (b2 == 0xA8) | (b2 == 0xA9) | (b2 == 0xAF)))
        | ((b0 == 0xE2) & (b1 == 0x81) & (b2 == 0x9F))
        | ((b0 == 0xE3) & (b1 == 0x80) & (b2 == 0x80))
        | ((b0 == 0xE1) & (b1 == 0x9A) & (b2 == 0x80))
    )


_BLOCK = 1 << 18  # values per block: keeps numpy temporaries in cache


def _needs_trim(data: np.ndarray, offsets: np.ndarray) -> bool:
    """Whether any value may start or end with white space (ASCII controls count too).

    Conservative: an empty value looks at its neighbour's bytes, which can only cause a
    needless (harmless) trim.
    """
    top = len(data) - 1
    if top < 0:
        return False
    n = len(offsets) - 1
    for low in range(0, n, _BLOCK):
        high = min(n, low + _BLOCK)
        starts = np.minimum(offsets[low:high], top)
        lasts = np.maximum(offsets[low + 1 : high + 1] - 1, 0)
        first = data[starts]
        last = data[lasts]
        if (first <= 0x20).any() or (last <= 0x20).any():
            return True
        lead = (first >= 0xC2) & (first <= 0xE3)
        if lead.any():
            at = starts[lead]
            b0, b1, b2 = data[at], data[np.minimum(at + 1, top)], data[np.minimum(at + 2, top)]
            if (_space2(b0, b1) | _space3(b0, b1, b2)).any():
                return True
        tail = (last >= 0x80) & (
            (last <= 0x8A)
            | (last == 0x9F)
            | (last == 0xA0)
            | (last == 0xA8)
            | (last == 0xA9)
            | (last == 0xAF)
            | (last == 0x85)
        )
        if tail.any():
            at = lasts[tail]
            b1 = data[np.maximum(at - 1, 0)]
            b0 = data[np.maximum(at - 2, 0)]
            maybe = (b1 == 0xC2) | (b0 == 0xE1) | (b0 == 0xE2) | (b0 == 0xE3)
            if maybe.any():
                b2 = data[at[maybe]]
                if (_space2(b1[maybe], b2) | _space3(b0[maybe], b1[maybe], b2)).any():
                    return True
    return False


def _offsets(arr: pa.Array) -> np.ndarray:
    return np.frombuffer(arr.buffers()[1], np.int64, count=len(arr) + 1, offset=arr.offset * 8)


def _value_bytes(arr: pa.Array) -> np.ndarray:
    data = arr.buffers()[2]
    return np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)


def _finish(arr: pa.Array) -> pa.Array:
    """Strip white space and turn empty strings into nulls; ``arr`` is large_string."""
    if len(arr) == 0:
        return arr
    offsets = _offsets(arr)
    if _needs_trim(_value_bytes(arr), offsets):
        arr = pc.utf8_trim_whitespace(arr)
        offsets = _offsets(arr)
    empty = offsets[:-1] == offsets[1:]
    if not empty.any():
        return arr
    valid = ~empty
    if arr.null_count:
        valid &= pc.is_valid(arr).to_numpy(zero_copy_only=False)
    if arr.offset:
        valid = np.concatenate([np.zeros(arr.offset, bool), valid])
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    buffers = arr.buffers()
    return pa.Array.from_buffers(
        pa.large_string(), len(arr), [bitmap, buffers[1], buffers[2]], offset=arr.offset
    )


def _single(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One contiguous array (without copying when there is a single chunk)."""
    if isinstance(column, pa.Array):
        return column
    if column.num_chunks == 1:
        return column.chunk(0)
    if column.num_chunks == 0:
        return pa.array([], column.type)
    return column.combine_chunks()


def _finish_chunked(column: pa.ChunkedArray | pa.Array) -> pa.Array | pa.ChunkedArray:
    if isinstance(column, pa.Array):
        return _finish(column)
    if column.num_chunks == 0:
        return pa.array([], pa.large_string())
    if column.num_chunks == 1:
        return _finish(column.chunk(0))
    if len(column) // column.num_chunks < (1 << 16):
        return _finish(column.combine_chunks())
    return pa.chunked_array([_finish(chunk) for chunk in column.chunks], pa.large_string())


# --------------------------------------------------------------------------------------------
# Decoding GB18030 / GBK binary columns in large blocks
# --------------------------------------------------------------------------------------------


class _BadValue(Exception):
    """A value could not be decoded; ``index`` is its position in the column."""

    def __init__(self, index: int, column: int | None = None) -> None:
        super().__init__(index)
        self.index = index
        self.column = column


def _decode_each(arr: pa.Array, encoding: str) -> pa.Array:
    out: list[str | None] = []
    for i, value in enumerate(arr.to_pylist()):
        if value is None:
            out.append(None)
            continue
        try:
            out.append(value.decode(encoding))
        except UnicodeDecodeError:
            raise _BadValue(i) from None
    return pa.array(out, pa.large_string())


def _decode_joined(arr: pa.Array, encoding: str) -> pa.Array:
    """Decode a large_binary array in one block: values joined by NUL, decoded, split again."""
    n = len(arr)
    filled = arr.fill_null(b"") if arr.null_count else arr
    joined = pc.binary_join_element_wise(
        filled, pa.scalar(b"", pa.large_binary()), pa.scalar(b"\x00", pa.large_binary())
    )
    offsets = _offsets(joined)
    block = memoryview(joined.buffers()[2])[offsets[0] : offsets[-1]]
    try:
        text = str(block, encoding)
    except UnicodeDecodeError as exc:
        raise _BadValue(bytes(block[: exc.start]).count(b"\x00")) from None
    del block
    utf8 = np.frombuffer(text.encode("utf-8"), np.uint8)
    ends = np.flatnonzero(utf8 == 0)
    if len(ends) != n:  # a value itself contains NUL: decode value by value
        return _decode_each(arr, encoding)
    data = utf8[utf8 != 0]
    new_offsets = np.empty(n + 1, np.int64)
    new_offsets[0] = 0
    new_offsets[1:] = ends - np.arange(n)
    validity = arr.buffers()[0] if arr.null_count else None
    if validity is not None and arr.offset:
        validity = pa.py_buffer(
            np.packbits(pc.is_valid(arr).to_numpy(zero_copy_only=False), bitorder="little")
        )
    return pa.Array.from_buffers(
        pa.large_string(), n, [validity, pa.py_buffer(new_offsets), pa.py_buffer(data)]
    )


def _decode_values(arr: pa.Array, encoding: str) -> pa.Array:
    return _decode_each(arr, encoding) if len(arr) <= 2000 else _decode_joined(arr, encoding)


def _first_invalid_utf8(arr: pa.Array) -> int:
    for i, value in enumerate(arr.to_pylist()):  # error path only
        if value is not None:
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                return i
    return 0


def _decode_binary(column: pa.ChunkedArray | pa.Array, encoding: str) -> pa.Array:
    """large_binary in ``encoding`` (UTF-8 or the GB family) -> finished large_string.

    All-ASCII columns (card, ID and phone numbers, dates) are used as they are. UTF-8 is only
    validated. GB18030/GBK low-cardinality columns are decoded through their dictionary, others
    as one joined block. Raises _BadValue naming the first value that does not decode.
    """
    arr = _single(column)
    if arr.type != pa.large_binary():
        arr = arr.cast(pa.large_binary())
    n = len(arr)
    as_text = arr.view(pa.large_string())
    if n == 0:
        return as_text
    offsets = _offsets(arr)
    if int(_value_bytes(arr)[offsets[0] : offsets[-1]].max(initial=0)) < 0x80:
        return _finish(as_text)  # plain ASCII is already UTF-8
    if encoding in _UTF8:
        try:
            return _finish(arr.cast(pa.large_string()))  # validates
        except pa.ArrowInvalid:
            raise _BadValue(_first_invalid_utf8(arr)) from None
    sample = arr.slice(0, 20000)
    if len(pc.unique(sample)) * 4 <= len(sample):
        encoded = pc.dictionary_encode(arr)
        try:
            dictionary = _finish(_decode_values(encoded.dictionary, encoding))
        except _BadValue as exc:
            hits = np.flatnonzero(encoded.indices.to_numpy(zero_copy_only=False) == exc.index)
            raise _BadValue(int(hits[0])) from None
        return pc.take(dictionary, encoded.indices)
    return _finish(_decode_joined(arr, encoding))


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------

_CONTENT = re.compile(rb"[^\s\x00]")
# A record is any line that is not empty: "\t\t\t" is a row of empty cells (as ",,," is), and
# a line of spaces is an error naming its row, never a silently dropped row.
_RECORD_BYTE = re.compile(rb"[^\r\n]")


def _normalise_encoding(encoding: str) -> str:
    try:
        return codecs.lookup(encoding.strip()).name
    except LookupError:
        raise InputError(
            f"不认识的文件编码{_quote(encoding)}。常用的编码是 utf-8 和 gb18030，"
            "例如：--encoding gb18030；也可以不指定 --encoding，由程序自动识别。"
        ) from None


def _detect_encoding(raw: bytes) -> tuple[str, bool]:
    """(encoding, whether the sample had non-ASCII UTF-8, i.e. strong evidence of UTF-8)."""
    if raw.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", True
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", True
    sample = raw[:SAMPLE_BYTES]
    if len(raw) > SAMPLE_BYTES:
        cut = sample.rfind(b"\n")
        if cut > 0:
            sample = sample[: cut + 1]
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=len(sample) == len(raw))
    except UnicodeDecodeError as exc:
        # A first line that is valid UTF-8 with Chinese text, and bad bytes only further on,
        # is a damaged UTF-8 file (GBK text is not valid UTF-8 for more than a character or
        # two): read it as UTF-8 so that the error names the bad row.
        first_line = sample[: exc.start].split(b"\n", 1)
        if len(first_line) == 2 and sum(b >= 0xC0 for b in first_line[0]) >= 2:
            return "utf-8", True
        return "gb18030", False
    return "utf-8", not sample.isascii()


def _encoding_hint(display: str, encoding: str, forced: bool, where: str = "") -> InputError:
    if forced:
        other = "utf-8" if encoding in _GB_FAMILY else "gb18030"
        return InputError(
            f"文件 {display}{where or ' '}不能按 --encoding {encoding} 解码，文件编码可能不对。"
            f"请改用 --encoding {other}，"
            "或者去掉 --encoding，由程序自动识别编码。"
        )
    return InputError(
        f"文件 {display}{where or ' '}的内容既不是有效的 UTF-8，也不是有效的 GB18030（GBK）编码，"
        "可能文件已损坏，或由不同编码的文件拼接而成。请在导出系统或 Excel 中把文件另存为"
        "「CSV UTF-8」后重试，或用 --encoding 指定正确的编码。"
    )


@dataclass
class _CsvLayout:
    header_row: int  # physical record number of the header (1-based)
    headers: list[str]
    delimiter: str
    body_start: int  # byte offset of the first data record


def _first_records(data: bytes, start: int, limit: int) -> list[tuple[int, int, int]]:
    """The first ``limit`` records as (start, end without line break, next start), quote-aware."""
    records: list[tuple[int, int, int]] = []
    pos, n = start, len(data)
    while pos < n and len(records) < limit:
        begin, quotes, scan = pos, 0, pos
        while True:
            end = data.find(b"\n", scan)
            if end == -1:
                end, following = n, n
                break
            quotes += data.count(b'"', scan, end)
            if quotes % 2 == 0 or end - begin > (1 << 20):
                following = end + 1
                break
            scan = end + 1
        stop = end - 1 if end > begin and data[end - 1] == 0x0D else end
        records.append((begin, stop, following))
        pos = following
    return records


def _split_header(text: str) -> tuple[str, list[str]]:
    best_delimiter, best_fields = ",", [text]
    for delimiter in DELIMITERS:
        try:
            fields = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
        except csv.Error:
            continue
        if len(fields) > len(best_fields):
            best_delimiter, best_fields = delimiter, fields
    return best_delimiter, [f.strip() for f in best_fields]


def _csv_layout(
    data: bytes, start: int, encoding: str, display: str, resolver: _Resolver, forced: bool
) -> _CsvLayout:
    chosen: _CsvLayout | None = None
    records = _first_records(data, start, HEADER_SEARCH_ROWS)
    for index, (begin, end, following) in enumerate(records):
        if begin == end:
            continue
        if end - begin > (64 << 10):
            raise InputError(
                f"文件 {display} 第 {index + 1} 行（表头）过长或引号没有成对。"
                "请确认文件是表格导出的 CSV，且表头行的引号成对。"
            )
        try:
            text = data[begin:end].decode(encoding)
        except UnicodeDecodeError:
            raise _encoding_hint(display, encoding, forced, f" 第 {index + 1} 行") from None
        delimiter, headers = _split_header(text)
        layout = _CsvLayout(index + 1, headers, delimiter, following)
        if chosen is None:
            chosen = layout
        if resolver.count_known(headers) >= 2:
            return layout
    if chosen is None:
        raise InputError(f"文件 {display} 为空（只有空行）。请确认导出是否成功。")
    return chosen


def _read_bytes(path: Path, display: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _os_error(display, exc) from None


def _read_csv(
    path: Path,
    display: str,
    resolver: _Resolver,
    forced: str | None,
    pool: ThreadPoolExecutor,
) -> _Part:
    raw = _read_bytes(path, display)
    sha = pool.submit(_hash_bytes, raw)
    if _CONTENT.search(raw, 3 if raw.startswith(codecs.BOM_UTF8) else 0) is None:
        raise InputError(f"文件 {display} 为空（没有任何内容）。请确认导出是否成功。")
    if raw.startswith(b"PK\x03\x04"):
        raise InputError(
            f"文件 {display} 看起来是 Excel（.xlsx）文件，但扩展名是{_quote(path.suffix)}。"
            "请把扩展名改为 .xlsx 后重试。"
        )
    if raw.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError(
            f"文件 {display} 看起来是旧版 Excel（.xls）文件，不是文本 CSV。"
            "请在 Excel/WPS 中另存为 .xlsx 或「CSV UTF-8」后重试。"
        )

    if forced is not None:
        encoding = forced
        if encoding in _UTF8:
            encoding = "utf-8-sig" if raw.startswith(codecs.BOM_UTF8) else "utf-8"
        evidence = True
    else:
        encoding, evidence = _detect_encoding(raw)
    data, start, parse_encoding = raw, 0, encoding
    if encoding == "utf-8-sig":
        start, parse_encoding = (3 if raw.startswith(codecs.BOM_UTF8) else 0), "utf-8"
    elif encoding not in _UTF8 and encoding not in _GB_FAMILY:
        data, parse_encoding = _transcode(raw, encoding, display, forced is not None), "utf-8"
    head = data[start : start + SAMPLE_BYTES]
    if b"\n" not in head and b"\r" in head:
        data = data.replace(b"\r", b"\n")  # old Mac line endings
    nul = data.find(b"\x00", start)  # anywhere in the file: a NUL is never text
    if nul != -1:
        raise _nul_error(data, start, nul, display)

    layout = _csv_layout(data, start, parse_encoding, display, resolver, forced is not None)
    if parse_encoding in _GB_FAMILY and layout.delimiter == "|":
        # '|' (0x7C) can be a GBK trail byte: transcode the whole file before parsing.
        data, start = _transcode(raw, parse_encoding, display, forced is not None), 0
        parse_encoding = "utf-8"
        layout = _csv_layout(data, start, parse_encoding, display, resolver, forced is not None)

    selection, mapping = resolver.resolve(layout.headers, display)
    is_forced = forced is not None
    table, rows = _parse_csv(data, layout, selection, parse_encoding, display)
    try:
        columns = _csv_columns(table, selection, parse_encoding, pool)
    except _BadValue as exc:
        if not _weak_utf8(parse_encoding, is_forced, evidence):
            raise _decode_error(exc, display, parse_encoding, is_forced, layout, rows) from None
        encoding = parse_encoding = "gb18030"
        try:
            columns = _csv_columns(table, selection, parse_encoding, pool)
        except _BadValue as again:
            raise _decode_error(again, display, parse_encoding, False, layout, rows) from None
    return _Part(
        display=display,
        columns=columns,
        rows=rows,
        sha=sha,
        encoding=encoding,
        format="csv",
        delimiter=layout.delimiter,
        mapping=mapping,
        header_row=layout.header_row,
    )


def _weak_utf8(parse_encoding: str, forced: bool, evidence: bool) -> bool:
    """UTF-8 was only a guess (the sample was plain ASCII): a value that is not UTF-8 means the
    file is GB18030."""
    return parse_encoding in _UTF8 and not forced and not evidence


def _decode_error(exc: _BadValue, display: str, parse_encoding: str, forced: bool,
                  layout: _CsvLayout, rows: np.ndarray) -> InputError:
    where = _bad_place(exc, layout, rows)
    if parse_encoding in _UTF8:
        return _utf8_error(display, where, forced)
    return _encoding_hint(display, parse_encoding, forced, where)


# --------------------------------------------------------------------------------------------
# CSV read in chunks (entity-by-entity audits: memory bounded by the chunk, not the file)
# --------------------------------------------------------------------------------------------

#: Bytes of records per chunk (tests make it small to cut files into many chunks).
CSV_CHUNK_BYTES = 64 << 20


class RereadCsv(Exception):
    """UTF-8 was only a guess and a chunk is not UTF-8: the file is read again as GB18030 (the
    whole-file reader decodes it all as GB18030 then, so the chunks read before must be too)."""


@dataclass
class CsvChunks:
    """One CSV export whose records are read a chunk at a time (`chunks`).

    Each chunk is parsed and decoded exactly as the whole-file reader parses and decodes the
    whole body, and gives the same rows, row numbers and errors (naming the same rows). Chunks
    end at a line break outside quotes, so a quoted value with line breaks is never cut.
    """

    path: Path
    display: str
    layout: _CsvLayout
    selection: dict[str, int]
    mapping: dict[str, str]
    encoding: str  # as reported (e.g. utf-8-sig)
    parse_encoding: str
    forced: bool
    evidence: bool
    rows: int = 0  # records read (set by `chunks`)
    sha256: str = ""  # of the whole file (set by `chunks`)

    def info(self) -> FileInfo:
        return FileInfo(path=self.display, sha256=self.sha256, rows=self.rows,
                        encoding=self.encoding, format="csv", delimiter=self.layout.delimiter,
                        header_row=self.layout.header_row, mapping=dict(self.mapping))

    def chunks(self, pool: ThreadPoolExecutor) -> Iterator[tuple[dict[str, pa.Array], np.ndarray]]:
        """(canonical name -> text column, row numbers) of each chunk, in file order.

        Raises RereadCsv when a guessed UTF-8 turns out to be GB18030 (the encoding is switched:
        iterate again), InputError for a malformed record.
        """
        target = max(CSV_CHUNK_BYTES, 1)
        digest = hashlib.sha256()
        self.rows, row = 0, self.layout.header_row + 1
        skip = self.layout.body_start
        # One worker hashes the blocks in order while the chunks are parsed.
        with _open(self.path, self.display) as handle, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="cardaudit-hash") as hasher:

            def read() -> bytes:
                nonlocal skip
                while True:
                    block = _read_block(handle, target, self.display)
                    hasher.submit(digest.update, block)
                    if not skip or not block:
                        return block
                    block, skip = block[skip:], max(skip - len(block), 0)
                    if block:
                        return block

            # A block is read ahead, so that the chunk the file ends in is known as its last.
            rest, block = b"", read()
            while True:
                following = read() if block else b""
                data = rest + block if rest else block
                if not following:
                    cut, records = len(data), 0
                else:
                    cut, records = _record_cut(data)
                    if cut <= 0:  # no record ends in it: read on
                        rest, block = data, following
                        continue
                final = not following
                rest, data = data[cut:], (data[:cut] if cut < len(data) else data)
                columns, numbers = self._chunk(data, row, final, pool)
                self.rows += len(numbers)
                row += records
                yield columns, numbers
                if final:
                    break
                block = following
        self.sha256 = digest.hexdigest()

    def _chunk(self, data: bytes, row: int, final: bool,
               pool: ThreadPoolExecutor) -> tuple[dict[str, pa.Array], np.ndarray]:
        """Parse and decode one chunk whose first record is row ``row``."""
        nul = data.find(b"\x00")
        if nul != -1:
            raise _nul_error(data, 0, nul, self.display, row - 1)
        layout = replace(self.layout, header_row=row - 1, body_start=0)
        table, rows = _parse_csv(data, layout, self.selection, self.parse_encoding, self.display,
                                 final)
        try:
            return _csv_columns(table, self.selection, self.parse_encoding, pool), rows
        except _BadValue as exc:
            if _weak_utf8(self.parse_encoding, self.forced, self.evidence):
                self.encoding = self.parse_encoding = "gb18030"
                raise RereadCsv from None
            raise _decode_error(exc, self.display, self.parse_encoding, self.forced, layout,
                                rows) from None


def _open(path: Path, display: str) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as exc:
        raise _os_error(display, exc) from None


def _read_block(handle: BinaryIO, size: int, display: str) -> bytes:
    try:
        return handle.read(size)
    except OSError as exc:
        raise _os_error(display, exc) from None


def _record_cut(data: bytes) -> tuple[int, int]:
    """Where a chunk of ``data`` (which starts at a record) ends: just after its last line break
    outside quotes; and how many records (empty lines included) end there. (-1, 0) when there
    is none."""
    if data.find(b'"') == -1:
        at = data.rfind(b"\n")
        return (at + 1, data.count(b"\n", 0, at + 1)) if at != -1 else (-1, 0)
    arr = np.frombuffer(data, np.uint8)
    newlines = np.flatnonzero(arr == 0x0A)
    ends = newlines[np.searchsorted(np.flatnonzero(arr == 0x22), newlines) % 2 == 0]
    return (int(ends[-1]) + 1, len(ends)) if len(ends) else (-1, 0)


def csv_chunks(
    paths: Sequence[Path],
    *,
    encoding: str | None = None,
    mapping: Mapping[str, str | Sequence[str]] | None = None,
) -> tuple[list[CsvChunks], list[str]] | None:
    """The export's CSV files, each to be read in chunks, and the canonical column order; None
    when the export cannot be read that way (not all CSV, a file without a legal-entity column,
    an encoding other than UTF-8 or GB18030, a ``|``-delimited GB file, old Mac line breaks, a
    NUL byte or nothing at all near the start): `load_exports` reads it (and names any problem).

    Only each file's start is read here, to find its encoding, header and columns; a header
    problem is the whole-file reader's error.
    """
    paths = [Path(p) for p in paths]
    if not paths or not all(p.suffix.lower() in CSV_SUFFIXES and p.is_file() for p in paths):
        return None
    resolver = _Resolver(schema.ALIAS_INDEX, None, mapping, schema.REQUIRED, None)
    forced = _normalise_encoding(encoding) if encoding else None
    sources = []
    for path, display in zip(paths, _display_names(paths), strict=True):
        source = _csv_source(path, display, resolver, forced)
        if source is None:
            return None
        sources.append(source)
    return sources, resolver.order


def _csv_source(path: Path, display: str, resolver: _Resolver,
                forced: str | None) -> CsvChunks | None:
    """What `_read_csv` finds before parsing, from the file's first bytes; None where it would
    transcode the file, or find a problem it names better."""
    with _open(path, display) as handle:
        head = _read_block(handle, SAMPLE_BYTES + 1, display)
        whole = len(head) <= SAMPLE_BYTES
    bom = head.startswith(codecs.BOM_UTF8)
    if _CONTENT.search(head, 3 if bom else 0) is None or head.startswith(
            (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        return None
    if forced is not None:
        encoding, evidence = forced, True
        if encoding in _UTF8:
            encoding = "utf-8-sig" if bom else "utf-8"
    else:
        encoding, evidence = _detect_encoding(head)
    if encoding not in _UTF8 and encoding not in _GB_FAMILY:
        return None
    start, parse_encoding = 0, encoding
    if encoding == "utf-8-sig":
        start, parse_encoding = (3 if bom else 0), "utf-8"
    sample = head[start : start + SAMPLE_BYTES]
    if (b"\n" not in sample and b"\r" in sample) or head.find(b"\x00", start) != -1:
        return None
    layout = _csv_layout(head, start, parse_encoding, display, resolver, forced is not None)
    if (parse_encoding in _GB_FAMILY and layout.delimiter == "|") or (
            not whole and layout.body_start >= len(head)):
        return None
    selection, mapping = resolver.resolve(layout.headers, display)
    if "legal_entity" not in selection:
        return None
    return CsvChunks(path, display, layout, selection, mapping, encoding, parse_encoding,
                     forced is not None, evidence)


def _row_at(data: bytes, start: int, pos: int) -> int:
    """The row (record number from 1, as Excel counts) holding byte ``pos``; error path only."""
    arr = np.frombuffer(data, np.uint8, count=pos - start, offset=start)
    newlines = np.flatnonzero(arr == 0x0A)
    quotes = np.flatnonzero(arr == 0x22)
    if len(quotes):
        newlines = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
    return len(newlines) + 1


def _nul_error(data: bytes, start: int, pos: int, display: str, rows_before: int = 0) -> InputError:
    row = rows_before + _row_at(data, start, pos)
    head = data[start : start + 4096]
    if head.count(b"\x00") * 10 >= len(head):
        # ASCII characters in UTF-16 are a byte and a NUL: no BOM, or a BOM-less part.
        odd = head[1::2].count(b"\x00") >= head[0::2].count(b"\x00")
        return InputError(
            f"文件 {display} 从第 {row} 行起含有大量空字节，看起来是没有 BOM 的 UTF-16 编码文件。"
            f"请用 --encoding {'utf-16-le' if odd else 'utf-16-be'} 读取，"
            "或在 Excel/WPS 中把文件另存为「CSV UTF-8」后重试。"
        )
    return InputError(
        f"文件 {display} 第 {row} 行含有空字节（0x00），文本 CSV 中不应出现空字节："
        "文件可能已损坏、被截断后拼接，或者根本不是文本文件。"
        "请重新导出该文件；如果只有这一行有问题，也可以删除这一行中的空字节后重试。"
    )


def _transcode(raw: bytes, encoding: str, display: str, forced: bool) -> bytes:
    try:
        return raw.decode(encoding).encode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise _encoding_hint(display, encoding, forced, f" 第 {line} 行附近") from None


def _bad_place(exc: _BadValue, layout: _CsvLayout, rows: np.ndarray) -> str:
    header = layout.headers[exc.column] if exc.column is not None else ""
    return f" 第 {int(rows[exc.index])} 行{_quote(header)}列"


def _utf8_error(display: str, where: str, forced: bool) -> InputError:
    if forced:
        return InputError(
            f"文件 {display}{where}的内容不是有效的 UTF-8，不能按 --encoding utf-8 读取。"
            "如果文件是 GBK/GB18030 编码，请改用 --encoding gb18030，"
            "或者去掉 --encoding，由程序自动识别编码。"
        )
    return InputError(
        f"文件 {display}{where}的内容不是有效的 UTF-8，而文件前面的部分是 UTF-8 编码。"
        "文件可能由不同编码的文件拼接而成，或已损坏。请把整个文件另存为同一种编码"
        "（UTF-8 或 GB18030）后重试；如果整个文件其实是 GB18030 编码，请用 --encoding gb18030。"
    )


def _record_spans(data: bytes, start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index, begin, end) of each non-empty record from byte ``start`` on, quote-aware.

    ``index`` counts every record including entirely empty lines (so ``first_row + index`` is
    the row Excel shows); ``begin``/``end`` are absolute byte offsets, ``end`` without CR/LF.
    """
    arr = np.frombuffer(data, np.uint8)[start:]
    newlines = np.flatnonzero(arr == 0x0A)
    if data.find(b'"', start) != -1:
        quotes = np.flatnonzero(arr == 0x22)
        newlines = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
    begins = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(arr)]))
    lengths = ends - begins
    has_cr = (lengths > 0) & (arr[np.maximum(ends - 1, 0)] == 0x0D) if len(arr) else lengths > 0
    lengths = lengths - has_cr
    index = np.flatnonzero(lengths > 0)
    return index, start + begins[index], start + begins[index] + lengths[index]


def _record_rows(data: bytes, start: int, first_row: int) -> np.ndarray:
    """Row number of each non-empty record from byte ``start`` on (entirely empty lines count)."""
    return first_row + _record_spans(data, start)[0]


def _parse_csv(
    data: bytes,
    layout: _CsvLayout,
    selection: dict[str, int],
    encoding: str,
    display: str,
    final: bool = True,
) -> tuple[pa.Table | None, np.ndarray]:
    """Parse the data records into large_binary columns ``c<index>``, and their row numbers.

    ``final``: the data runs to the end of the file (False for a chunk of a file read in chunks:
    its last record is then not the file's last, and a quote open at its end is not unclosed).
    """
    start = layout.body_start
    first_row = layout.header_row + 1
    width = len(layout.headers)
    names = [f"c{i}" for i in range(width)]
    wanted = sorted(set(selection.values())) or [0]
    has_quotes = data.find(b'"', start) != -1
    if has_quotes and width - 1 not in wanted:
        wanted.append(width - 1)  # for the unclosed-quote check below

    def physical(record: int) -> _Record:
        """1-based record number within the body (as pyarrow counts) -> the row; error path."""
        index, begins, ends = _record_spans(data, start)
        if not 0 < record <= len(index):
            return _Record(layout.header_row + record, False, None)
        k = record - 1
        raw = data[begins[k] : ends[k]]
        unclosed = raw.count(b'"') % 2 == 1  # so the "record" runs on to the end of the file
        if unclosed:
            raw = raw.split(b"\n", 1)[0]
        text = raw[:400].decode(encoding, errors="replace")
        return _Record(first_row + int(index[k]), final and record == len(index) and not unclosed,
                       text, unclosed)

    if _RECORD_BYTE.search(data, start) is None:  # only line breaks after the header
        return None, np.zeros(0, np.int64)
    table = _run_pyarrow(
        pa.py_buffer(data).slice(start),
        names,
        wanted,
        layout.delimiter,
        has_quotes,
        display,
        physical,
    )
    n = table.num_rows
    rows = first_row + np.arange(n, dtype=np.int64)
    if n:
        # One record per line unless there are empty lines (skipped by pyarrow) or quoted line
        # breaks: only then find each record's row (counting the empty lines, as Excel does).
        end = len(data)
        while end > start and data[end - 1] in (0x0A, 0x0D):
            end -= 1
        if data.count(b"\n", start, end) + 1 != n:
            found = _record_rows(data, start, first_row)
            if len(found) == n:  # otherwise (malformed quoting) keep the record order
                rows = found.astype(np.int64, copy=False)
        if has_quotes and final:
            _check_unclosed_quote(
                data, start, table.column(f"c{width - 1}"), layout, encoding, display,
                int(rows[-1]),
            )
    return table, rows


@dataclass
class _Record:
    """Where a malformed record is, for the error message."""

    row: int
    last: bool  # the file's last record: a truncated export is the likely cause
    text: str | None
    unclosed: bool = False  # an odd number of quotes: one was opened and never closed


def _csv_columns(
    table: pa.Table | None, selection: dict[str, int], encoding: str, pool: ThreadPoolExecutor
) -> dict[str, pa.Array]:
    """Decode the selected binary columns to finished text. Raises _BadValue (with column)."""

    def decode(index: int) -> pa.Array:
        if table is None:
            return pa.array([], pa.large_string())
        try:
            return _unwrap_excel_text(_decode_binary(table.column(f"c{index}"), encoding))
        except _BadValue as exc:
            raise _BadValue(exc.index, index) from None

    indexes = sorted(set(selection.values()))
    decoded = dict(zip(indexes, pool.map(decode, indexes), strict=True))
    return {name: decoded[index] for name, index in selection.items()}


def _unwrap_excel_text(arr: pa.Array) -> pa.Array:
    """``="0123"`` (written by exports so that Excel keeps a number as text) -> ``0123``."""
    data = _value_bytes(arr)
    if len(arr) == 0 or len(data) == 0:
        return arr
    offsets = _offsets(arr)
    if not (data[np.minimum(offsets[:-1], len(data) - 1)] == 0x3D).any():
        return arr
    unwrapped = pc.replace_substring_regex(arr, pattern=r'(?s)^="(.*)"$', replacement=r"\1")
    return _finish(unwrapped)


def _run_pyarrow(
    body: pa.Buffer,
    names: list[str],
    wanted: list[int],
    delimiter: str,
    has_quotes: bool,
    display: str,
    physical: Callable[[int], _Record],
) -> pa.Table:
    include = [names[i] for i in wanted]
    width = len(names)

    def read(threads: bool) -> pa.Table:
        return pacsv.read_csv(
            pa.BufferReader(body),
            read_options=pacsv.ReadOptions(
                column_names=names, use_threads=threads, block_size=_CSV_BLOCK_SIZE
            ),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=has_quotes),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.large_binary() for name in include},
                include_columns=include,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
            ),
        )

    try:
        return read(True)
    except pa.ArrowInvalid as exc:
        message = str(exc)
        counts = _FIELD_COUNTS.search(message)
        if counts:
            # A ragged row. (No invalid_row_handler: pyarrow calls it only for UTF-8 row text,
            # and knows the row number only when reading on one thread, whose error message
            # says "Row #N": read again that way, on the error path only.)
            number = None
            try:
                read(False)
            except pa.ArrowInvalid as again:
                found = _ROW_NUMBER.search(str(again))
                number = int(found[1]) if found else None
            record = physical(number) if number else _Record(0, False, None)
            raise _ragged_error(display, delimiter, width, record, int(counts[2])) from None
        raise InputError(
            f"文件 {display} 无法按 CSV 格式解析：{message}。请检查引号是否成对、分隔符是否一致。"
        ) from None


_FIELD_COUNTS = re.compile(r"Expected (\d+) columns, got (\d+): ?(.*)", re.DOTALL)
_ROW_NUMBER = re.compile(r"Row #(\d+)")


def _ragged_error(
    display: str, delimiter: str, width: int, record: _Record, actual: int
) -> InputError:
    where = f"第 {record.row} 行" if record.row else "有一行"
    text = record.text
    if text is not None and not text.strip():
        return InputError(
            f"文件 {display} {where}只有空白字符（空格或制表符），不是有效的数据行。"
            "请删除这一行后重试。"
        )
    # The row's content is never shown: it holds names and ID numbers.
    fix = "请检查这一行是否多了或少了分隔符，或者有没有成对的引号。"
    if record.unclosed:
        fix = (
            "这一行有一个引号没有结束（引号不成对），之后的内容都被当作了同一格。"
            "请补上或删除这个引号后重试。"
        )
    elif record.last and actual < width:
        fix = (
            "这是文件的最后一行，文件可能没有导出完整（被截断）：请重新导出该文件，"
            "或补全、删除这一行后重试。"
        )
    return InputError(
        f"文件 {display} {where}有 {actual} 个字段，但表头有 {width} 个字段"
        f"（分隔符是{_DELIMITER_NAMES.get(delimiter, delimiter)}）。{fix}"
    )


def _check_unclosed_quote(
    data: bytes,
    start: int,
    last_column: pa.ChunkedArray,
    layout: _CsvLayout,
    encoding: str,
    display: str,
    last_row: int,
) -> None:
    """A quote opening the last field and never closed swallows the rest of the file silently
    (pyarrow accepts it): a quote left open in some row, or an export cut off mid-value."""
    raw = last_column[len(last_column) - 1].as_py()
    value = raw.decode(encoding, errors="replace") if isinstance(raw, bytes) else raw
    header = _quote(layout.headers[-1])
    if value and "\n" in value:
        tail = value.split("\n", 1)[1]
        if tail.count(layout.delimiter) >= max(len(layout.headers) - 1, 1):
            raise InputError(
                f"文件 {display} 第 {last_row} 行最后一列{header}以引号开头，"
                "但引号没有结束，之后的所有内容都被并入了这一格。请检查这一行的引号是否成对。"
            )
    if not isinstance(raw, bytes):
        return
    # Unclosed, the field runs to the end of the file: the file ends with '"' + its content
    # (inner quotes doubled), that quote opening the field, and the quotes in the file do not
    # pair up. (A closed field whose value is a line break can end the same way.)
    opened = b'"' + raw.replace(b'"', b'""')
    at = len(data) - len(opened)
    if at >= start and data.endswith(opened) and data.count(b'"', start) % 2 == 1:
        before = data[at - 1] if at > start else None
        if before is None or before in (0x0A, 0x0D, ord(layout.delimiter)):
            raise InputError(
                f"文件 {display} 第 {last_row} 行（最后一行）的最后一列{header}以引号开头，"
                "但直到文件末尾引号都没有结束：文件可能没有导出完整（被截断），"
                "或者这一行少了一个引号。请重新导出该文件，或补上缺少的引号后重试。"
            )


# --------------------------------------------------------------------------------------------
# XLSX
# --------------------------------------------------------------------------------------------


def _excel_general(value: float, digits: int = 15) -> str:
    """How Excel shows a float with 15 significant digits, e.g. 4.30522199001011E+17."""
    text = f"{value:.{digits}G}"
    if "E" in text:
        mantissa, exponent = text.split("E")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        sign = "-" if exponent.startswith("-") else "+"
        text = f"{mantissa}E{sign}{int(exponent.lstrip('+-')):02d}"
    return text


def _cell_text(value: object) -> str | None:
    """One XLSX cell (or other Python value) as text; None for empty."""
    kind = type(value)
    if kind is str:
        return value.strip() or None  # type: ignore[union-attr]
    if value is None:
        return None
    if kind is bool:
        return "是" if value else "否"
    if kind is int:
        return str(value)
    if kind is float:
        number: float = value  # type: ignore[assignment]
        if number != number:
            return None
        if number.is_integer() and abs(number) < 1e15:
            return str(int(number))
        return _excel_general(number)
    if isinstance(value, dt.datetime | dt.date):
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _cell_text(float(value))
    return str(value).strip() or None


def _blank_row(row: tuple[object, ...]) -> bool:
    for value in row:
        if value is None:
            continue
        if isinstance(value, str) and not value.strip():
            continue
        return False
    return True


def _read_xlsx(
    path: Path, display: str, resolver: _Resolver, pool: ThreadPoolExecutor
) -> list[_Part]:
    import openpyxl  # imported lazily: it is slow to import and only XLSX needs it

    sha = pool.submit(_hash_file, path)
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except OSError as exc:
        raise _os_error(display, exc) from None
    except Exception as exc:  # openpyxl raises many kinds (zip, XML, key errors)
        raise InputError(
            f"无法把文件 {display} 作为 Excel 工作簿打开（{type(exc).__name__}: {exc}）。"
            "请确认文件没有损坏、没有加密；如果它其实是文本/CSV 文件，请把扩展名改为 .csv。"
        ) from None
    try:
        return _read_workbook(workbook, display, resolver, sha)
    except InputError:
        raise
    except Exception as exc:  # damaged sheet XML etc., found while reading rows
        raise InputError(
            f"读取 Excel 文件 {display} 时出错（{type(exc).__name__}: {exc}）。"
            "请确认文件没有损坏；可以在 Excel/WPS 中打开后重新另存为 .xlsx 再试。"
        ) from None
    finally:
        workbook.close()


def _find_header(sheet, resolver: _Resolver) -> tuple[int, list[str], bool] | None:
    """(row, headers, recognised) of the sheet's header: the first row among the first
    HEADER_SEARCH_ROWS with two or more known headers, else its first non-blank row."""
    if hasattr(sheet, "reset_dimensions"):
        sheet.reset_dimensions()  # stored dimensions are often wrong in generated files
    first = None
    rows = sheet.iter_rows(min_row=1, max_row=HEADER_SEARCH_ROWS, values_only=True)
    for number, row in enumerate(rows, start=1):
        if _blank_row(row):
            continue
        headers = [_cell_text(v) or "" for v in row]
        while headers and not headers[-1]:
            headers.pop()
        if resolver.count_known(headers) >= 2:
            return number, headers, True
        if first is None:
            first = (number, headers, False)
    return first


def _read_workbook(workbook, display: str, resolver: _Resolver, sha: Future[str]) -> list[_Part]:
    """Every sheet with a recognised header row is read (an export too long for one sheet is
    split over several); a workbook with none reads its first non-empty sheet (and fails on
    its headers). Rows of a sheet other than the only one read are named ``file[sheet]``."""
    found = [(sheet, _find_header(sheet, resolver)) for sheet in workbook.worksheets]
    found = [(sheet, header) for sheet, header in found if header is not None]
    if not found:
        raise InputError(
            f"文件 {display} 中没有任何数据（所有工作表都是空的）。请确认导出是否成功。"
        )
    chosen = [(sheet, header) for sheet, header in found if header[2]] or found[:1]
    several = len(workbook.worksheets) > 1
    parts = []
    for sheet, (header_row, headers, _) in chosen:
        where = f" 工作表{_quote(sheet.title)}" if several else ""
        part = _read_sheet(sheet, header_row, headers, display, where, resolver, sha)
        if len(chosen) > 1:
            part.display = f"{display}[{sheet.title}]"
        part.file = display
        parts.append(part)
    return parts


def _read_sheet(
    sheet,
    header_row: int,
    headers: list[str],
    display: str,
    where: str,
    resolver: _Resolver,
    sha: Future[str],
) -> _Part:
    selection, mapping = resolver.resolve(headers, display, where=where)
    indexes = sorted(set(selection.values()))
    values: dict[int, list[str | None]] = {i: [] for i in indexes}
    row_numbers: list[int] = []
    cell = _cell_text
    rows = sheet.iter_rows(min_row=header_row + 1, values_only=True)
    for number, row in enumerate(rows, start=header_row + 1):
        if not row or _blank_row(row):
            continue
        row_numbers.append(number)
        width = len(row)
        for i in indexes:
            values[i].append(cell(row[i]) if i < width else None)
    arrays = {i: _finish(pa.array(values[i], pa.large_string())) for i in indexes}
    return _Part(
        display=display,
        columns={name: arrays[i] for name, i in selection.items()},
        rows=np.asarray(row_numbers, dtype=np.int64),
        sha=sha,
        encoding=None,
        format="xlsx",
        delimiter=None,
        mapping=mapping,
        sheet=sheet.title,
        header_row=header_row,
    )


# --------------------------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------------------------


def _parquet_dir_members(path: Path, display: str) -> list[Path]:
    try:
        members = sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and p.suffix.lower() in PARQUET_SUFFIXES
            and not any(part.startswith(("_", ".")) for part in p.relative_to(path).parts)
        )
    except OSError as exc:
        raise _os_error(display, exc) from None
    if not members:
        raise InputError(
            f"{display} 是一个目录，但其中没有 .parquet 文件。"
            f"请指定导出文件本身；支持的格式：{SUPPORTED_FORMATS}。"
        )
    return members


def _read_parquet_dir(
    path: Path, display: str, resolver: _Resolver, pool: ThreadPoolExecutor
) -> list[_Part]:
    members = _parquet_dir_members(path, display)
    return [
        _read_parquet_file(
            member, f"{display}/{member.relative_to(path).as_posix()}", resolver, pool
        )
        for member in members
    ]


def _read_parquet_file(
    path: Path, display: str, resolver: _Resolver, pool: ThreadPoolExecutor
) -> _Part:
    sha = pool.submit(_hash_file, path)
    try:
        with pq.ParquetFile(path, memory_map=True) as parquet:
            headers = [str(name) for name in parquet.schema_arrow.names]
            selection, mapping = resolver.resolve(headers, display)
            wanted = sorted(set(selection.values()))
            table = parquet.read(columns=[headers[i] for i in wanted], use_threads=True)
            n = parquet.metadata.num_rows
    except OSError as exc:
        if isinstance(exc, FileNotFoundError | PermissionError):
            raise _os_error(display, exc) from None
        raise _parquet_error(display, exc) from None
    except (pa.ArrowException, ValueError) as exc:
        raise _parquet_error(display, exc) from None
    texts = dict(
        zip(
            wanted,
            pool.map(
                lambda k: _arrow_text(table.column(k), headers[wanted[k]], display),
                range(len(wanted)),
            ),
            strict=True,
        )
    )
    return _Part(
        display=display,
        columns={name: texts[i] for name, i in selection.items()},
        rows=np.arange(2, n + 2, dtype=np.int64),
        sha=sha,
        encoding=None,
        format="parquet",
        delimiter=None,
        mapping=mapping,
    )


def _parquet_error(display: str, exc: Exception) -> InputError:
    return InputError(f"无法读取 Parquet 文件 {display}（{exc}）。请确认文件完整、没有损坏。")


def _float_text(arr: pa.Array) -> pa.Array:
    values = arr.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    valid = ~np.isnan(values)
    integral = valid & (np.abs(values) < 1e15)
    integral[integral] = values[integral] == np.floor(values[integral])
    as_int = np.where(integral, values, 0).astype(np.int64)
    text = pa.array(as_int, pa.int64(), mask=~integral).cast(pa.large_string())
    other = valid & ~integral
    if other.any():
        digits = 7 if pa.types.is_float32(arr.type) or pa.types.is_float16(arr.type) else 15
        formatted = [_excel_general(v, digits) for v in values[other].tolist()]
        text = pc.replace_with_mask(text, pa.array(other), pa.array(formatted, pa.large_string()))
    return text


def _arrow_text(column: pa.ChunkedArray, header: str, display: str) -> pa.ChunkedArray | pa.Array:
    """Any Arrow column as finished large_string text (see the module docstring for the rules)."""
    chunks = []
    offset = 0
    for chunk in column.chunks:
        chunks.append(_chunk_text(chunk, header, display, offset))
        offset += len(chunk)
    if not chunks:
        return pa.array([], pa.large_string())
    return _finish_chunked(pa.chunked_array(chunks, pa.large_string()))


def _chunk_text(arr: pa.Array, header: str, display: str, offset: int) -> pa.Array:
    kind = arr.type
    if pa.types.is_dictionary(kind):
        arr = arr.dictionary_decode()
        kind = arr.type
    try:
        if pa.types.is_null(kind):
            return pa.nulls(len(arr), pa.large_string())
        if (
            pa.types.is_string(kind)
            or pa.types.is_large_string(kind)
            or pa.types.is_string_view(kind)
        ):
            return arr.cast(pa.large_string())
        if pa.types.is_boolean(kind):
            return pc.if_else(arr, "是", "否").cast(pa.large_string())
        if pa.types.is_integer(kind) or pa.types.is_decimal(kind) or pa.types.is_time(kind):
            return arr.cast(pa.large_string())
        if pa.types.is_floating(kind):
            return _float_text(arr)
        if pa.types.is_date(kind) or pa.types.is_timestamp(kind):
            return pc.strftime(arr, format="%Y-%m-%d").cast(pa.large_string())
        if (
            pa.types.is_binary(kind)
            or pa.types.is_large_binary(kind)
            or pa.types.is_fixed_size_binary(kind)
            or pa.types.is_binary_view(kind)
        ):
            binary = arr.cast(pa.large_binary())
            try:
                return binary.cast(pa.large_string())
            except pa.ArrowInvalid:
                try:
                    return _decode_binary(binary, "gb18030")
                except _BadValue as exc:
                    raise InputError(
                        f"文件 {display} 第 {offset + exc.index + 2} 行{_quote(header)}列的内容"
                        "既不是 UTF-8 "
                        "也不是 GB18030 编码的文本。请检查生成该 Parquet 文件的程序。"
                    ) from None
    except pa.ArrowException as exc:
        raise InputError(
            f"文件 {display} 的{_quote(header)}列（{kind}）无法转换为文本：{exc}。"
        ) from None
    raise InputError(
        f"文件 {display} 的{_quote(header)}列是 {kind} 类型，无法作为文本读取。"
        "请在导出时把这一列保存为文本或数字。"
    )
