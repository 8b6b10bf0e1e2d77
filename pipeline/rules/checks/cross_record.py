"""Cross-record rules over all stays of one patient (linked by records.patient_key across
records and hospitals): 分解住院 (readmission for the same disease category within a window)
and 同时住院 (overlapping stays). Each record contributes a small Stay summary (computed with
its other rules, stored in the `stays` table), so these rules need no record text at batch end.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field

from pipeline.dates import parse_datetime
from pipeline.record.view import Evidence, RecordView
from pipeline.rules.flags import Flag
from pipeline.rules.knowledge import find_terms, icd_matches, norm


@dataclass
class Stay:
    record_id: int
    patient_key: str | None
    hospital_id: str | None
    admit_at: str | None
    discharge_at: str | None
    main_code: str | None = None
    main_name: str | None = None
    total_cost: float = 0.0
    planned_cycle: str | None = None      # the term/code showing a planned treatment cycle
    emergency: str | None = None          # the phrase showing an emergency admission
    transfer: str | None = None           # discharge mode / phrase showing a transfer
    readmission_plan: str | None = None   # 31天内再住院计划 when 有
    evidence: list[dict] = field(default_factory=list)   # admit/discharge/main diagnosis lines
    admission_route: str | None = None    # 入院途径 of the 病案首页
    workup: dict = field(default_factory=dict)   # {amount, charge_ids}: tests and exams of the first days

    def to_row(self, dumps) -> dict:
        row = asdict(self)
        row["evidence"] = dumps(self.evidence)
        row["workup"] = dumps(self.workup)
        return row


# 分解住院的涉及金额 (amount_basis workup): 连续住院不会再做一次的入院检查检验, 即第二次住院前
# workup_days 个日历日内的化验费、检查费 (rules README)。
WORKUP_CATEGORIES = ("化验费", "检查费")
WORKUP_DAYS = 2


def workup(view: RecordView, days: int = WORKUP_DAYS, categories=WORKUP_CATEGORIES) -> dict:
    """Amount and charge ids of the stay's admission workup: tests and exams of its first days."""
    admit = view.admit
    if not admit:
        return {"amount": 0.0, "charge_ids": []}
    lines = [c for c in view.billed() if (c.category or "") in categories and c.day() is not None
             and 0 <= (c.day() - admit.date()).days < days]
    return {"amount": round(sum(c.amount for c in lines), 2), "charge_ids": [c.id for c in lines]}


def stay_from_view(view: RecordView, kb: dict) -> Stay:
    pc = kb["planned_cycles"]
    main = view.field("main_diagnosis")
    ev = [view.field_evidence(f).to_dict() for f in (view.field("admit_at"), view.field("discharge_at"), main) if f]
    # only what says why this stay began: real narrative recalls earlier courses and emergency visits
    reason = [s for s in view.sections if s.name in (pc.get("reason_sections") or ())]
    planned = None
    for f in view.fields:
        if f.name in ("main_diagnosis", "other_diagnosis", "procedure") and icd_matches(f.code, pc["icd"]):
            planned = f"{f.value}({f.code})"
            break
    if planned is None:
        hit = find_terms(view, pc["terms"], sections=reason)
        planned = hit.what if hit else None
    if planned is None:
        planned = next((o.content for o in view.orders if any(norm(t) in norm(o.content) for t in pc["terms"])), None)
    route = view.value("admission_route")
    if route:
        emergency = route if any(norm(r) in norm(route) for r in pc.get("emergency_routes") or ()) else None
    else:
        hit = find_terms(view, pc["emergency_terms"], sections=reason)
        emergency = hit.what if hit else None
    mode = view.value("discharge_mode") or ""
    transfer = mode if any(norm(m) in norm(mode) for m in pc["transfer_discharge_modes"]) else None
    if transfer is None and route and any(norm(r) in norm(route) for r in pc.get("transfer_routes") or ()):
        transfer = route
    if transfer is None:
        hit = find_terms(view, pc.get("transfer_terms") or [], sections=reason)
        transfer = hit.what if hit else None
    plan = view.value("readmission_plan") or ""
    plan = plan if any(norm(plan).startswith(norm(y)) for y in pc.get("readmission_plan_yes") or ["有"]) else None
    return Stay(
        record_id=view.record_id, patient_key=view.patient_key, hospital_id=view.hospital_id,
        admit_at=(view.admit.isoformat(sep=" ", timespec="minutes") if view.admit else None),
        discharge_at=(view.discharge.isoformat(sep=" ", timespec="minutes") if view.discharge else None),
        main_code=main.code if main else None, main_name=main.value if main else None,
        total_cost=view.total_cost(), planned_cycle=planned, emergency=emergency,
        transfer=transfer, readmission_plan=plan or None, evidence=ev, admission_route=route,
        workup=workup(view))


def _by_patient(stays: list[Stay]) -> dict[str, list[Stay]]:
    groups = defaultdict(list)
    for s in stays:
        if s.patient_key and parse_datetime(s.admit_at or "") and parse_datetime(s.discharge_at or ""):
            groups[s.patient_key].append(s)
    for g in groups.values():
        g.sort(key=lambda s: (parse_datetime(s.admit_at), s.record_id))
    return groups


def _ev(stay: Stay) -> list[Evidence]:
    return [Evidence(**e) for e in stay.evidence]


def split_admission(stays: list[Stay], params: dict, kb: dict) -> list[Flag]:
    flags = []
    n = params["category_chars"]
    for group in _by_patient(stays).values():
        for prev, cur in zip(group, group[1:]):
            out, back = parse_datetime(prev.discharge_at), parse_datetime(cur.admit_at)
            gap = (back.date() - out.date()).days
            if not 0 <= gap <= params["window_days"]:
                continue
            if not prev.main_code or not cur.main_code or norm(prev.main_code)[:n].upper() != norm(cur.main_code)[:n].upper():
                continue
            if params["exclude_planned_cycles"] and (cur.planned_cycle or prev.planned_cycle):
                continue
            if params["exclude_emergency"] and cur.emergency:
                continue
            if params["exclude_transfer"] and (prev.transfer or cur.transfer):
                continue
            if params["exclude_readmission_plan"] and prev.readmission_plan:
                continue
            where = "同一医院" if prev.hospital_id == cur.hospital_id else f"另一医院({prev.hospital_id})"
            if params["amount_basis"] == "whole_stay":
                amount, ids, basis = cur.total_cost, [], "第二次住院全部费用"
            else:
                w = cur.workup or {}
                amount, ids, basis = float(w.get("amount") or 0.0), list(w.get("charge_ids") or []), "重复的入院检查检验"
            flags.append(Flag(
                rule_id="", key=f"prev:{prev.record_id}", record_id=cur.record_id,
                reason=(f"出院后第{gap}天因同一疾病({cur.main_code} {cur.main_name})再次入院(入院途径"
                        f"{cur.admission_route or '未载明'})；前次住院在{where}，{out:%Y-%m-%d}出院，诊断{prev.main_code} "
                        f"{prev.main_name}；涉及金额按{basis}计{amount:.2f}元"),
                evidence=_ev(cur) + _ev(prev), charge_ids=ids, amount=amount))
    return flags


def concurrent_stay(stays: list[Stay], params: dict, kb: dict) -> list[Flag]:
    flags = []
    for group in _by_patient(stays).values():
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                a0, a1 = parse_datetime(a.admit_at), parse_datetime(a.discharge_at)
                b0, b1 = parse_datetime(b.admit_at), parse_datetime(b.discharge_at)
                if b0 > a1:
                    break
                overlap = (min(a1, b1).date() - max(a0, b0).date()).days
                if overlap < params["min_overlap_days"] or b0 >= a1:
                    continue
                flags.append(Flag(
                    rule_id="", key=f"with:{a.record_id}", record_id=b.record_id,
                    reason=(f"住院期间({b0:%Y-%m-%d}至{b1:%Y-%m-%d})与同一参保人在{a.hospital_id}的住院"
                            f"({a0:%Y-%m-%d}至{a1:%Y-%m-%d})重叠{overlap}天"),
                    evidence=_ev(b) + _ev(a)))
    return flags


CHECKS = {"split_admission": split_admission, "concurrent_stay": concurrent_stay}

