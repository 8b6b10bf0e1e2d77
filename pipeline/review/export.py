"""Confirmed findings, as the lead exports them (JSON or CSV) and the report counts them.

A finding's rule is the one in force (a reviewer's changed rule replaces the system's), named
from the catalogue; its amount is the amount as decided (``amount``) and what it adds to totals
once lines counted under another finding and the admission's bill are taken into account
(``amount_counted``, ``overlap``: ``pipeline.review.money``). Appeal outcomes apply: a finding
whose appeal was upheld is no longer a finding."""
from __future__ import annotations

import csv
import io

from pipeline.review import appeals as appeal_events, money
from pipeline.review.events import load_events
from pipeline.review.reasons import rule_info, rule_name
from pipeline.review.state import derive, effective_amount, evidence_items, parse_json
from pipeline.review.values import stored_number
from pipeline.rules.flags import rule_class


EXPORT_COLUMNS = (
    "hospital_id", "admission_no", "record_id", "flag_id", "rule_id", "rule_name", "rule_class", "legal_basis",
    "category", "severity", "amount", "amount_counted", "overlap", "reason", "evidence_pages", "source",
    "confirmed_by", "confirmed_at", "note", "appeal", "catalogue_version", "model_version",
)


def decided_states(db, flags: list[dict]) -> dict:
    """The reviewers' states of ``flags`` with the appeal outcomes laid over them."""
    states = derive(load_events(db), flags)
    return appeal_events.apply(states, appeal_events.appeals(db))


def _reviewed_reason(reason: str | None, flag: dict, st) -> str | None:
    """The flag's reason, with what the reviewer changed said after it: the reason was written
    for the system's rule and amount."""
    changes = []
    if st.rule_id and st.rule_id != flag["rule_id"]:
        changes.append(f"规则改为 {rule_name(st.rule_id, st.rule_id)}")
    system = stored_number(flag.get("amount"))
    if st.amount is not None and (system is None or abs(st.amount - system) >= 0.005):
        changes.append(f"金额改定为 {st.amount:.2f} 元（原 {system or 0:.2f} 元）")
    if not changes:
        return reason
    return f"{reason or ''}〔审核：{'；'.join(changes)}〕"


def confirmed_findings(db) -> list[dict]:
    """Every confirmed flag with what the reviewer made of it, unmasked: callers that hand rows
    out mask them (``pipeline.report.mask.mask_findings``)."""
    flags = list(db.query(
        "SELECT f.*, r.hospital_id, r.admission_no FROM flags f JOIN records r ON r.id = f.record_id ORDER BY f.record_id, f.id"))
    states = decided_states(db, flags)
    counted = money.counted(db, flags, states)
    out = []
    for f in flags:
        st = states[f["id"]]
        if st.state != "confirmed":
            continue
        ev = evidence_items(f["evidence"])
        rid = st.rule_id or f["rule_id"]
        info = rule_info(rid) or {}
        c = counted[f["id"]]
        out.append({
            "hospital_id": f["hospital_id"], "admission_no": f["admission_no"], "record_id": f["record_id"],
            "flag_id": f["id"], "rule_id": rid,
            "rule_name": info.get("rule_name") or (f["rule_name"] if rid == f["rule_id"] else None),
            "rule_class": (info.get("rule_class") if rid != f["rule_id"] else None) or _flag_class(f, info),
            "legal_basis": info.get("legal_basis"),
            "category": info.get("category") or f["category"], "severity": f["severity"],
            "amount": effective_amount(f, st), "amount_counted": c.counted, "overlap": c.overlap,
            "reason": _reviewed_reason(f["reason"], f, st),
            "evidence_pages": ",".join(str(p) for p in sorted({e["page_no"] for e in ev if e["page_no"]})),
            "source": f["source"], "confirmed_by": st.by, "confirmed_at": st.at, "note": st.note,
            "appeal": appeal_events.APPEAL_LABELS.get(st.appeal) if st.appeal else None,
            "catalogue_version": f["catalogue_version"], "model_version": f["model_version"],
        })
    return out


def _flag_class(flag: dict, info: dict) -> str:
    kn = parse_json(flag.get("knowledge"), None)
    return rule_class(kn if isinstance(kn, dict) else None, info.get("rule_class") or flag.get("category"))


def findings_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=EXPORT_COLUMNS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        # Spreadsheet formula injection: record text must not start a formula in Excel.
        w.writerow({k: ("'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v) for k, v in r.items()})
    return "\ufeff" + buf.getvalue()
