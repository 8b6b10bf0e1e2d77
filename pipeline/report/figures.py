"""The report's numbers, per batch, per hospital and per rule, computed from the store.

Record counts come straight from SQL. A flag's current review state is derived from the
append-only ``reviews`` events by ``pipeline.review.derive`` (the same logic the review UI
uses), so the report and the UI can never disagree on what is confirmed.

Definitions (shown in the report):
- received: records registered for the batch; processed: reached ``scored`` and not failed;
  failed: failed at some stage, with its reason; received = processed + failed + in progress.
- flagged: records with at least one active flag (system or reviewer-added, not withdrawn).
- reviewed: flagged records whose every active flag has a decision (confirmed or rejected).
- confirmed violations: flags whose current state is confirmed; amount = the confirmed amount
  (a reviewer's changed amount replaces the system's), in 元 and 万元.
- rule classes: a national rule's flags count under their 两库 rule class (``flags.knowledge``),
  other rules' under their catalogue category.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

from pipeline import review
from pipeline.rules.flags import rule_class

TOP_RULES = 5


def _wan(yuan: float) -> float:
    return round(yuan / 10000.0, 4)


def _empty_scope() -> dict:
    return {"received": 0, "processed": 0, "failed": 0, "in_progress": 0, "flagged": 0, "reviewed": 0,
            "pending": 0, "confirmed_records": 0, "confirmed_findings": 0, "rejected_findings": 0,
            "amount_flagged_yuan": 0.0, "amount_yuan": 0.0}


_BATCH = object()   # scope marker: the whole batch (None is a real hospital_id: records without one)


def _coverage(db, hospital_id=_BATCH) -> dict:
    where, params = ("", []) if hospital_id is _BATCH else ("WHERE hospital_id IS ?", [hospital_id])
    received, processed, failed = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(stage = 'scored' AND status != 'failed'), 0),"
        f" COALESCE(SUM(status = 'failed'), 0) FROM records {where}", params).fetchone()
    return {"received": received, "processed": processed, "failed": failed,
            "in_progress": received - processed - failed}


def _failed_reasons(db) -> list[dict]:
    return [
        {"hospital_id": r[0], "stage": r[1], "reason": r[2], "records": r[3]}
        for r in db.execute(
            "SELECT hospital_id, error_stage, COALESCE(error, '未记录原因'), COUNT(*) FROM records"
            " WHERE status = 'failed' GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3")
    ]


def _inputs(db) -> dict:
    src = dict(db.execute("SELECT state, COUNT(*) FROM sources GROUP BY state").fetchall())
    rejected = [
        {"path": Path(r[0]).name, "reason": r[1]}
        for r in db.execute("SELECT path, reason FROM sources WHERE state = 'rejected' ORDER BY path")
    ]
    return {"received": sum(src.values()), "accepted": src.get("accepted", 0),
            "duplicate": src.get("duplicate", 0), "rejected": src.get("rejected", 0),
            "rejected_list": rejected}


def _evidence(text: str | None) -> list[dict]:
    try:
        ev = json.loads(text or "[]")
    except ValueError:
        return []
    return [e for e in ev if isinstance(e, dict)] if isinstance(ev, list) else []


def _knowledge(text: str | None) -> dict | None:
    try:
        kn = json.loads(text) if text else None
    except ValueError:
        return None
    return kn if isinstance(kn, dict) else None


def collect(db, *, batch_name: str | None = None) -> dict:
    """All figures of the report as plain data (numbers in 元 and 万元; no patient data)."""
    flags = list(db.query(
        "SELECT f.id, f.record_id, f.rule_id, f.rule_name, f.category, f.knowledge, f.amount, f.source, r.hospital_id"
        " FROM flags f JOIN records r ON r.id = f.record_id ORDER BY f.id"))
    states = review.derive(review.load_events(db), flags)
    rule_names = {f["rule_id"]: f["rule_name"] for f in flags if f["rule_name"]}

    hospitals = {r["id"]: r["name"] for r in db.query("SELECT id, name FROM hospitals ORDER BY id")}
    for hid in (r[0] for r in db.execute("SELECT DISTINCT hospital_id FROM records")):
        hospitals.setdefault(hid, None)

    batch = _empty_scope()
    batch.update(_coverage(db))
    per_hosp = {}
    for hid in hospitals:
        per_hosp[hid] = _empty_scope()
        per_hosp[hid].update(_coverage(db, hid))

    per_rule: dict[str, dict] = defaultdict(lambda: {"flags": 0, "records": set(), "confirmed": 0, "rejected": 0,
                                                     "pending": 0, "amount_flagged_yuan": 0.0, "amount_yuan": 0.0})
    per_class: dict[str, dict] = defaultdict(lambda: {"flags": 0, "records": set(), "confirmed": 0, "national": False,
                                                      "amount_flagged_yuan": 0.0, "amount_yuan": 0.0})
    record_states: dict[int, list[review.FlagState]] = defaultdict(list)
    record_hosp: dict[int, str | None] = {}
    rule_counts: dict = defaultdict(Counter)   # scope (_BATCH or hospital) -> rule -> confirmed findings
    rule_amounts: dict = defaultdict(Counter)
    for f in flags:
        st = states[f["id"]]
        if st.state == "withdrawn":
            continue
        record_states[f["record_id"]].append(st)
        record_hosp[f["record_id"]] = f["hospital_id"]
        rule_id = st.rule_id or f["rule_id"]
        amount = float(st.amount if st.amount is not None else (f["amount"] or 0))
        pr = per_rule[rule_id]
        pr["flags"] += 1
        pr["records"].add(f["record_id"])
        pr["amount_flagged_yuan"] += float(f["amount"] or 0)
        kn = _knowledge(f["knowledge"])
        pc = per_class[rule_class(kn, f["category"])]
        pc["flags"] += 1
        pc["records"].add(f["record_id"])
        pc["national"] = pc["national"] or kn is not None
        pc["amount_flagged_yuan"] += float(f["amount"] or 0)
        if st.state == "confirmed":
            pc["confirmed"] += 1
            pc["amount_yuan"] += amount
        hs = per_hosp[f["hospital_id"]]
        for scope in (batch, hs):
            scope["amount_flagged_yuan"] += float(f["amount"] or 0)
        if st.state == "confirmed":
            pr["confirmed"] += 1
            pr["amount_yuan"] += amount
            for scope in (batch, hs):
                scope["confirmed_findings"] += 1
                scope["amount_yuan"] += amount
            for key in (_BATCH, f["hospital_id"]):
                rule_counts[key][rule_id] += 1
                rule_amounts[key][rule_id] += amount
        elif st.state == "rejected":
            pr["rejected"] += 1
            for scope in (batch, hs):
                scope["rejected_findings"] += 1
        else:
            pr["pending"] += 1

    for rid, sts in record_states.items():
        status = review.record_status(sts)
        for scope in (batch, per_hosp[record_hosp[rid]]):
            scope["flagged"] += 1
            if status == "pending":
                scope["pending"] += 1
            else:
                scope["reviewed"] += 1
            if any(s.state == "confirmed" for s in sts):
                scope["confirmed_records"] += 1

    def top(key) -> list[dict]:
        ranked = sorted(rule_counts[key].items(), key=lambda kv: (-kv[1], -rule_amounts[key][kv[0]], kv[0]))
        return [{"rule_id": r, "rule_name": rule_names.get(r), "confirmed": n,
                 "amount_yuan": round(rule_amounts[key][r], 2), "amount_wan": _wan(rule_amounts[key][r])}
                for r, n in ranked[:TOP_RULES]]

    def finish(scope: dict, key) -> dict:
        for k in ("amount_yuan", "amount_flagged_yuan"):
            scope[k] = round(scope[k], 2)
        scope["amount_wan"] = _wan(scope["amount_yuan"])
        scope["amount_flagged_wan"] = _wan(scope["amount_flagged_yuan"])
        scope["top_rules"] = top(key)
        return scope

    rules = []
    for rule_id, pr in per_rule.items():
        rules.append({
            "rule_id": rule_id, "rule_name": rule_names.get(rule_id), "flags": pr["flags"],
            "records_flagged": len(pr["records"]), "confirmed": pr["confirmed"], "rejected": pr["rejected"],
            "pending": pr["pending"], "amount_flagged_yuan": round(pr["amount_flagged_yuan"], 2),
            "amount_yuan": round(pr["amount_yuan"], 2), "amount_wan": _wan(pr["amount_yuan"]),
        })
    rules.sort(key=lambda r: (-r["confirmed"], -r["amount_yuan"], -r["flags"], r["rule_id"]))
    classes = sorted(({"rule_class": name, "national": pc["national"], "flags": pc["flags"],
                       "records_flagged": len(pc["records"]), "confirmed": pc["confirmed"],
                       "amount_flagged_yuan": round(pc["amount_flagged_yuan"], 2),
                       "amount_yuan": round(pc["amount_yuan"], 2), "amount_wan": _wan(pc["amount_yuan"])}
                      for name, pc in per_class.items()),
                     key=lambda r: (-r["flags"], -r["amount_flagged_yuan"], r["rule_class"]))

    versions = {
        "catalogue": [r[0] for r in db.execute(
            "SELECT DISTINCT catalogue_version FROM flags WHERE catalogue_version IS NOT NULL ORDER BY 1")],
        "score_models": [{"model_version": r[0], "records": r[1]} for r in db.execute(
            "SELECT model_version, COUNT(*) FROM scores GROUP BY 1 ORDER BY 1")],
    }
    inputs = _inputs(db)
    complete = batch["received"] > 0 and batch["in_progress"] == 0
    return {
        "batch": {"name": batch_name, **finish(batch, _BATCH)},
        "coverage": {
            "inputs": inputs,
            "failed_reasons": _failed_reasons(db),
            "complete": complete,
            "statement": coverage_statement(batch, inputs, complete),
        },
        "hospitals": [{"hospital_id": hid, "name": name, **finish(per_hosp[hid], hid)} for hid, name in hospitals.items()],
        "rules": rules,
        "rule_classes": classes,
        "versions": versions,
    }


def coverage_statement(batch: dict, inputs: dict, complete: bool) -> str:
    text = (f"本批次共收到病历 {batch['received']} 份：已完成审核处理 {batch['processed']} 份，"
            f"处理失败 {batch['failed']} 份（失败原因见附表）")
    if batch["in_progress"]:
        text += f"，尚在处理中 {batch['in_progress']} 份"
    text += "。"
    if inputs["duplicate"] or inputs["rejected"]:
        text += (f"另有输入文件重复 {inputs['duplicate']} 个、拒收 {inputs['rejected']} 个（原因见附表），"
                 "未计入病历数。")
    text += ("每份病历均已处理或列明失败原因，覆盖率 100%。" if complete
             else f"覆盖尚未完成：{batch['in_progress']} 份待处理。")
    return text


def findings(db) -> list[dict]:
    """Confirmed findings (``pipeline.review.confirmed_findings``) with their evidence text,
    page references and the patient fields the masking step acts on."""
    rows = review.confirmed_findings(db)
    if not rows:
        return []
    ids = [r["flag_id"] for r in rows]
    marks = ",".join("?" for _ in ids)
    evidence = {r[0]: _evidence(r[1]) for r in db.execute(f"SELECT id, evidence FROM flags WHERE id IN ({marks})", ids)}
    rec_ids = sorted({r["record_id"] for r in rows})
    patient: dict[int, dict] = defaultdict(dict)
    for rid, name, value in db.execute(
        f"SELECT record_id, name, value FROM fields WHERE name IN ('patient_name', 'id_number') AND seq = 0"
        f" AND record_id IN ({','.join('?' for _ in rec_ids)})", rec_ids):
        patient[rid][name] = value
    hospitals = dict(db.execute("SELECT id, name FROM hospitals").fetchall())
    out = []
    for r in rows:
        ev = evidence.get(r["flag_id"], [])
        out.append({
            **r,
            "hospital_name": hospitals.get(r["hospital_id"]),
            "patient_name": patient[r["record_id"]].get("patient_name"),
            "id_number": patient[r["record_id"]].get("id_number"),
            "evidence_text": "\n".join(
                f"[第{e['page_no']}页] {e.get('text') or ''}" if e.get("page_no") else (e.get("text") or "")
                for e in ev if e.get("text") or e.get("page_no")),
            "page_refs": [{"page_no": e.get("page_no"), "page_id": e.get("page_id"), "line_id": e.get("line_id")}
                          for e in ev if e.get("page_no") or e.get("page_id")],
        })
    return out
