"""Per-admission clinical plan: diagnoses, orders, labs, exams, notes, vitals and charges.

The plan is the single source of truth for one admission; the documents (content.py), the claims
rows and the labels are all written from it, so they agree by construction. Violations
(violations.py) edit the plan before anything is written.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from .catalog import FREQ_PER_DAY
from .people import LEVELS, age_on, insurance_of
from .slot import Slot


@dataclass
class Charge:
    at: datetime
    item: str
    code: str
    name: str
    category: str
    unit: str
    qty: int
    price: float
    day: int
    row: int = 0  # 1-based row in the 费用清单 and claims CSV, set by Plan.finalize()

    @property
    def amount(self) -> float:
        return round(self.qty * self.price + 1e-9, 2)


@dataclass
class Order:
    kind: str  # "long" | "temp"
    start: datetime
    text: str
    item: str | None = None
    stop: datetime | None = None


@dataclass
class LabRow:
    name: str
    abbr: str
    value: str
    unit: str
    ref: str
    flag: str  # ↑ / ↓ / ""


@dataclass
class LabPanel:
    item: str
    title: str
    rows: list[LabRow]


@dataclass
class LabReport:
    sampled_at: datetime
    reported_at: datetime
    panels: list[LabPanel]


@dataclass
class ExamReport:
    item: str
    title: str
    label: str
    at: datetime
    finding: str


@dataclass
class Note:
    kind: str  # 日常病程记录 | 上级医师查房记录 | 首次病程记录
    role: str  # first, round_first, round, early, late, postop, discharge, leave_out, leave_back, leave_approved
    at: datetime
    day: int
    text: str = ""  # fixed text (leave notes); others are written by content.py
    pod: int = 0


@dataclass
class DayVitals:
    day: int
    temps: list[str]
    pulse: str
    resp: str
    bp: str
    stool: str
    mark: str
    pod: int | None = None


@dataclass
class Surgery:
    name: str
    code: str
    item: str
    anesthesia: str  # item id
    anesthesia_label: str
    start: datetime
    end: datetime
    day: int
    finding: str
    steps: str


@dataclass
class Plan:
    slot: Slot
    cond: dict
    age: int
    doctors: dict
    nurses: list[str]
    main_dx: tuple[str, str]  # as supported by the record
    coded_main: tuple[str, str]  # as written on the 病案首页 (differs when upcoded)
    other_dx: list[tuple[str, str]]
    coded_other: list[tuple[str, str]]
    discharge_dx_main: tuple[str, str]  # as written in the 出院记录
    comorbid: list[str]
    admit_dx_lines: list[str]
    surgery: Surgery | None = None
    orders: list[Order] = field(default_factory=list)
    labs: list[LabReport] = field(default_factory=list)
    exams: list[ExamReport] = field(default_factory=list)
    charges: list[Charge] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    vitals: list[DayVitals] = field(default_factory=list)
    drugs_used: list[str] = field(default_factory=list)
    absent_days: list[int] = field(default_factory=list)
    leave_day: int | None = None
    admission_note_at: datetime | None = None
    discharge_note_at: datetime | None = None
    readmission_plan: str = "无"
    readmit_text: str = ""
    discharge_mode: str = "医嘱离院"
    fasting: bool = False
    values: dict = field(default_factory=dict)  # lab abbreviation → first measured value
    # DRG side (drg_coding.py): operations coded on the 首页 but not done, the kind of 高套分组
    # injected, the trap written, and the DRG truth for the label
    extra_procedures: list = field(default_factory=list)  # [(name, code, at)]
    upcoding_kind: str | None = None
    drg_trap: str | None = None
    drg: dict | None = None
    insurance: str = "职工"  # 险种: 职工 / 居民 / 工伤 / 生育 (people.INSURANCE_LABELS)
    visit_type: str = "住院"  # 医疗类别 in the claims export: 住院 / 急诊 / 门诊
    plain_prior: bool = False  # 现病史 names no earlier treatment that failed (knowledge_cases)
    knowledge_traps: list = field(default_factory=list)  # uses of the national knowledge that stay clean

    @property
    def los(self) -> int:
        return self.slot.los

    @property
    def readmit_needle(self) -> str:
        """First clause of the readmission sentence: short enough to stay on one drawn line."""
        return self.readmit_text.split("，")[0]

    @property
    def last_day(self) -> int:
        """Last calendar day index that is billed (the discharge day is not)."""
        return self.los - 1

    def day_start(self, day: int) -> datetime:
        return datetime.combine(self.slot.admit_at.date() + timedelta(days=day), time(0, 0))

    def finalize(self) -> None:
        order = {id(c): i for i, c in enumerate(self.charges)}
        self.charges.sort(key=lambda c: (c.at, order[id(c)]))
        for i, c in enumerate(self.charges, 1):
            c.row = i

    @property
    def total_cost(self) -> float:
        return round(sum(c.amount for c in self.charges) + 1e-9, 2)


def order_name(item_name: str) -> str:
    """A test as a doctor orders it: without the method the price list names ('血糖测定')."""
    return re.sub(r"[(（][^)）]*法[)）]$", "", item_name)


def fmt_num(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def _resolve(day: int, last: int) -> int:
    return day if day >= 0 else last + 1 + day


def _person_name(rng: random.Random, cat) -> str:
    ppl = cat.people
    return rng.choice(ppl["surnames"]) + rng.choice(ppl["given_male"] + ppl["given_female"])


class PlanBuilder:
    """Builds the clean plan of one admission from its slot and its own RNG."""

    def __init__(self, slot: Slot, cat, rng: random.Random):
        self.slot, self.cat, self.rng = slot, cat, rng
        self.cond = cat.conditions_by_id[slot.condition_id]
        self.injected: list = []  # violations already applied (violations.inject)
        self.drg_rng = rng        # the DRG coding's own stream (record.py sets it)

    # -- helpers -----------------------------------------------------------------------------
    def at(self, day: int, hour: int, minute: int = 0, jitter: int = 0) -> datetime:
        base = self.plan.day_start(day) + timedelta(hours=hour, minutes=minute)
        if jitter:
            base += timedelta(minutes=self.rng.randint(0, jitter), seconds=self.rng.randint(0, 59))
        return base

    def charge(self, item_id: str, at: datetime, qty: int, day: int) -> Charge:
        item = self.cat.charge_item(item_id)
        # a charge belongs to its calendar day (daily caps are checked per date)
        at = min(at, self.plan.day_start(day + 1) - timedelta(seconds=1))
        c = Charge(at=at, item=item_id, code=item["code"], name=item["name"], category=item["category"],
                   unit=item["unit"], qty=qty, price=float(item["price"]), day=day)
        self.plan.charges.append(c)
        return c

    def billable(self, day: int) -> bool:
        p = self.plan
        return 0 <= day <= p.last_day and day != p.leave_day and day not in p.absent_days

    # -- steps ---------------------------------------------------------------------------------
    def build(self) -> Plan:
        s, cat, rng, cond = self.slot, self.cat, self.rng, self.cond
        age = age_on(s.person.birth, s.admit_at.date())
        comorbid = []
        if not cond.get("peds") and not cond.get("minor"):
            for cid, cm in cat.comorbidities.items():
                if cid in cond["comorbid"] and age >= cm["min_age"] and rng.random() < cm["p"]:
                    comorbid.append(cid)
        other = [(d["name"], d["code"]) for d in cond["other_dx"]]
        other += [(cat.comorbidities[c]["name"], cat.comorbidities[c]["code"]) for c in comorbid]
        if cond["abnormal"].get("K", [9, 9])[1] < 3.5:
            other.append(("低钾血症", "E87.600"))
        main = (cond["name"], cond["code"])
        dx_lines = [self._admit_dx(main[0])] + [o[0] for o in other]
        if cond["uncertain"] and rng.random() < 0.5:
            dx_lines.append(rng.choice(cond["uncertain"]))
        self.plan = Plan(
            slot=s, cond=cond, age=age,
            doctors={"resident": _person_name(rng, cat), "attending": _person_name(rng, cat), "chief": _person_name(rng, cat),
                     "anesthetist": _person_name(rng, cat)},
            nurses=[_person_name(rng, cat) for _ in range(3)],
            main_dx=main, coded_main=main, other_dx=list(other), coded_other=list(other), discharge_dx_main=main,
            comorbid=comorbid, admit_dx_lines=dx_lines, fasting=bool(cond.get("fasting")),
            readmission_plan=s.planned_readmission or "无", insurance=insurance_of(s.person),
        )
        p = self.plan
        p.readmit_text = self._readmit_text()
        if s.planned_readmission is None and not s.violations and p.los >= 8 and rng.random() < 0.05:
            p.leave_day = rng.randint(3, p.last_day - 2)
        self._surgery()
        self._basic_orders()
        self._drugs()
        self._daily_items()
        self._labs_and_exams()
        self._notes()
        self._vitals()
        p.admission_note_at = s.admit_at + timedelta(hours=rng.randint(2, 16), minutes=rng.randint(0, 59))
        p.discharge_note_at = s.discharge_at + timedelta(minutes=rng.randint(20, 180))
        p.orders.append(Order("temp", s.discharge_at - timedelta(minutes=rng.randint(30, 90)), "今日出院"))
        return p

    def _readmit_text(self) -> str:
        r = self.slot.readmission
        if not r or r["kind"] == "planned_chemo":
            return ""
        prev = self.cat.conditions_by_id[r["prev_condition"]]
        hosp = "我院" if r["prev_hospital_id"] == self.slot.hospital.id else r["prev_hospital"]
        gap = (self.slot.admit_at.date() - r["prev_discharge"].date()).days
        tpl = self.rng.choice(self.cat.phrases["readmit_hpi_emergency" if r["kind"] == "emergency" else "readmit_hpi"])
        return tpl.format(gap=f"{gap}天" if gap < 14 else f"{gap // 7}周", prev_dx=prev["name"], prev_hosp=hosp,
                          prev_in=f"{r['prev_admit']:%Y-%m-%d}", prev_out=f"{r['prev_discharge']:%Y-%m-%d}")

    def _admit_dx(self, name: str) -> str:
        if self.cond.get("chemo") or self.rng.random() < 0.7:
            return name
        return self.rng.choice([f"{name}？", f"考虑{name}"])

    def _surgery(self) -> None:
        spec, p, rng = self.cond.get("surgery"), self.plan, self.rng
        if not spec:
            return
        day = min(rng.randint(*spec["day"]), max(0, p.last_day - 1))
        if day == 0:
            start = self.slot.admit_at + timedelta(hours=rng.randint(2, 4), minutes=rng.randint(0, 59))
        else:
            start = self.at(day, 8, 30, jitter=300)
        end = start + timedelta(minutes=rng.randint(*spec["minutes"]))
        anes = self.cat.items[spec["anesthesia"]]
        p.surgery = Surgery(name=spec["name"], code=str(spec["code"]), item=spec["item"], anesthesia=spec["anesthesia"],
                            anesthesia_label=anes.get("label", anes["name"]), start=start, end=end, day=(start.date() - self.slot.admit_at.date()).days,
                            finding=spec["finding"], steps=spec["steps"])
        self.charge(spec["item"], end + timedelta(minutes=5), 1, p.surgery.day)
        self.charge(spec["anesthesia"], end + timedelta(minutes=6), 1, p.surgery.day)
        for m in spec.get("materials", []):
            self.charge(m, end + timedelta(minutes=7), 1, p.surgery.day)
        p.orders.append(Order("temp", start - timedelta(hours=rng.randint(3, 16)), f"拟于{start:%m月%d日}在{p.surgery.anesthesia_label}下行{spec['name']}"))
        if p.surgery.anesthesia in ("anes_general", "anes_spinal"):
            p.orders.append(Order("temp", start - timedelta(hours=rng.randint(8, 12)), "术前禁食水8小时"))

    def _basic_orders(self) -> None:
        p, s, cond, rng = self.plan, self.slot, self.cond, self.rng
        start = s.admit_at + timedelta(minutes=rng.randint(15, 50))
        nursing = self.cat.items[cond["nursing"]]
        p.orders.append(Order("long", start, nursing["name"], item=cond["nursing"], stop=s.discharge_at))
        diet = cond["diet"]
        if diet == "禁食":
            fast_end = min(p.last_day, rng.randint(2, 4))
            p.orders.append(Order("long", start, "禁食", stop=self.at(fast_end, 8, 0, jitter=60)))
            p.orders.append(Order("long", self.at(fast_end, 8, 10, jitter=60), rng.choice(["流质饮食", "半流质饮食"]), stop=s.discharge_at))
        else:
            p.orders.append(Order("long", start, diet, stop=s.discharge_at))
        p.orders.append(Order("long", start, "测T、P、R、BP qd" if not cond.get("peds") else "测体温 q4h", stop=s.discharge_at))
        for day in range(0, p.last_day + 1):
            if not self.billable(day):
                continue
            t = s.admit_at + timedelta(minutes=10) if day == 0 else self.at(day, 0, 5)
            self.charge("bed_general", t, 1, day)
            self.charge(cond["nursing"], t + timedelta(seconds=20), 1, day)
            self.charge("visit_fee", t + timedelta(seconds=40), 1, day)

    def add_drug(self, drug_id: str, first: int, last: int, start_at: datetime | None = None) -> list[Charge]:
        """Long-term drug order with its daily charges (drug, diluent, administration, materials)."""
        p, rng, drug = self.plan, self.rng, self.cat.drugs[drug_id]
        start = start_at or (self.slot.admit_at + timedelta(minutes=rng.randint(30, 90)) if first == 0 else self.at(first, 8, 0, jitter=90))
        if start >= p.day_start(first + 1):  # ordered after midnight: first dose belongs to the next day
            first += 1
        stop = self.slot.discharge_at if last >= p.last_day else self.at(last + 1, 8, 0, jitter=60)
        text = f"{drug['name']} {drug['dose']} {drug['route']} {drug['freq']}"
        p.orders.append(Order("long", start, text, item=drug_id, stop=stop))
        diluent = drug.get("diluent")
        if diluent:
            dil = self.cat.drugs[diluent]
            p.orders.append(Order("long", start + timedelta(seconds=1), f"{dil['name']} {dil['dose']} {drug['route']} {drug['freq']}", item=diluent, stop=stop))
        p.drugs_used.append(drug_id)
        per_day = FREQ_PER_DAY[drug["freq"]]
        out = []
        for day in range(first, last + 1):
            if not self.billable(day):
                continue
            t = max(start + timedelta(minutes=10), self.at(day, 8, 0, jitter=120))
            out.append(self.charge(drug_id, t, per_day * drug["units"], day))
            if diluent:
                self.charge(diluent, t + timedelta(seconds=5), per_day, day)
            self._admin_counts.setdefault(day, {}).setdefault(drug["route"], [0, t])
            self._admin_counts[day][drug["route"]][0] += per_day
        return out

    def _drugs(self) -> None:
        p, cond = self.plan, self.cond
        self._admin_counts: dict[int, dict] = {}
        for d in cond["drugs"]:
            first, last = _resolve(d["days"][0], p.last_day), min(_resolve(d["days"][1], p.last_day), p.last_day)
            if first > p.last_day or last < first:
                continue
            self.add_drug(d["id"], first, last)
        for cid in p.comorbid:
            drug = self.cat.comorbidities[cid].get("drug")
            if drug and drug not in p.drugs_used:
                self.add_drug(drug, 0, p.last_day)
        support = self.cat.supportive.get(cond["dept"])
        if support and not cond.get("minor") and not cond.get("chemo") and self.rng.random() < support["p"]:
            # a township centre does not give the injections the national rules keep to 二级 and above
            level = LEVELS[self.slot.hospital.level]
            drugs = [d for d in support["drugs"] if LEVELS[self.cat.drugs[d].get("min_level", "一级")] <= level]
            if drugs:
                self.add_drug(self.rng.choice(drugs), 0, max(0, p.last_day - self.rng.randint(0, 2)))
        self.administration_charges()

    def administration_charges(self, days: list[int] | None = None) -> None:
        """Infusion/injection service fees and IV materials for the doses charged per day."""
        for day in sorted(self._admin_counts) if days is None else days:
            routes = self._admin_counts.get(day, {})
            if "ivgtt" in routes:
                n, t = routes["ivgtt"]
                t = t + timedelta(minutes=1)
                # a drug added later (violations) joins the day's infusion as extra groups
                if any(c.item == "iv_drip" and c.day == day for c in self.plan.charges):
                    self.charge("iv_drip_add", t, n, day)
                else:
                    self.charge("iv_drip", t, 1, day)
                    if n > 1:
                        self.charge("iv_drip_add", t + timedelta(seconds=10), n - 1, day)
                    self.charge("infusion_set", t + timedelta(seconds=20), 1, day)
                    if day % 3 == 0:
                        self.charge("iv_cannula", t + timedelta(seconds=30), 1, day)
            for route, item in (("iv", "iv_push"), ("im", "im_inject"), ("ih", "sc_inject"), ("雾化吸入", "nebulize")):
                if route in routes:
                    n, t = routes[route]
                    self.charge(item, t + timedelta(minutes=2), n, day)
        self._admin_counts = {}

    def _daily_items(self) -> None:
        p = self.plan
        for d in self.cond["daily"]:
            first, last = _resolve(d["days"][0], p.last_day), min(_resolve(d["days"][1], p.last_day), p.last_day)
            item = self.cat.items[d["item"]]
            if first > p.last_day or last < first:
                continue
            start = self.slot.admit_at + timedelta(minutes=self.rng.randint(20, 60)) if first == 0 else self.at(first, 8, 30, jitter=60)
            if start >= p.day_start(first + 1):
                first += 1
            qty_text = f" {d['qty']}小时/日" if item["unit"] == "小时" else ""
            name = {"oxygen": "持续低流量吸氧", "ecg_monitor": "心电监测"}.get(d["item"], item["name"])
            stop = self.slot.discharge_at if last >= p.last_day else self.at(last + 1, 8, 0, jitter=60)
            p.orders.append(Order("long", start, f"{name}{qty_text}", item=d["item"], stop=stop))
            for day in range(first, last + 1):
                if not self.billable(day):
                    continue
                qty = d["qty"]
                if day == 0 and item["unit"] == "小时":
                    qty = min(qty, max(1, 23 - self.slot.admit_at.hour))
                self.charge(d["item"], max(start, self.at(day, 9, 0, jitter=60)), qty, day)

    def lab_panel(self, item_id: str, progress: float = 0.0) -> LabPanel:
        """Result rows; progress 0 = admission values, 1 = back to normal."""
        rng, cond, p = self.rng, self.cond, self.plan
        rows = []
        for spec in self.cat.panels[self.cat.items[item_id]["panel"]]:
            if isinstance(spec, dict):
                abn = spec["abbr"] in cond["abnormal"] and progress < 0.5
                options = spec["text"]
                value = options[1] if abn and len(options) > 1 else (options[0] if len(options) <= 2 else rng.choice(options))
                rows.append(LabRow(spec["name"], spec["abbr"], value, "", options[0] if len(options) <= 2 else "", "↑" if abn else ""))
                continue
            name, abbr, unit, lo, hi, dec = spec
            normal = rng.uniform(lo + (hi - lo) * 0.15, hi - (hi - lo) * 0.15)
            if abbr in cond["abnormal"]:
                a, b = cond["abnormal"][abbr]
                start = p.values.get(abbr, rng.uniform(a, b))
                value = start * (1 - progress) + normal * progress if progress < 1 else normal
            else:
                value = normal
            text = fmt_num(value, dec)
            v = float(text)
            flag = "↑" if v > hi else ("↓" if v < lo else "")
            p.values.setdefault(abbr, value)
            rows.append(LabRow(name, abbr, text, unit, f"{fmt_num(lo, dec)}-{fmt_num(hi, dec)}", flag))
        item = self.cat.items[item_id]
        return LabPanel(item_id, item["name"], rows)

    def add_labs(self, items: list[str], sampled: datetime, day: int, progress: float = 0.0) -> tuple[LabReport, list[Charge]]:
        rng = self.rng
        panels = [self.lab_panel(i, progress) for i in items]
        report = LabReport(sampled, sampled + timedelta(hours=rng.randint(1, 5), minutes=rng.randint(0, 59)), panels)
        self.plan.labs.append(report)
        charges = []
        for i in items:
            self.plan.orders.append(Order("temp", self.order_time(sampled, 20, 60), order_name(self.cat.items[i]["name"]), item=i))
            charges.append(self.charge(i, sampled + timedelta(minutes=1), 1, day))
        if not any(c.item == "blood_draw" and c.day == day and c.at == sampled for c in self.plan.charges):
            self.charge("blood_draw", sampled, 1, day)
        return report, charges

    def add_exam(self, item_id: str, finding: str, at: datetime, day: int) -> tuple[ExamReport, Charge]:
        item = self.cat.items[item_id]
        rep = ExamReport(item_id, item["name"], item.get("label", item["name"]), at, finding)
        self.plan.exams.append(rep)
        self.plan.orders.append(Order("temp", self.order_time(at, 10, 120), item["name"], item=item_id))
        return rep, self.charge(item_id, at, 1, day)

    def order_time(self, done: datetime, lo: int, hi: int) -> datetime:
        """An order placed before `done` but never before the patient arrived."""
        earliest = self.slot.admit_at + timedelta(minutes=3)
        return max(min(earliest, done), done - timedelta(minutes=self.rng.randint(lo, hi)))

    def admission_lab_time(self) -> tuple[datetime, int]:
        a = self.slot.admit_at
        if a.hour < 16:
            return a + timedelta(minutes=self.rng.randint(30, 120)), 0
        return self.at(1, 6, 0, jitter=60), 1

    def _labs_and_exams(self) -> None:
        p, cond, rng, s = self.plan, self.cond, self.rng, self.slot
        labs = list(cond["labs"])
        for cid in p.comorbid:
            for extra in self.cat.comorbidities[cid].get("labs", []):
                if extra not in labs:
                    labs.append(extra)
        if p.surgery:
            for extra in ("blood_type", "hbsag", "coag"):
                if extra not in labs:
                    labs.append(extra)
        sampled, day = self.admission_lab_time()
        self.add_labs(labs, sampled, day)
        if p.los >= 5:
            re_day = max(2, min(p.last_day, int(p.los * 0.6)))
            if re_day != p.leave_day:
                again = [i for i in ("cbc", "crp", "electrolytes") if i in labs][:2]
                self.add_labs(again, self.at(re_day, 6, 0, jitter=60), re_day, progress=0.85)
        for item_id, finding in cond["exams"].items():
            if item_id == "ecg":
                at, day = s.admit_at + timedelta(minutes=rng.randint(20, 60)), 0
            elif item_id == "coronary_angio" and p.surgery:
                at, day = p.surgery.start + timedelta(minutes=10), p.surgery.day
            else:
                day = 0 if s.admit_at.hour < 14 else 1
                day = min(day, p.last_day)
                at = self.at(day, max(9, s.admit_at.hour + 1) if day == 0 else 9, 0, jitter=240)
            self.add_exam(item_id, finding, at, day)

    def _notes(self) -> None:
        p, s, rng = self.plan, self.slot, self.rng
        notes = [Note("首次病程记录", "first", s.admit_at + timedelta(hours=rng.randint(1, 5), minutes=rng.randint(0, 59)), 0)]
        days = {1, 2, 3} | set(range(5, p.last_day + 1, 2)) | {p.last_day}
        if p.surgery:
            days |= {p.surgery.day + k for k in (1, 2, 3)}
        chief_day = 2 if rng.random() < 0.6 else 3
        for day in sorted(d for d in days if 1 <= d <= p.last_day):
            if day == p.leave_day:
                continue
            at = self.at(day, 8, 20, jitter=150)
            if day == 1:
                notes.append(Note("上级医师查房记录", "round_first", at, day))
            elif day == chief_day or (day % 7 == 0):
                notes.append(Note("上级医师查房记录", "round", at, day))
            elif p.surgery and 0 < day - p.surgery.day <= 3:
                notes.append(Note("日常病程记录", "postop", at, day, pod=day - p.surgery.day))
            else:
                role = "early" if day <= 3 or day < p.los * 0.4 else "late"
                notes.append(Note("日常病程记录", role, at, day))
        if p.surgery:
            notes.append(Note("日常病程记录", "postop", p.surgery.end + timedelta(minutes=rng.randint(20, 90)), p.surgery.day, pod=0))
        if p.leave_day is not None:
            d = p.leave_day - 1
            notes.append(Note("日常病程记录", "leave_approved", self.at(d, 16, 0, jitter=120), d,
                              text=rng.choice(self.cat.phrases["leave_approved"])))
            p.orders.append(Order("temp", self.at(d, 17, 0, jitter=30), "请假1天（已审批）"))
        notes.append(Note("日常病程记录", "discharge", s.discharge_at - timedelta(minutes=rng.randint(40, 120)), p.los))
        notes.sort(key=lambda n: n.at)
        p.notes = notes

    def _vitals(self) -> None:
        p, cond, rng = self.plan, self.cond, self.rng
        v = cond["vitals"]
        out = []
        for day in range(0, p.los + 1):
            frac = min(1.0, day / max(2.0, p.los * 0.45))
            def val(key, normal):
                lo, hi = v[key]
                return rng.uniform(lo, hi) * (1 - frac) + rng.uniform(*normal) * frac
            n_t = 3 if day <= 2 else 1
            temps = [f"{val('t', (36.3, 36.9)) - 0.2 * k * (1 - frac):.1f}" for k in range(n_t)]
            mark = ""
            if day == 0:
                mark = f"入院{p.slot.admit_at:%H:%M}"
            elif day == p.los:
                mark = f"出院{p.slot.discharge_at:%H:%M}"
            pod = None
            if p.surgery and day >= p.surgery.day:
                pod = day - p.surgery.day
                if pod == 0:
                    mark = (mark + " " if mark else "") + "手术"
                elif pod > 14:
                    pod = None
            if day == p.leave_day:
                out.append(DayVitals(day, [], "", "", "", "", "请假", pod))
                continue
            out.append(DayVitals(day, temps, str(round(val("p", (68, 88)))), str(round(val("r", (16, 20)))),
                                 f"{round(val('sbp', (110, 135)))}/{round(val('dbp', (65, 85)))}", str(rng.randint(0, 2)), mark, pod))
        p.vitals = out


def build_plan(slot: Slot, cat, rng: random.Random) -> PlanBuilder:
    builder = PlanBuilder(slot, cat, rng)
    builder.build()
    return builder
