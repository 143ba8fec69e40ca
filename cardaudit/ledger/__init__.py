"""The verification ledger: every finding across audits, its 核查 outcome and its history.

A finding is keyed by its fingerprint (rule x legal entity x subject, see outputs.findings_out).
`audit --ledger DB` records each run; branches work through XLSX worklists that are imported
back; the report states the progress. SQLite by default, PostgreSQL for head office.
"""

from __future__ import annotations

PENDING = "待核查"
OWN_WILL = "已联系·本人意愿"
AGAINST_WILL = "已联系·非本人意愿"
STOPPED = "已中止服务"
CLOSED = "已销户"
UNREACHABLE = "无法联系"
RESOLVED = "已整改"

STATUSES = (PENDING, OWN_WILL, AGAINST_WILL, STOPPED, CLOSED, UNREACHABLE, RESOLVED)
# What a branch may write into a worklist; 已整改 is decided by the audit alone.
OUTCOMES = (PENDING, OWN_WILL, AGAINST_WILL, STOPPED, CLOSED, UNREACHABLE)
# Findings that still need the branch: not yet contacted, unreachable, or against the
# customer's will with service not yet stopped.
OPEN = (PENDING, UNREACHABLE, AGAINST_WILL)
# The customer was reached (a contact date is required).
CONTACTED = (OWN_WILL, AGAINST_WILL, STOPPED, CLOSED)
# Outcomes that say cards were opened against the customer's will (the count is required).
AGAINST = (AGAINST_WILL, STOPPED)

STATUS_MEANING = {
    PENDING: "已发现、尚未联系客户",
    OWN_WILL: "已联系客户，确认各卡均为本人意愿开立",
    AGAINST_WILL: "已联系客户，确认有借记卡非本人意愿开立，尚未中止服务",
    STOPPED: "已与客户签订处置协议，对非本人意愿开立的借记卡中止服务",
    CLOSED: "相关账户已销户",
    UNREACHABLE: "已尝试联系，无法联系到客户",
    RESOLVED: "本次审计不再发现（由审计自动判定）",
}
