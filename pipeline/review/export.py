"""Confirmed findings, as the lead exports them (JSON or CSV) and the report counts them."""
from __future__ import annotations

import csv
import io

from pipeline.review.events import load_events
from pipeline.review.state import derive, effective_amount, evidence_items


EXPORT_COLUMNS = (
    "hospital_id", "admission_no", "record_id", "flag_id", "rule_id", "rule_name", "category", "severity",
    "amount", "reason", "evidence_pages", "source", "confirmed_by", "confirmed_at", "note",
    "catalogue_version", "model_version",
)


def confirmed_findings(db) -> list[dict]:
    """Every confirmed flag with what the reviewer made of it, unmasked: callers that hand rows
    out mask them (``pipeline.report.mask.mask_findings``)."""
    flags = list(db.query(
        "SELECT f.*, r.hospital_id, r.admission_no FROM flags f JOIN records r ON r.id = f.record_id ORDER BY f.record_id, f.id"))
    states = derive(load_events(db), flags)
    out = []
    for f in flags:
        st = states[f["id"]]
        if st.state != "confirmed":
            continue
        ev = evidence_items(f["evidence"])
        out.append({
            "hospital_id": f["hospital_id"], "admission_no": f["admission_no"], "record_id": f["record_id"],
            "flag_id": f["id"], "rule_id": st.rule_id or f["rule_id"], "rule_name": f["rule_name"],
            "category": f["category"], "severity": f["severity"], "amount": effective_amount(f, st),
            "reason": f["reason"],
            "evidence_pages": ",".join(str(p) for p in sorted({e["page_no"] for e in ev if e["page_no"]})),
            "source": f["source"], "confirmed_by": st.by, "confirmed_at": st.at, "note": st.note,
            "catalogue_version": f["catalogue_version"], "model_version": f["model_version"],
        })
    return out


def findings_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=EXPORT_COLUMNS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        # Spreadsheet formula injection: record text must not start a formula in Excel.
        w.writerow({k: ("'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v) for k, v in r.items()})
    return "\ufeff" + buf.getvalue()

