"""The audit job: load -> normalise -> engine -> outputs. The CLI calls `run_audit` once.

This is the only module that ties files to the engine; it writes every output atomically (to a
temporary name in the target folder, then renamed) with owner-only permissions.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from cardaudit import __version__, diff, engine, load, report, stream, verification
from cardaudit import blacklist as blacklist_mod
from cardaudit.errors import ConfigError, InputError
from cardaudit.fingerprint import RULE_TEXT as FINGERPRINT_RULE
from cardaudit.fingerprint import FingerprintKey, load_key
from cardaudit.mask import mask_ids, mask_names
from cardaudit.normalize import normalise
from cardaudit.outputs import DEFAULT_FORMATS, consolidated, findings_out, writer
from cardaudit.outputs.files import atomic_write, remove_stale_temporaries, write_csv
from cardaudit.rules import NEED_LABELS, SEVERITY_RANK, RulePack
from cardaudit.schema import SOURCE_FILE, SOURCE_ROW, label

__all__ = ["AuditOptions", "AuditOutcome", "atomic_write", "build_summary", "run_audit"]

SUMMARY_SCHEMA_VERSION = 1
Progress = Callable[[str], None]


@dataclass
class AuditOptions:
    exports: list[Path]
    out_dir: Path
    pack: RulePack
    as_of: date
    blacklist: Path | None = None
    encoding: str | None = None
    mapping: dict[str, str] | None = None
    bank_name: str | None = None
    addressee: str = "上级管理部门"
    templates: Path | None = None
    config: Path | None = None
    formats: list[str] = field(default_factory=lambda: DEFAULT_FORMATS.split(","))
    unmasked: bool = False  # an explicit choice, recorded in summary.json and on every page
    baseline: Path | None = None  # a previous output folder to compare with
    verification: Path | None = None  # 联网核查 result file
    ledger: str | None = None  # verification ledger: SQLite file or postgresql:// URL
    ledger_actor: str | None = None  # who records the run (default: the login name)
    fingerprint_key: Path | None = None  # key file of the finding fingerprints (HMAC)
    spill_dir: Path | None = None  # where entity-by-entity runs park findings (default: temp)
    # Parquet exports with a legal-entity column are read and audited one entity at a time.
    by_entity: bool = True


@dataclass
class AuditOutcome:
    result: engine.AuditResult
    summary: dict[str, Any]
    written: list[Path] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    comparison: dict[str, Any] | None = None
    failures: list[EntityFailure] = field(default_factory=list)  # legal entities not audited

    def worst_severity_rank(self) -> int | None:
        """The highest severity rank among rules that flagged anything, or None."""
        ranks = [SEVERITY_RANK[o.rule.severity] for e in self.result.entities
                 for o in e.outcomes.values() if o.subjects]
        return max(ranks) if ranks else None


@dataclass
class SharedInputs:
    """The small inputs every legal entity reads: the police list and the 联网核查 results."""

    blacklist: blacklist_mod.Blacklist | None = None  # None: no --blacklist given
    info: dict[str, Any] = field(default_factory=lambda: {
        "file": None, "entries": 0, "valid_entries": 0, "faults": 0})
    faults: pd.DataFrame = field(default_factory=pd.DataFrame)
    verification: verification.Verification | None = None


def load_shared(options: AuditOptions, notices: list[str]) -> SharedInputs:
    """Read the police list and the verification results (small files, read where the job runs)."""
    shared = SharedInputs()
    if options.blacklist:
        bl_loaded = load.load_blacklist(options.blacklist, encoding=options.encoding)
        bl = blacklist_mod.from_frame(bl_loaded.frame, options.as_of)
        shared.blacklist, shared.faults = bl, bl.faults
        shared.info = {"file": bl_loaded.files[0].path, "sha256": bl_loaded.files[0].sha256,
                       "entries": bl.entries, "valid_entries": bl.valid_entries,
                       "faults": len(bl.faults)}
        notices.extend(blacklist_mod.period_notices(bl, bl_loaded.files[0].path))
    if options.verification:
        checked = verification.load_verification(options.verification, options.encoding)
        shared.verification = checked
        if checked.unreadable:
            notices.append(verification.unreadable_notice(checked))
    return shared


@dataclass
class EntityFailure:
    """A legal entity the engine could not audit; the others' results still stand."""

    entity: str
    message: str  # Chinese, without personal data
    exit_code: int = 3  # 2 for an input or rule error the user can fix, 3 otherwise

    def notice(self) -> str:
        return f"法人机构「{self.entity}」审计失败，其数字未计入本次结果：{self.message}"


@dataclass
class Computed:
    """What an engine hands to the shared output code."""

    result: engine.AuditResult
    files: list[load.FileInfo]
    shared: SharedInputs
    failures: list[EntityFailure] = field(default_factory=list)
    engine: dict[str, Any] = field(default_factory=lambda: {"name": "pandas"})
    spill: Path | None = None  # a folder of parked findings, removed when the outputs are written


# An engine: (options, progress, notices) -> Computed. The pandas engine is `compute_pandas`;
# the Spark engine (cardaudit.spark_engine) audits each legal entity on the executors.
Compute = Callable[[AuditOptions, Progress, list[str]], Computed]


def compute_pandas(options: AuditOptions, say: Progress, notices: list[str]) -> Computed:
    """Load, normalise and audit in this process, one legal entity at a time where the export
    has a legal-entity column (Parquet read entity by entity, CSV a chunk at a time; other
    formats read whole)."""
    if options.by_entity:
        computed = _by_entity_streamed(options, say, notices)
        if computed is not None:
            return computed
    say("读取导出文件")
    loaded = load.load_exports(options.exports, encoding=options.encoding,
                               mapping=options.mapping)
    shared = load_shared(options, notices)
    if options.by_entity and "legal_entity" in loaded.frame and len(loaded.frame):
        return _by_entity(options, lambda spill: Computed(
            result=stream.audit_frame_by_entity(loaded.frame, options, shared, say, spill),
            files=loaded.files, shared=shared))
    say("规范化与身份证号码校验")
    entity_name = options.bank_name if "legal_entity" not in loaded.frame else None
    normalised = normalise(loaded.frame, options.pack.settings, options.as_of, entity_name)
    verification.mark(normalised.frame, shared.verification)
    say("执行规则")
    result = engine.audit(normalised, options.pack, shared.blacklist,
                          progress=lambda name, i, n, rule: say(stream.entity_step(name, i, n, rule)))
    return Computed(result=result, files=loaded.files, shared=shared)


def _by_entity_streamed(options: AuditOptions, say: Progress,
                        notices: list[str]) -> Computed | None:
    """A Parquet export read entity by entity, or a CSV export read a chunk at a time and parked
    by entity; None when the export is neither (or has no rows): it is then read whole."""
    members = stream.members_of(options.exports, options.mapping)
    if members is not None:
        say("读取导出文件的法人机构列")
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cardaudit-hash") as pool:
            # The files are hashed while their legal-entity column is read; a file given twice
            # is refused before any legal entity is audited.
            files = pool.submit(stream.file_infos, members)
            shared = load_shared(options, notices)
            return _by_entity(options, lambda spill: Computed(
                result=stream.audit_by_entity(members, options, shared, say, spill,
                                              ready=files.result),
                files=files.result(), shared=shared))
    chunked = load.csv_chunks(options.exports, encoding=options.encoding, mapping=options.mapping)
    if chunked is None:
        return None
    sources, order = chunked

    def audit(spill: Path) -> Computed | None:
        parked = stream.park_csv(sources, spill, say)
        if not parked.rows:  # a header and nothing else: the whole-file reader's zero report
            return None
        shared = load_shared(options, notices)
        return Computed(result=stream.audit_parked(parked, order, options, shared, say, spill),
                        files=parked.files, shared=shared)

    return _by_entity(options, audit)


def _by_entity(options: AuditOptions,
               audit: Callable[[Path], Computed | None]) -> Computed | None:
    """Run an entity-by-entity audit whose rows and findings are parked in a fresh spill folder
    (removed by `run_audit` when the outputs are written, or here if the audit fails)."""
    # Owner-only (mkdtemp): the parked rows and findings hold personal data.
    try:
        spill = Path(tempfile.mkdtemp(prefix="cardaudit-findings-", dir=options.spill_dir))
    except OSError as exc:
        raise ConfigError(f"无法在临时目录 {options.spill_dir or tempfile.gettempdir()} 中创建"
                          f"暂存目录：{exc.strerror}。请用 --temp-dir 指定可写的目录。") from None
    try:
        computed = audit(spill)
    except OSError as exc:  # inputs are read with their own errors: this is the spill folder
        shutil.rmtree(spill, ignore_errors=True)
        raise ConfigError(f"无法写入暂存目录 {spill.parent}：{exc.strerror or exc}。磁盘空间可能"
                          "不足（CSV 导出约需与文件相当的空间）；请清理空间，或用 --temp-dir 指定"
                          "空间足够的可写目录。") from None
    except BaseException:
        shutil.rmtree(spill, ignore_errors=True)
        raise
    if computed is None:
        shutil.rmtree(spill, ignore_errors=True)
        return None
    computed.spill = spill
    computed.engine = {"name": "pandas", "mode": "by_entity"}
    return computed


def run_audit(options: AuditOptions, progress: Progress | None = None,
              compute: Compute | None = None) -> AuditOutcome:
    """Run the whole audit and write summary.json, reports and findings into out_dir.

    `compute` is the engine (default: pandas, in this process); everything after it is shared.
    """
    say = progress or (lambda _msg: None)
    notices: list[str] = []
    if options.templates is not None and not options.templates.is_dir():
        raise ConfigError(f"找不到模板目录：{options.templates}。请检查 --templates 路径。")
    key = load_key(options.fingerprint_key)
    if key.created:
        notices.append(f"已在本机生成指纹密钥（{key.source}，编号 {key.id}）。与其他机器上的审计结果"
                       "比较（diff、核查台账）须使用同一密钥：请妥善保管并用 --fingerprint-key 分发。")
    baseline = diff.load_run(options.baseline) if options.baseline else None
    computed = (compute or compute_pandas)(options, say, notices)
    try:
        _check_not_empty(computed.files, notices)
        return _outputs(options, computed, key, baseline, notices, say)
    finally:
        if computed.spill is not None:
            shutil.rmtree(computed.spill, ignore_errors=True)


def _check_not_empty(files: list[load.FileInfo], notices: list[str]) -> None:
    """A header-only export must not become a report of zeros that could be filed: no rows at
    all is an error; a header-only file among others is named in a notice."""
    empty = [f.path for f in files if f.rows == 0]
    if files and len(empty) == len(files):
        raise InputError(f"导出文件 {'、'.join(empty)} 只有表头、没有数据行，不能据此出具自查报告"
                         "（各项数字将全部为零）。请检查导出条件（截止日期、机构范围、工作表）后重新导出。")
    for name in empty:
        notices.append(f"导出文件 {name} 只有表头、没有数据行，未计入任何记录；请确认该文件的导出是否完整。")


def _outputs(options: AuditOptions, computed: Computed, key: FingerprintKey,
             baseline: diff.Run | None, notices: list[str], say: Progress) -> AuditOutcome:
    """Everything after the engine: summary, comparison, ledger, reports and findings files."""
    result, checked = computed.result, computed.shared.verification
    list_info, list_faults = computed.shared.info, computed.shared.faults
    pack = result.pack
    for failure in computed.failures:
        notices.append(failure.notice())
    for rule, missing in result.skipped:
        what = "、".join(NEED_LABELS.get(m) or f"「{label(m)}」列" for m in missing)
        notices.append(f"规则 {rule.id}（{rule.heading}）未执行：缺少{what}。")
    undated = sum(e.warnings.get("listed_undated_cards", 0) for e in result.entities)
    if undated:
        notices.append(f"名单人员名下有{undated}张卡的开户日期为空或无法识别：无法判断是否在惩戒期内"
                       "开立，未计入“惩戒期内为名单人员新开立账户”。请核实这些卡的开户日期"
                       "（各法人机构的张数见 summary.json 的 warnings.listed_undated_cards）。")
    generated_at = datetime.now().astimezone().isoformat(timespec="seconds")
    trail = {
        "tool_version": __version__, "pack_name": pack.meta.name,
        "pack_version": pack.meta.version, "pack_hash": pack.hash,
        "as_of": options.as_of.isoformat(), "generated_at": generated_at,
        "inputs": [{"file": f.path, "sha256": f.sha256, "rows": f.rows, "format": f.format,
                    "encoding": f.encoding} for f in computed.files],
        "config": ({"file": options.config.name, "sha256": hashlib.sha256(
            options.config.read_bytes()).hexdigest()} if options.config else None),
    }
    summary = build_summary(result, pack, trail, list_info, notices)
    summary["unmasked"] = options.unmasked
    summary["fingerprint"] = {"rule": FINGERPRINT_RULE, "key_id": key.id}
    summary["verification"] = ({"file": checked.file, "rows": checked.rows,
                                "unreadable": checked.unreadable} if checked else None)
    summary["outputs"] = {"formats": options.formats}
    summary["engine"] = computed.engine
    # False when a legal entity could not be audited (Spark engine): its figures are missing.
    summary["complete"] = not computed.failures
    summary["failed_entities"] = [{"entity": f.entity, "error": f.message}
                                  for f in computed.failures]
    records, masked_records = _records(result, options, key,
                                       baseline is not None or bool(options.ledger))
    comparison = None
    if baseline is not None:
        current = diff.Run(source=options.out_dir.resolve().name, summary=summary,
                           findings=records)
        comparison = diff.compare(baseline, current)
        summary["baseline"] = diff.summary_section(comparison)

    ledger_views: dict[str, Any] = {}
    if options.ledger:
        from cardaudit.ledger import audit as ledger_audit

        say("记录核查台账")
        recorded = ledger_audit.record(
            options.ledger, records=masked_records,
            unmasked_records=records if options.unmasked else None,
            entities=[e.name for e in result.entities], rules=pack.enabled(), trail=trail,
            figures={"entities": summary["entities"], "total": summary["total"]},
            actor=options.ledger_actor, key_id=key.id)
        summary["ledger"] = recorded.summary()
        ledger_views = recorded.views

    out = options.out_dir
    try:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(out)
    except OSError as exc:
        raise ConfigError(f"无法创建输出目录 {out.name}：{exc.strerror}。请检查路径与权限。") from None
    say("写出报告")
    written = _write_reports(options, result, pack, trail, list_info, comparison, notices,
                             checked.describe() if checked else None, ledger_views)
    shown_parts = []  # kept only for the workbook
    with findings_out.FindingsFiles(out, json_files="json" in options.formats, trail=trail,
                                    unmasked=options.unmasked, key_id=key.id,
                                    csv_frame=findings_csv,
                                    count=sum(o.subjects for e in result.entities
                                              for o in e.outcomes.values())) as files:
        for entity in result.entities:  # one legal entity's findings in memory at a time
            shown = findings_out.shown_findings(entity.finding_rows(), options.unmasked, key)
            files.add(shown)
            if "xlsx" in options.formats:
                shown_parts.append(shown)
    written += files.paths
    if "xlsx" in options.formats:
        from cardaudit.outputs.workbook import write_workbook

        shown = (pd.concat(shown_parts, ignore_index=True) if shown_parts else
                 findings_out.shown_findings(findings_out.all_findings(result),
                                             options.unmasked, key))
        written.append(write_workbook(out / "findings.xlsx", result, shown, pack,
                                      as_of=options.as_of.isoformat(), unmasked=options.unmasked))
    written.append(write_csv(out / "quarantine.csv",
                             masked_quarantine(result.quarantined, options.unmasked)))
    if len(list_faults):
        written.append(write_csv(out / "blacklist_faults.csv", list_faults))
    summary_path = out / "summary.json"
    with atomic_write(summary_path) as handle:
        json.dump(summary, handle, ensure_ascii=False, indent=2)
        handle.write("\n")
    written.append(summary_path)
    return AuditOutcome(result=result, summary=summary, written=written, notices=notices,
                        comparison=comparison, failures=computed.failures)


def _write_reports(options: AuditOptions, result: engine.AuditResult, pack: RulePack,
                   trail: dict[str, Any], list_info: dict[str, Any],
                   comparison: dict[str, Any] | None, notices: list[str],
                   method: str | None, ledger_views: dict[str, Any]) -> list[Path]:
    """md/html/docx per legal entity, plus report_合计 when there are several entities."""
    common = {"pack": pack, "as_of": options.as_of, "trail": trail, "bank_name": None,
              "addressee": options.addressee, "blacklist": list_info,
              "unmasked": options.unmasked, "notices": notices,
              "verification": method}
    jobs = []
    for entity in result.entities:
        section = diff.report_section(comparison, entity.name) if comparison else None
        jobs.append((entity.name, report.context(entity, comparison=section,
                                                 ledger=ledger_views.get(entity.name), **common)))
    if len(result.entities) > 1:
        total = report.TotalView(names=[e.name for e in result.entities],
                                 table=consolidated.entity_table(result),
                                 branch_entities=consolidated.branch_entities(result))
        section = diff.report_section(comparison, None) if comparison else None
        jobs.append((consolidated.TOTAL_NAME, report.context(
            consolidated.combine(result), comparison=section, total=total,
            ledger=ledger_views.get(consolidated.TOTAL_NAME), **common)))
    stems = [writer.report_stem(name) for name, _ in jobs]
    if len(jobs) > 1 and stems[-1] in stems[:-1]:  # an entity itself named 合计
        stems[-1] += "_全部法人机构"
    written: list[Path] = []
    for stem, (_, ctx) in zip(stems, jobs, strict=True):
        written += writer.write_reports(options.out_dir, stem, ctx, options.formats,
                                        options.templates)
    return written


def build_summary(result: engine.AuditResult, pack: RulePack, trail: dict[str, Any],
                  list_info: dict[str, Any], notices: list[str]) -> dict[str, Any]:
    """The machine-readable figures and audit trail; the same numbers every report shows."""
    quarantine_reasons = (result.quarantined["reason"].value_counts().sort_index().to_dict()
                          if len(result.quarantined) else {})
    entities = {}
    for e in result.entities:
        entities[e.name] = {
            "rows": e.rows,
            "statistics": e.statistics,
            "rules": {rid: {"severity": o.rule.severity, "subjects": o.subjects,
                            "cards": o.cards, "rows": o.rows} for rid, o in e.outcomes.items()},
            "warnings": e.warnings,
            "card_distribution": {str(k): v for k, v in e.card_distribution.items()},
        }
    return {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "tool": {"name": "cardaudit", "version": trail["tool_version"]},
        "as_of": trail["as_of"],
        "generated_at": trail["generated_at"],
        "rule_pack": {
            "name": pack.meta.name, "version": pack.meta.version, "hash": pack.hash,
            "settings": pack.settings.model_dump(),
            "figure_thresholds": pack.figure_thresholds(),  # what the figure labels state
            "rules": [{"id": r.id, "title": r.heading, "severity": r.severity, "kind": r.kind,
                       "enabled": r.enabled, "params": r.params,
                       "threshold": r.parsed_params().describe("张"),  # type: ignore[attr-defined]
                       "figures": r.figures.model_dump(exclude_none=True)} for r in pack.rules],
        },
        "inputs": trail["inputs"],
        "config": trail["config"],
        "blacklist": list_info,
        "notices": notices,
        "rows": {**result.total["rows"], "quarantine_reasons": quarantine_reasons},  # type: ignore[dict-item]
        "entities": entities,
        "total": {"rows": result.total["rows"], "statistics": result.total["statistics"]},
    }


def _records(result: engine.AuditResult, options: AuditOptions, key: FingerprintKey,
             wanted: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Finding records as shown (for --baseline) and masked (for the ledger), when wanted."""
    if not wanted:
        return [], []
    shown: list[dict[str, Any]] = []
    masked: list[dict[str, Any]] = []
    for entity in result.entities:
        rows = entity.finding_rows()
        shown += findings_out.finding_records(findings_out.shown_findings(
            rows, options.unmasked, key))
        masked += findings_out.finding_records(findings_out.shown_findings(
            rows, False, key)) if options.unmasked else []
    return shown, (masked if options.unmasked else shown)


def findings_csv(shown: pd.DataFrame) -> pd.DataFrame:
    """Row-level findings.csv from the shown findings (masked unless --unmasked), fixed columns."""
    f = shown
    if not len(f):
        return pd.DataFrame(columns=FINDINGS_CSV_COLUMNS)
    return pd.DataFrame({
        "规则编号": f["rule_id"], "规则": f["rule_title"], "级别": f["severity"],
        "法人机构": f["legal_entity"], "开户机构": f["branch"],
        "对象": f["subject"], "客户号": f["customer_id"],
        "卡号": f["card_no"], "卡产品": f["product"], "卡状态": f["status"],
        "开户日期": f["open_date"], "姓名": f["name"],
        "证件号码": f["id_number"], "原因": f["reason"],
        "来源文件": f["source_file"], "行号": f["source_row"], "问题指纹": f["fingerprint"],
    }, columns=FINDINGS_CSV_COLUMNS)


FINDINGS_CSV_COLUMNS = ["规则编号", "规则", "级别", "法人机构", "开户机构", "对象", "客户号", "卡号",
                        "卡产品", "卡状态", "开户日期", "姓名", "证件号码", "原因", "来源文件", "行号",
                        "问题指纹"]


def masked_quarantine(quarantined: pd.DataFrame, unmasked: bool = False) -> pd.DataFrame:
    """Quarantined rows: where they came from and why, personal data masked unless `unmasked`."""
    q = quarantined
    if not len(q):
        return pd.DataFrame(columns=["来源文件", "行号", "原因", "法人机构", "开户机构", "客户号",
                                     "卡号", "姓名", "证件号码"])
    return pd.DataFrame({
        "来源文件": q[SOURCE_FILE], "行号": q[SOURCE_ROW], "原因": q["reason"],
        "法人机构": q["legal_entity"], "开户机构": q["branch"], "客户号": q["customer_id"],
        "卡号": q["card_no"],
        "姓名": q["name"] if unmasked else mask_names(q["name"]),
        "证件号码": q["id_number"] if unmasked else mask_ids(q["id_number"]),
    })


def check_inputs_exist(paths: list[Path]) -> None:
    for p in paths:
        if not p.exists():
            raise InputError(f"找不到输入文件：{p.name}。请检查路径是否正确。")
