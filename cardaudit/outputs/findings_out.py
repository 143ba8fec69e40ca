"""Findings at the level a bank remediates: one record per rule x legal entity x subject.

Each record carries a stable `fingerprint` (so next month's run can say what is new, resolved or
persisting) and the rows behind it. Personal data is masked unless the user chose --unmasked.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cardaudit import engine
from cardaudit.mask import mask_ids, mask_names, mask_subjects
from cardaudit.outputs.files import atomic_path, atomic_write

FINDINGS_SCHEMA_VERSION = 1
FINGERPRINT_RULE = "sha256(rule_id|legal_entity|subject_key) 的十六进制前24位"
ROW_FIELDS = ("branch", "customer_id", "card_no", "product", "status", "open_date", "name",
              "id_number", "reason", "source_file", "source_row")


def _digest(triple: str) -> str:
    return hashlib.sha256(triple.encode()).hexdigest()[:24]


def fingerprint(rule_id: str, legal_entity: str, subject_key: str) -> str:
    """The stable identity of one finding across runs (hex, 24 characters)."""
    return _digest(f"{rule_id}|{legal_entity}|{subject_key}")


def all_findings(result: engine.AuditResult) -> pd.DataFrame:
    """Every entity's row-level findings in one frame (the engine's fixed columns)."""
    parts = [e.findings for e in result.entities if len(e.findings)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="str") for c in engine.FINDING_COLUMNS})
    return pd.concat(parts, ignore_index=True)


def shown_findings(findings: pd.DataFrame, unmasked: bool) -> pd.DataFrame:
    """The findings as they may be shown: subject, name and ID masked unless `unmasked`."""
    shown = findings.copy()
    shown["subject"] = findings["subject_key"].astype("str")
    if not unmasked and len(findings):
        shown["subject"] = mask_subjects(findings["subject_key"], findings["subject_kind"])
        shown["name"] = mask_names(findings["name"])
        shown["id_number"] = mask_ids(findings["id_number"])
    for column in ("legal_entity", "subject_key"):
        shown[column] = shown[column].astype("str").fillna("")
    # One hash per finding (rule x entity x subject), not per row behind it.
    triple = shown["rule_id"].astype("str") + "|" + shown["legal_entity"] + "|" + \
        shown["subject_key"]
    codes, uniques = pd.factorize(triple)
    prints = np.array([_digest(t) for t in uniques], dtype=object)
    shown["fingerprint"] = prints[codes] if len(codes) else pd.Series(dtype="str")
    return shown


def finding_records(shown: pd.DataFrame) -> list[dict[str, Any]]:
    """One record per rule x legal entity x subject (from `shown_findings`), sorted stably."""
    if not len(shown):
        return []
    ordered = shown.sort_values(["legal_entity", "rule_id", "subject", "fingerprint"],
                                kind="stable")
    columns = [ordered["source_row"].astype("int64").tolist() if c == "source_row" else
               ordered[c].astype("str").to_numpy(dtype=object, na_value=None) for c in ROW_FIELDS]
    rows = [dict(zip(ROW_FIELDS, values, strict=True)) for values in zip(*columns, strict=True)]
    firsts = ~ordered["fingerprint"].duplicated().to_numpy()
    starts = np.flatnonzero(firsts)
    ends = np.append(starts[1:], len(ordered))
    heads = ("fingerprint", "rule_id", "rule_title", "severity", "legal_entity", "subject_kind",
             "subject")
    head_columns = [ordered[c].astype("str").to_numpy(dtype=object, na_value=None)[firsts]
                    for c in heads]
    meta = [dict(zip(heads, values, strict=True)) for values in zip(*head_columns, strict=True)]
    branches = ordered["branch"].astype("str").to_numpy(dtype=object)
    records = []
    for head, start, end in zip(meta, starts, ends, strict=True):
        items = rows[start:end]
        records.append({**head, "branches": sorted(set(branches[start:end])),
                        "reason": items[0]["reason"], "rows": items})
    return records


def findings_document(records: list[dict[str, Any]], trail: dict[str, Any],
                      unmasked: bool) -> dict[str, Any]:
    """findings.json: versioned, self-describing, the records as `finding_records` made them."""
    return {
        "schema_version": FINDINGS_SCHEMA_VERSION, "kind": "cardaudit.findings",
        "tool_version": trail["tool_version"], "as_of": trail["as_of"],
        "generated_at": trail["generated_at"], "unmasked": unmasked,
        "fingerprint": FINGERPRINT_RULE, "count": len(records), "findings": records,
    }


_ROW_TYPE = pa.struct([(k, pa.int64() if k == "source_row" else pa.string()) for k in ROW_FIELDS])
PARQUET_SCHEMA = pa.schema([
    ("fingerprint", pa.string()), ("rule_id", pa.string()), ("rule_title", pa.string()),
    ("severity", pa.string()), ("legal_entity", pa.string()), ("subject_kind", pa.string()),
    ("subject", pa.string()), ("branches", pa.list_(pa.string())), ("reason", pa.string()),
    ("rows", pa.list_(_ROW_TYPE)),
])


def write_findings(out: Path, records: list[dict[str, Any]], trail: dict[str, Any],
                   unmasked: bool) -> list[Path]:
    """findings.json and findings.parquet (same records; schema version in Parquet metadata)."""
    json_path = out / "findings.json"
    with atomic_write(json_path) as handle:
        # json.dumps (not json.dump) uses the C encoder: many times faster on big files.
        handle.write(json.dumps(findings_document(records, trail, unmasked), ensure_ascii=False,
                                separators=(",", ":")))
        handle.write("\n")
    table = pa.Table.from_pylist(records, schema=PARQUET_SCHEMA).replace_schema_metadata({
        "cardaudit.schema_version": str(FINDINGS_SCHEMA_VERSION),
        "cardaudit.unmasked": "true" if unmasked else "false",
        "cardaudit.fingerprint": FINGERPRINT_RULE})
    parquet_path = out / "findings.parquet"
    with atomic_path(parquet_path) as tmp:
        pq.write_table(table, tmp)
    return [json_path, parquet_path]
