"""Findings at the level a bank remediates: one record per rule x legal entity x subject.

Each record carries a stable `fingerprint` (so next month's run can say what is new, resolved or
persisting) and the rows behind it. Personal data is masked unless the user chose --unmasked.
"""

from __future__ import annotations

import codecs
import json
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cardaudit import engine
from cardaudit.fingerprint import RULE_TEXT, FingerprintKey
from cardaudit.mask import mask_ids, mask_names, mask_subjects, masked_once
from cardaudit.normalize import pick_text, sort_order, text_scalar
from cardaudit.outputs.files import CSV_OPTIONS, atomic_path, neutralised

FINDINGS_SCHEMA_VERSION = 1
ROW_FIELDS = ("branch", "customer_id", "card_no", "product", "status", "open_date", "name",
              "id_number", "reason", "source_file", "source_row")


def fingerprint(key: FingerprintKey, rule_id: str, legal_entity: str, subject_key: str) -> str:
    """The stable identity of one finding across runs under one key (hex, 24 characters)."""
    return key.digest(f"{rule_id}|{legal_entity}|{subject_key}")


def all_findings(result: engine.AuditResult) -> pd.DataFrame:
    """Every entity's row-level findings in one frame (the engine's fixed columns)."""
    parts = [rows for e in result.entities if len(rows := e.finding_rows())]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="str") for c in engine.FINDING_COLUMNS})
    return pd.concat(parts, ignore_index=True)


def shown_findings(findings: pd.DataFrame, unmasked: bool, key: FingerprintKey) -> pd.DataFrame:
    """The findings as they may be shown: subject, name and ID masked unless `unmasked`."""
    shown = findings.copy()
    for column in ("legal_entity", "subject_key"):
        shown[column] = shown[column].astype("str").fillna("")
    # One hash per finding (rule x entity x subject), not per row behind it.
    triple = shown["rule_id"].astype("str") + "|" + shown["legal_entity"] + "|" + \
        shown["subject_key"]
    codes, uniques = pd.factorize(triple)
    # A list of Python strings: iterating the Index would box each value from Arrow, slowly.
    prints = key.digests(uniques.tolist()).take(pa.array(codes))
    shown["subject"] = findings["subject_key"].astype("str")
    if not unmasked and len(findings):
        # A subject is masked once per finding (its rule gives its kind), then spread to its rows.
        heads = np.unique(codes, return_index=True)[1]
        subjects = mask_subjects(findings["subject_key"].take(heads),
                                 findings["subject_kind"].take(heads))
        shown["subject"] = pd.Series(subjects.array.take(codes), index=shown.index)
        shown["name"] = masked_once(mask_names, findings["name"])
        shown["id_number"] = masked_once(mask_ids, findings["id_number"])
    shown["fingerprint"] = pd.Series(pd.array(prints, dtype="str"), index=shown.index)
    return shown


_HEADS = ("fingerprint", "rule_id", "rule_title", "severity", "legal_entity", "subject_kind",
          "subject")


def _strings(values: pd.Series) -> pa.Array:
    """A text column as an Arrow large_string array (missing values null)."""
    return pa.array(values.astype("str"), type=pa.large_string(), from_pandas=True)


def findings_table(shown: pd.DataFrame) -> pa.Table:
    """One row per rule x legal entity x subject (from `shown_findings`), built column by column.

    Sorted stably by legal entity, rule, shown subject and fingerprint; `rows` lists the rows behind
    each finding in that order and `branches` their distinct branches in code-point order.
    """
    if not len(shown):
        return PARQUET_SCHEMA.empty_table()
    # Rows of one finding share its fingerprint (and so its entity, rule and subject): the
    # findings are sorted by their first rows, then each finding's rows follow in their order.
    group, _ = pd.factorize(shown["fingerprint"])
    firsts = np.unique(group, return_index=True)[1]  # each finding's first row
    by_rank = sort_order([shown[c].take(firsts) for c in
                          ("legal_entity", "rule_id", "subject", "fingerprint")])
    rank = np.empty(len(firsts), dtype=np.int64)
    rank[by_rank] = np.arange(len(firsts))
    record = rank[group]  # each row's finding, numbered in output order
    order = np.argsort(record, kind="stable")
    sizes = np.bincount(record, minlength=len(firsts))
    offsets = pa.array(np.concatenate([[0], np.cumsum(sizes)]), type=pa.int32())
    heads = pa.array(firsts[by_rank])  # the first row of each finding, in output order
    columns = {c: _strings(shown[c]).take(heads) for c in (*_HEADS, "reason")}
    taken = pa.array(order)  # only the columns the records show are put in this order
    row_arrays = [(pa.array(shown[c].astype("int64"), type=pa.int64()) if c == "source_row"
                   else _strings(shown[c])).take(taken) for c in ROW_FIELDS]
    columns["rows"] = pa.ListArray.from_arrays(
        offsets, pa.StructArray.from_arrays(row_arrays, ROW_FIELDS))
    columns["branches"] = _branch_lists(shown["branch"], record, len(firsts))
    return pa.Table.from_arrays([columns[f.name].cast(f.type) for f in PARQUET_SCHEMA],
                                schema=PARQUET_SCHEMA)


def _branch_lists(branch: pd.Series, record: np.ndarray, count: int) -> pa.ListArray:
    """Per finding (`record` numbers each row's): its rows' distinct branches in code-point order
    (a missing branch last, as null)."""
    codes, names = pd.factorize(branch)  # -1: missing
    texts = [str(name) for name in names]
    ranked = sorted(range(len(texts)), key=texts.__getitem__)  # code-point order, as Arrow sorts
    rank = np.empty(len(texts) + 1, dtype=np.int64)
    rank[ranked] = np.arange(len(texts))
    rank[-1] = len(texts)  # code -1 (missing) takes the last slot: after every name
    width = len(texts) + 1
    pairs = np.unique(record.astype(np.int64) * width + rank[codes])
    which = pairs % width
    values = pa.array([texts[i] for i in ranked] + [None], pa.large_string()).take(pa.array(which))
    sizes = np.bincount(pairs // width, minlength=count)
    return pa.ListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(sizes)]),
                                             type=pa.int32()), values)


def finding_records(shown: pd.DataFrame) -> list[dict[str, Any]]:
    """The findings as Python records (for the month-over-month diff and the ledger)."""
    return findings_table(shown).to_pylist()


# json.dumps escapes these (ensure_ascii=False); other C0 controls become \u00XX.
_JSON_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"),
                 ("\b", "\\b"), ("\f", "\\f"))


def _json_text(values: pa.Array) -> pa.Array:
    """Text as it stands between the quotes of a JSON string json.dumps(..., ensure_ascii=False)
    writes (escaped where needed); nulls stay null."""
    text = values.cast(pa.large_string())
    if _needs_escape(text):  # rare: escape
        for plain, escaped in _JSON_ESCAPES:
            text = pc.replace_substring(text, plain, escaped)
        if pc.any(pc.match_substring_regex(text, "[\\x00-\\x1f]")).as_py():
            for code in range(32):
                text = pc.replace_substring(text, chr(code), f"\\u{code:04x}")
    return text


def _json_literals(values: pa.Array) -> pa.Array:
    """Each value as the JSON text json.dumps(..., ensure_ascii=False) writes ("null" if null)."""
    if pa.types.is_integer(values.type):
        return pc.fill_null(values.cast(pa.large_string()), text_scalar("null"))
    return pc.fill_null(pc.binary_join_element_wise(text_scalar('"'), _json_text(values), text_scalar('"'),
                                                    text_scalar("")), text_scalar("null"))


def _needs_escape(text: pa.Array) -> bool:
    """Whether any value holds a quote, a backslash or a control character (checked on the UTF-8
    bytes: every byte of a multi-byte character is 0x80 or above, so none is mistaken)."""
    if isinstance(text, pa.ChunkedArray):
        return any(_needs_escape(chunk) for chunk in text.chunks)
    _, offsets, data = text.buffers()
    if data is None or not len(text):
        return False
    bounds = np.frombuffer(offsets, dtype=np.int64)[[text.offset, text.offset + len(text)]]
    used = np.frombuffer(data, dtype=np.uint8)[bounds[0]:bounds[1]]
    return bool(((used < 0x20) | (used == 0x22) | (used == 0x5C)).any())


# Texts that differ from element to element: (the texts, which one each element takes).
Choice = tuple[tuple[str, ...], np.ndarray]


def _json_members(fields: list[tuple[str, pa.Array, bool]], opening: Choice | str,
                  closing: Choice | str) -> pa.Array:
    """Per element: `opening`, then {"k1":v1,"k2":v2,... (compact separators), then `closing`
    (which closes the object, or not), in one element-wise join.

    A field is (key, values, raw): raw values are JSON texts already. A text column without
    nulls is joined between its key's quotes as it is (no quoted copy of it); a column with
    nulls, or of numbers, is first made JSON literals.
    """
    parts: list[Any] = []
    pending = ""  # constant text not yet added: it joins the next constant part
    if isinstance(opening, str):
        pending = opening
    else:
        parts.append(pick_text(list(opening[0]), opening[1]))
    for i, (key, values, raw) in enumerate(fields):
        pending += ("{" if i == 0 else ",") + json.dumps(key, ensure_ascii=False) + ":"
        if raw or pa.types.is_integer(values.type) or values.null_count:
            parts += [text_scalar(pending), values if raw else _json_literals(values)]
            pending = ""
        else:
            parts += [text_scalar(pending + '"'), _json_text(values)]
            pending = '"'
    parts.append(text_scalar(pending + closing) if isinstance(closing, str)
                 else pick_text([pending + t for t in closing[0]], closing[1]))
    return pc.binary_join_element_wise(*parts, text_scalar(""))


def _json_lists(lists: pa.ListArray, items: pa.Array) -> pa.Array:
    """Per list: [item,item,...] where `items` are the JSON texts of the flattened elements."""
    joined = pc.binary_join(pa.ListArray.from_arrays(lists.offsets, items), text_scalar(","))
    return pc.binary_join_element_wise(text_scalar("["), joined, text_scalar("]"), text_scalar(""))


def findings_json_body(table: pa.Table) -> memoryview:
    """The records of `table` as compact JSON texts joined by ",": byte for byte what json.dumps
    writes of each record (as `table.to_pylist()` gives it).

    Built without a Python object per record or row: each row behind a finding becomes its JSON
    object followed by "," or, as the last row of its finding, by "]}", so that the rows of one
    finding are one slice of that text. Each finding's head (every field, then '"rows":[') is
    joined to its slice, and the joined records lie one after another in one buffer.
    """
    n = table.num_rows
    if not n:
        return memoryview(b"")
    rows = table.column("rows").combine_chunks()
    bounds = np.asarray(rows.offsets, dtype=np.int64)
    bounds = bounds - bounds[0]
    if (np.diff(bounds) == 0).any():
        raise ValueError("a finding without rows")  # findings_table never makes one
    structs = rows.flatten()
    last = np.zeros(len(structs), dtype=np.int8)
    last[bounds[1:] - 1] = 1
    items = _json_members([(f, structs.field(f), False) for f in ROW_FIELDS], "",
                          (("},", "}]}"), last))
    branches = table.column("branches").combine_chunks()
    later = np.ones(n, dtype=np.int8)
    later[0] = 0
    heads = _json_members(
        [*((c, table.column(c).combine_chunks(), False) for c in _HEADS),
         ("branches", _json_lists(branches, _json_literals(branches.flatten())), True),
         ("reason", table.column("reason").combine_chunks(), False)],
        (("", ","), later), ',"rows":[')
    # Each finding's rows: a slice of the items' text (their offsets at the findings' bounds).
    _, item_offsets, item_data = items.buffers()
    starts = np.frombuffer(item_offsets, dtype=np.int64, count=len(items) + 1,
                           offset=items.offset * 8)[bounds]
    rows_text = pa.Array.from_buffers(pa.large_string(), n,
                                      [None, pa.py_buffer(starts), item_data])
    records = pc.binary_join_element_wise(heads, rows_text, text_scalar(""))
    _, offsets, data = records.buffers()
    first, end = np.frombuffer(offsets, dtype=np.int64)[[records.offset,
                                                          records.offset + n]]
    return memoryview(data)[first:end]


def findings_document(records: list[dict[str, Any]], trail: dict[str, Any],
                      unmasked: bool, key_id: str) -> dict[str, Any]:
    """findings.json: versioned, self-describing, the records as `finding_records` made them."""
    return {
        "schema_version": FINDINGS_SCHEMA_VERSION, "kind": "cardaudit.findings",
        "tool_version": trail["tool_version"], "as_of": trail["as_of"],
        "generated_at": trail["generated_at"], "unmasked": unmasked,
        "fingerprint": RULE_TEXT, "fingerprint_key_id": key_id, "count": len(records),
        "findings": records,
    }


_ROW_TYPE = pa.struct([(k, pa.int64() if k == "source_row" else pa.string()) for k in ROW_FIELDS])
PARQUET_SCHEMA = pa.schema([
    ("fingerprint", pa.string()), ("rule_id", pa.string()), ("rule_title", pa.string()),
    ("severity", pa.string()), ("legal_entity", pa.string()), ("subject_kind", pa.string()),
    ("subject", pa.string()), ("branches", pa.list_(pa.string())), ("reason", pa.string()),
    ("rows", pa.list_(_ROW_TYPE)),
])


def _sync_files(paths: list[Path]) -> None:
    """Ask the disk to take the data written to these files so far. Only advisory: what the
    process still buffers, and the files' metadata, are synced (os.fsync) before each file is
    renamed into place, and a failure there is the one reported."""
    sync = getattr(os, "fdatasync", None)  # Linux; elsewhere the final fsync does it all
    if sync is None:
        return
    for path in paths:
        try:
            with open(path, "rb+") as handle:
                sync(handle.fileno())
        except OSError:
            return


class FindingsFiles:
    """findings.csv and (with the json format) findings.json and findings.parquet, written one
    legal entity at a time, so only one entity's findings are in memory.

    All three appear together (renamed into place) when the block ends without an error.
    findings.json is byte for byte what json.dumps of all records with compact separators
    writes. Its header holds the number of records, `count`, which the caller knows beforehand
    (every rule's subjects, summed): the records are written straight behind it, and a different
    number added is an error (nothing is renamed into place).
    """

    def __init__(self, out: Path, *, json_files: bool, trail: dict[str, Any], unmasked: bool,
                 key_id: str, csv_frame: Callable[[pd.DataFrame], pd.DataFrame],
                 count: int) -> None:
        self.out, self.json_files, self.csv_frame = out, json_files, csv_frame
        self.expected = count
        self.header = findings_document([], trail, unmasked, key_id) | {"count": count}
        self.metadata = {"cardaudit.schema_version": str(FINDINGS_SCHEMA_VERSION),
                         "cardaudit.unmasked": "true" if unmasked else "false",
                         "cardaudit.fingerprint": RULE_TEXT,
                         "cardaudit.fingerprint_key_id": key_id}
        self.count = 0
        self.paths = [out / "findings.csv"] + (
            [out / "findings.json", out / "findings.parquet"] if json_files else [])

    def __enter__(self) -> FindingsFiles:
        self.stack = ExitStack()
        tmp = [self.stack.enter_context(atomic_path(p)) for p in self.paths]
        # Entered after the files: its thread is done before any of them is synced and renamed.
        self.syncer = self.stack.enter_context(
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="cardaudit-findings-sync"))
        self.synced: Future[None] | None = None  # the early sync running, if any
        self.tmp = tmp
        self.csv = self.stack.enter_context(open(tmp[0], "wb"))
        self.csv.write(codecs.BOM_UTF8)
        self.csv_schema: pa.Schema | None = None
        self.pool = self.stack.enter_context(
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="cardaudit-findings-csv"))
        if self.json_files:
            self.body_handle = self.stack.enter_context(open(tmp[1], "wb"))
            document = json.dumps(self.header, ensure_ascii=False, separators=(",", ":"))
            self.body_handle.write(document[:-2].encode("utf-8"))  # up to '"findings":['
            self.parquet = pq.ParquetWriter(tmp[2], PARQUET_SCHEMA.with_metadata(self.metadata))
        return self

    def add(self, shown: pd.DataFrame) -> None:
        """One legal entity's shown findings (from `shown_findings`).

        findings.csv, then findings.parquet, are written in a worker thread while the JSON records
        are built (mostly in Arrow kernels, which release the GIL); `shown` is only read.
        """
        if not self.json_files or not len(shown):
            self._add_csv(shown)
            self._sync_early()
            return
        done = [self.pool.submit(self._add_csv, shown)]
        try:
            findings = findings_table(shown)
            done.append(self.pool.submit(self.parquet.write_table, findings))  # after the CSV
            body = findings_json_body(findings)
            if self.count:
                self.body_handle.write(b",")
            self.body_handle.write(body)
            self.count += findings.num_rows
        finally:
            for future in done:
                future.result()
        self._sync_early()

    def _sync_early(self) -> None:
        """Have the disk take what is written so far while the next entity is worked on (the
        fsync before each file is renamed into place then has little left to wait for)."""
        if self.synced is None or self.synced.done():
            self.synced = self.syncer.submit(_sync_files, list(self.tmp))

    def _add_csv(self, shown: pd.DataFrame) -> None:
        table = neutralised(self.csv_frame(shown))
        if self.csv_schema is None:
            self.csv_schema = table.schema
            pacsv.write_csv(table, self.csv, write_options=CSV_OPTIONS)
        elif table.num_rows:
            options = pacsv.WriteOptions(quoting_style="needed", include_header=False)
            pacsv.write_csv(table.cast(self.csv_schema), self.csv, write_options=options)

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        try:
            if self.json_files:
                self.parquet.close()
                if error is None:
                    if self.count != self.expected:
                        raise RuntimeError(f"findings: {self.count} records, header says "
                                           f"{self.expected}")
                    self.body_handle.write(b"]}\n")
                self.body_handle.close()
        except BaseException as exc:
            self.stack.__exit__(type(exc), exc, exc.__traceback__)
            raise
        self.stack.__exit__(kind, error, trace)  # type: ignore[arg-type]
