"""The report's numbers, per batch, per hospital and per rule, computed from the store.

Record counts come straight from SQL. A flag's current review state is derived from the
append-only ``reviews`` events by ``pipeline.review.derive`` (the same logic the review UI
uses), so the report and the UI can never disagree on what is confirmed.

Definitions (shown in the report):
- received: records registered for the batch; processed: reached ``scored`` and not failed;
  failed: failed at some stage, with its reason; received = processed + failed + in progress.
- flagged: records with at least one active flag (system or reviewer-added, not withdrawn).
- reviewed: flagged records whose every active flag has a decision (confirmed or rejected).
- confirmed violations: flags whose current state is confirmed and whose appeal (申诉) was not
  upheld; amount = the confirmed amount (a reviewer's changed amount, or the amount an appeal left
  standing, replaces the system's), in 元 and 万元, counted once (``pipeline.review.money``): a
  charge line under two findings counts once and no admission counts more than it billed; the
  difference to the plain sum is shown as overlap.
- rule classes: a national rule's flags count under their 两库 rule class (``flags.knowledge``),
  other rules' under their catalogue category.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from pipeline import review
from pipeline.review import money
from pipeline.rules.flags import rule_class

TOP_RULES = 5


def _wan(yuan: float) -> float:
    return round(yuan / 10000.0, 4)


def _empty_scope() -> dict:
    return {"received": 0, "processed": 0, "failed": 0, "in_progress": 0, "flagged": 0, "reviewed": 0,
            "pending": 0, "pending_flags": 0, "confirmed_records": 0, "confirmed_findings": 0,
            "rejected_findings": 0, "appealed_findings": 0, "appeals_open": 0, "appeals_upheld": 0,
            "amount_flagged_yuan": 0.0, "amount_gross_yuan": 0.0, "amount_yuan": 0.0}


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


def _rule_row(rule_id: str, stored_name: str | None) -> dict:
    info = review.rule_info(rule_id) or {}
    return {"rule_id": rule_id, "rule_name": info.get("rule_name") or stored_name,
            "rule_class": info.get("rule_class"), "legal_basis": info.get("legal_basis"),
            "national": bool(info.get("national"))}


def headline(batch: dict) -> str:
    """The report's first sentence, in the words the bureau uses."""
    return (f"共审核病历 {batch['processed']} 份，发现违规病例 {batch['confirmed_records']} 份，"
            f"涉及违规费用 {batch['amount_yuan'] / 10000.0:,.2f} 万元")


def pending_warning(batch: dict) -> str | None:
    """What is still undecided, said before any figure is read as final (None when nothing is)."""
    parts = []
    if batch["pending_flags"]:
        parts.append(f"尚有 {batch['pending_flags']} 条疑点（涉及 {batch['pending']} 份病历）未经审核确认")
    if batch["appeals_open"]:
        parts.append(f"{batch['appeals_open']} 条已确认违规正在申诉中")
    if batch["in_progress"]:
        parts.append(f"{batch['in_progress']} 份病历尚在处理中")
    if not parts:
        return None
    return "；".join(parts) + "。以下违规病例数与金额仅含已确认部分，审核完成前不是最终结果。"


def collect(db, *, batch_name: str | None = None, hospital_names: dict | None = None) -> dict:
    """All figures of the report as plain data (numbers in 元 and 万元; no patient data).

    ``hospital_names`` (hospital id -> name, from the report settings) replaces the stored names."""
    flags = list(db.query(
        "SELECT f.id, f.record_id, f.rule_id, f.rule_name, f.category, f.knowledge, f.amount, f.charge_ids,"
        " f.source, r.hospital_id, r.admission_no FROM flags f JOIN records r ON r.id = f.record_id ORDER BY f.id"))
    states = review.decided_states(db, flags)
    confirmed = money.counted(db, flags, states)
    flagged = money.counted(db, flags, states, states_counted=("pending", "confirmed", "rejected", "appeal_upheld"))
    stored_names = {f["rule_id"]: f["rule_name"] for f in flags if f["rule_name"]}

    hospitals = {r["id"]: r["name"] for r in db.query("SELECT id, name FROM hospitals ORDER BY id")}
    for hid in (r[0] for r in db.execute("SELECT DISTINCT hospital_id FROM records")):
        hospitals.setdefault(hid, None)
    for hid, name in (hospital_names or {}).items():
        if hid in hospitals:
            hospitals[hid] = name

    batch = _empty_scope()
    batch.update(_coverage(db))
    per_hosp = {}
    for hid in hospitals:
        per_hosp[hid] = _empty_scope()
        per_hosp[hid].update(_coverage(db, hid))

    def rule_acc():
        return {"flags": 0, "records": set(), "confirmed": 0, "rejected": 0, "pending": 0, "appeal_upheld": 0,
                "amount_flagged_yuan": 0.0, "amount_gross_yuan": 0.0, "amount_yuan": 0.0}

    per_rule: dict[str, dict] = defaultdict(rule_acc)
    per_class: dict[str, dict] = defaultdict(lambda: {**rule_acc(), "national": False})
    per_hosp_rule: dict = defaultdict(lambda: defaultdict(rule_acc))
    record_states: dict[int, list[review.FlagState]] = defaultdict(list)
    record_hosp: dict[int, str | None] = {}
    appealed: list[dict] = []
    for f in flags:
        st = states[f["id"]]
        if st.state == "withdrawn":
            continue
        record_states[f["record_id"]].append(st)
        record_hosp[f["record_id"]] = f["hospital_id"]
        rule_id = st.rule_id or f["rule_id"]
        kn = _knowledge(f["knowledge"])
        info = review.rule_info(rule_id) or {}
        cls = rule_class(kn, info.get("rule_class") or f["category"]) if rule_id == f["rule_id"] else (
            info.get("rule_class") or f["category"] or "未分类")
        hs = per_hosp[f["hospital_id"]]
        accs = (per_rule[rule_id], per_class[cls], per_hosp_rule[f["hospital_id"]][rule_id])
        per_class[cls]["national"] = per_class[cls]["national"] or kn is not None or bool(info.get("national"))
        fl = flagged[f["id"]].counted
        for acc in accs:
            acc["flags"] += 1
            acc["records"].add(f["record_id"])
            acc["amount_flagged_yuan"] += fl
        for scope in (batch, hs):
            scope["amount_flagged_yuan"] += fl
        if st.appeal:
            appealed.append({"flag_id": f["id"], "hospital_id": f["hospital_id"], "record_id": f["record_id"],
                             "admission_no": f["admission_no"],
                             **_rule_row(rule_id, stored_names.get(rule_id)),
                             "amount_yuan": round(review.effective_amount(f, st), 2),
                             "appeal": review.appeals.APPEAL_LABELS.get(st.appeal, st.appeal)})
            for scope in (batch, hs):
                scope["appealed_findings"] += 1
                scope["appeals_open"] += st.appeal == "filed"
                scope["appeals_upheld"] += st.appeal == "upheld"
        if st.state == "confirmed":
            c = confirmed[f["id"]]
            for acc in accs:
                acc["confirmed"] += 1
                acc["amount_yuan"] += c.counted
                acc["amount_gross_yuan"] += c.gross
            for scope in (batch, hs):
                scope["confirmed_findings"] += 1
                scope["amount_yuan"] += c.counted
                scope["amount_gross_yuan"] += c.gross
        elif st.state in ("rejected", "appeal_upheld"):
            key = "rejected" if st.state == "rejected" else "appeal_upheld"
            for acc in accs:
                acc[key] += 1
            if st.state == "rejected":
                for scope in (batch, hs):
                    scope["rejected_findings"] += 1
        else:
            for acc in accs:
                acc["pending"] += 1
            for scope in (batch, hs):
                scope["pending_flags"] += 1

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

    def rule_rows(acc_by_rule: dict) -> list[dict]:
        rows = []
        for rule_id, pr in acc_by_rule.items():
            rows.append({
                **_rule_row(rule_id, stored_names.get(rule_id)), "flags": pr["flags"],
                "records_flagged": len(pr["records"]), "confirmed": pr["confirmed"], "rejected": pr["rejected"],
                "pending": pr["pending"], "appeal_upheld": pr["appeal_upheld"],
                "amount_flagged_yuan": round(pr["amount_flagged_yuan"], 2),
                "amount_gross_yuan": round(pr["amount_gross_yuan"], 2),
                "overlap_yuan": round(pr["amount_gross_yuan"] - pr["amount_yuan"], 2),
                "amount_yuan": round(pr["amount_yuan"], 2), "amount_wan": _wan(pr["amount_yuan"]),
            })
        rows.sort(key=lambda r: (-r["confirmed"], -r["amount_yuan"], -r["flags"], r["rule_id"]))
        return rows

    def finish(scope: dict, rules_here: list[dict]) -> dict:
        for k in ("amount_yuan", "amount_flagged_yuan", "amount_gross_yuan"):
            scope[k] = round(scope[k], 2)
        scope["overlap_yuan"] = round(scope["amount_gross_yuan"] - scope["amount_yuan"], 2)
        scope["amount_wan"] = _wan(scope["amount_yuan"])
        scope["amount_flagged_wan"] = _wan(scope["amount_flagged_yuan"])
        scope["top_rules"] = [{k: r[k] for k in ("rule_id", "rule_name", "confirmed", "amount_yuan", "amount_wan")}
                              for r in rules_here if r["confirmed"]][:TOP_RULES]
        return scope

    rules = rule_rows(per_rule)
    classes = sorted(({"rule_class": name, "national": pc["national"], "flags": pc["flags"],
                       "records_flagged": len(pc["records"]), "confirmed": pc["confirmed"],
                       "amount_flagged_yuan": round(pc["amount_flagged_yuan"], 2),
                       "amount_gross_yuan": round(pc["amount_gross_yuan"], 2),
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
    batch = {"name": batch_name, **finish(batch, rules)}
    return {
        "batch": batch,
        "headline": headline(batch),
        "pending_warning": pending_warning(batch),
        "coverage": {
            "inputs": inputs,
            "failed_reasons": _failed_reasons(db),
            "complete": complete,
            "statement": coverage_statement(batch, inputs, complete),
        },
        "hospitals": [{"hospital_id": hid, "name": name,
                       **finish(per_hosp[hid], hrules := rule_rows(per_hosp_rule[hid])), "rules": hrules}
                      for hid, name in hospitals.items()],
        "rules": rules,
        "rule_classes": classes,
        "appeals": appealed,
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


def findings(db, *, hospital_names: dict | None = None) -> list[dict]:
    """Confirmed findings (``pipeline.review.confirmed_findings``) with their evidence text (each
    line once), page references and the patient fields the masking step acts on."""
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
    hospitals = {**dict(db.execute("SELECT id, name FROM hospitals").fetchall()), **(hospital_names or {})}
    out = []
    for r in rows:
        ev = evidence.get(r["flag_id"], [])
        seen: set = set()
        ev = [e for e in ev if not ((key := (e.get("page_no"), e.get("text"))) in seen or seen.add(key))]
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
