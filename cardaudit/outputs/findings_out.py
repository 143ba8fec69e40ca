"""Findings at the level a bank remediates: one record per rule x legal entity x subject.

Each record carries a stable `fingerprint` (so next month's run can say what is new, resolved or
persisting) and the rows behind it. Personal data is masked unless the user chose --unmasked.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

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
SUBJECT_KIND_LABELS = {"person": "客户", "agent": "代理人", "phone": "手机号"}


def fingerprint(rule_id: str, legal_entity: str, subject_key: str) -> str:
    """The stable identity of one finding across runs (hex, 24 characters)."""
    return hashlib.sha256(f"{rule_id}|{legal_entity}|{subject_key}".encode()).hexdigest()[:24]


def mask_subject_keys(keys: pd.Series, kinds: pd.Series) -> pd.Series:
    """Subjects masked by kind: phones as 139****0001, ID numbers as 4305**********1234."""
    return mask_subjects(keys, kinds)


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
        shown["subject"] = mask_subject_keys(findings["subject_key"], findings["subject_kind"])
        shown["name"] = mask_names(findings["name"])
        shown["id_number"] = mask_ids(findings["id_number"])
    for column in ("legal_entity", "subject_key"):
        shown[column] = shown[column].astype("str").fillna("")
    shown["fingerprint"] = [fingerprint(r, e, s) for r, e, s in zip(
        shown["rule_id"], shown["legal_entity"], shown["subject_key"], strict=True)]
    return shown


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    return str(value)


def finding_records(shown: pd.DataFrame) -> list[dict[str, Any]]:
    """One record per rule x legal entity x subject (from `shown_findings`), sorted stably."""
    if not len(shown):
        return []
    rows = shown[list(ROW_FIELDS)].to_dict("records")
    meta = shown[["rule_id", "rule_title", "severity", "legal_entity", "subject_kind",
                  "subject"]].to_dict("records")
    groups = shown.groupby("fingerprint", sort=False).indices
    records = []
    for fp, positions in groups.items():
        first = meta[int(positions[0])]
        items = [{k: (int(rows[i][k]) if k == "source_row" else _text(rows[i][k]))
                  for k in ROW_FIELDS} for i in positions]
        records.append({
            "fingerprint": fp, "rule_id": first["rule_id"], "rule_title": first["rule_title"],
            "severity": first["severity"], "legal_entity": first["legal_entity"],
            "subject_kind": first["subject_kind"], "subject": first["subject"],
            "branches": sorted({str(i["branch"]) for i in items}),
            "reason": items[0]["reason"], "rows": items,
        })
    records.sort(key=lambda r: (r["legal_entity"], r["rule_id"], r["subject"], r["fingerprint"]))
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
        # Compact: the C encoder is several times faster than an indented dump on big files.
        json.dump(findings_document(records, trail, unmasked), handle, ensure_ascii=False,
                  separators=(",", ":"))
        handle.write("\n")
    table = pa.Table.from_pylist(records, schema=PARQUET_SCHEMA).replace_schema_metadata({
        "cardaudit.schema_version": str(FINDINGS_SCHEMA_VERSION),
        "cardaudit.unmasked": "true" if unmasked else "false",
        "cardaudit.fingerprint": FINGERPRINT_RULE})
    parquet_path = out / "findings.parquet"
    with atomic_path(parquet_path) as tmp:
        pq.write_table(table, tmp)
    return [json_path, parquet_path]
