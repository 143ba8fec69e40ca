"""Forms for the branches: per customer awaiting contact, the 核查记录表 and the 处置协议.

One Word document per legal entity x branch, rendered by docxtpl from
templates/verification_forms.docx (a bank may supply its own through --templates) in the same
sandboxed environment as the Word report. Customers are persons with findings that are 待核查 or
无法联系; several findings of one customer (e.g. 4+ cards and over the limit) make one form.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from cardaudit import report
from cardaudit.ledger import PENDING, UNREACHABLE
from cardaudit.ledger.worklist import make_folder, open_findings
from cardaudit.mask import mask_subjects
from cardaudit.outputs.files import atomic_path, safe_file_name
from cardaudit.outputs.word import render_template

TEMPLATE_NAME = "verification_forms.docx"
AWAITING = (PENDING, UNREACHABLE)


def template_path(templates: Path | None) -> Path:
    if templates and (templates / TEMPLATE_NAME).is_file():
        return templates / TEMPLATE_NAME
    return report.default_templates_dir() / TEMPLATE_NAME


def customers(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One entry per customer (legal entity x subject) from the findings awaiting contact."""
    out = []
    for (_, _), part in frame.groupby(["legal_entity", "subject"], sort=True):
        cards: dict[str, dict[str, Any]] = {}
        for text in part["cards"]:
            for card in json.loads(text):
                cards.setdefault(card["card_no"], card)
        main = part.sort_values(["card_count", "rule_id"], ascending=[False, True]).iloc[0]
        ids = sorted({i for text in part["customer_ids"] for i in json.loads(text)})
        out.append({
            "legal_entity": main["legal_entity"], "branch": main["branch"],
            "subject": main["subject"], "customer_ids": "、".join(ids),
            "reasons": "；".join(f"{r.rule_id} {r.rule_title}" for r in part.itertuples()),
            "fingerprints": "、".join(part["fingerprint"]),
            "card_count": len(cards),
            "cards": [{k: (v if v is not None else "") for k, v in c.items()}
                      for _, c in sorted(cards.items())],
        })
    return out


def write_forms(ledger: Any, out_dir: Path, *, branch: str | None = None,
                entity: str | None = None, templates: Path | None = None) -> list[tuple[Path, int]]:
    """Render one forms document per legal entity x branch; returns (file, customers)."""
    frame = open_findings(ledger, branch, entity)
    frame = frame[frame["status"].isin(AWAITING) & (frame["subject_kind"] == "person")]
    if ledger.unmasked and len(frame):  # forms are printed: always masked
        frame = frame.assign(subject=mask_subjects(frame["subject"].astype("str")).to_numpy())
    people = customers(frame) if len(frame) else []
    if not people:
        return []
    source = template_path(templates)
    make_folder(out_dir)
    stamp = datetime.now().astimezone().isoformat(timespec="seconds")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for person in people:
        groups.setdefault((person["legal_entity"], person["branch"]), []).append(person)
    written = []
    for (entity_name, branch_name), members in sorted(groups.items()):
        values = {"bank": entity_name, "branch": branch_name, "customers": members,
                  "generated_at": stamp, "banner": ""}
        document = render_template(source, values, "build_ledger_forms.py")
        path = out_dir / f"核查表单_{safe_file_name(entity_name)}_{safe_file_name(branch_name)}.docx"
        with atomic_path(path) as tmp:
            document.save(str(tmp))
        written.append((path, len(members)))
    return written
