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

    def to_row(self, dumps) -> dict:
        row = asdict(self)
        row["evidence"] = dumps(self.evidence)
        return row


def stay_from_view(view: RecordView, kb: dict) -> Stay:
    pc = kb["planned_cycles"]
    main = view.field("main_diagnosis")
    ev = [view.field_evidence(f).to_dict() for f in (view.field("admit_at"), view.field("discharge_at"), main) if f]
    planned = None
    for f in view.fields:
        if f.name in ("main_diagnosis", "other_diagnosis", "procedure") and icd_matches(f.code, pc["icd"]):
            planned = f"{f.value}({f.code})"
            break
    if planned is None:
        hit = find_terms(view, pc["terms"])
        planned = hit.what if hit else None
    if planned is None:
        planned = next((o.content for o in view.orders if any(norm(t) in norm(o.content) for t in pc["terms"])), None)
    emergency = find_terms(view, pc["emergency_terms"])
    mode = view.value("discharge_mode") or ""
    transfer = mode if any(norm(m) in norm(mode) for m in pc["transfer_discharge_modes"]) else None
    if transfer is None:
        hit = find_terms(view, pc.get("transfer_terms") or [])
        transfer = hit.what if hit else None
    plan = view.value("readmission_plan") or ""
    plan = plan if any(norm(plan).startswith(norm(y)) for y in pc.get("readmission_plan_yes") or ["有"]) else None
    return Stay(
        record_id=view.record_id, patient_key=view.patient_key, hospital_id=view.hospital_id,
        admit_at=(view.admit.isoformat(sep=" ", timespec="minutes") if view.admit else None),
        discharge_at=(view.discharge.isoformat(sep=" ", timespec="minutes") if view.discharge else None),
        main_code=main.code if main else None, main_name=main.value if main else None,
        total_cost=view.total_cost(), planned_cycle=planned, emergency=emergency.what if emergency else None,
        transfer=transfer, readmission_plan=plan or None, evidence=ev)


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
            flags.append(Flag(
                rule_id="", key=f"prev:{prev.record_id}", record_id=cur.record_id,
                reason=(f"出院后第{gap}天因同一疾病({cur.main_code} {cur.main_name})再次入院；前次住院在{where}，"
                        f"{out:%Y-%m-%d}出院，诊断{prev.main_code} {prev.main_name}"),
                evidence=_ev(cur) + _ev(prev), amount=cur.total_cost))
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

