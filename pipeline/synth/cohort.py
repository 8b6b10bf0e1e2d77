"""Batch-level plan: which patient, condition, hospital, dates and violations each admission gets.

This is the only step that looks across admissions (readmission pairs share a patient), so it runs
once, serially, from one RNG; everything per admission is then built from its own RNG, which keeps
the output independent of how records are spread over worker processes.
"""
from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from . import knowledge_cases
from .kinds import TYPES
from .people import Hospital, Person, age_on, make_hospitals, make_person
from .slot import Slot
from .violations import applicable

FIRST_DAY = date(2024, 1, 3)
LAST_DAY = date(2024, 11, 30)
SPLIT_WINDOW_DAYS = 15  # DOMAIN.md §2.1: same disease readmitted within 15 days
LEGIT_PAIR_SHARE = 0.06  # share of clean slots that start a legitimate readmission pair


def _weighted(rng: random.Random, items: list, weights: list):
    return rng.choices(items, weights=weights, k=1)[0]


def _pick_condition(rng, cat, hospital: Hospital, *, minor: bool, want=None):
    pool = []
    for c in cat.conditions:
        if bool(c.get("minor")) != minor or c.get("chemo"):
            continue
        if want is not None and not want(c):
            continue
        # township health centres (一级) do not operate beyond minor procedures
        if hospital.level == "一级" and c.get("surgery") and c["id"] not in ("lipoma", "vaginal_delivery"):
            continue
        pool.append(c)
    if not pool:
        return None
    return _weighted(rng, pool, [c["weight"] for c in pool])


def _admit_time(rng, day: date) -> datetime:
    minutes = rng.choice([rng.randint(8 * 60, 12 * 60), rng.randint(13 * 60, 18 * 60), rng.randint(18 * 60, 23 * 60)])
    return datetime.combine(day, time(minutes // 60, minutes % 60))


def _discharge(rng, admit: datetime, los: int) -> datetime:
    minutes = rng.randint(8 * 60 + 30, 11 * 60 + 30)
    return datetime.combine(admit.date() + timedelta(days=los), time(minutes // 60, minutes % 60))


def _person_for(rng, cat, cond, day: date) -> Person:
    sex = cond["sex"] if cond["sex"] in ("男", "女") else rng.choice(("男", "女"))
    age = rng.randint(*cond["age"])
    return make_person(rng, cat, sex=sex, age=age, on=day)


def _draw_types(rng, weights: dict, n_types: int) -> list[str]:
    names = [t for t in TYPES if weights.get(t, 0) > 0]
    out: list[str] = []
    while len(out) < n_types and len(out) < len(names):
        t = _weighted(rng, names, [weights[n] for n in names])
        if t not in out:
            out.append(t)
    return out


def plan_batch(cat, *, records: int, hospitals: int, seed: int, clean_share: float, rates: dict | None) -> tuple[list[Hospital], list[Slot]]:
    rng = random.Random(f"medreview-synth:{seed}:cohort")
    weights = {t: 1.0 for t in TYPES}
    if rates:
        unknown = set(rates) - set(TYPES)
        if unknown:
            raise ValueError(f"unknown violation types in rates: {sorted(unknown)}")
        weights.update({k: float(v) for k, v in rates.items()})
    hosps = make_hospitals(cat, hospitals)
    slots: list[Slot] = []

    def new_slot(cond, hospital, person, admit, los, violations, **kw) -> Slot:
        s = Slot(index=len(slots), hospital=hospital, person=person, condition_id=cond["id"], admit_at=admit,
                 discharge_at=_discharge(rng, admit, los), violations=violations, bed=str(rng.randint(1, 46)), **kw)
        slots.append(s)
        return s

    def single(violations: list[str]) -> None:
        hospital = rng.choice(hosps)
        minor = "low_standard_admission" in violations
        # 挂床 needs a long medical stay: a surgical course leaves no 3 idle days
        want = (lambda c: not c.get("surgery")) if "bed_hanging" in violations else None
        cond = _pick_condition(rng, cat, hospital, minor=minor, want=want)
        violations = [v if applicable(cat, cond, v) else "duplicate_charge" for v in violations]
        violations = list(dict.fromkeys(violations))
        day = FIRST_DAY + timedelta(days=rng.randint(0, (LAST_DAY - FIRST_DAY).days))
        los = rng.randint(*cond["los"])
        if "bed_hanging" in violations:
            los = max(los, 8)
        person = _person_for(rng, cat, cond, day)
        new_slot(cond, hospital, person, _admit_time(rng, day), los, violations, id_missing=rng.random() < 0.02)

    def pair(kind: str, second_violations: list[str]) -> None:
        hospital = rng.choice(hosps)
        if kind == "planned_chemo":
            cond = cat.conditions_by_id["colon_chemo"]
        else:
            cond = _pick_condition(rng, cat, hospital, minor=False, want=lambda c: c.get("split_ok"))
        day = FIRST_DAY + timedelta(days=rng.randint(0, (LAST_DAY - FIRST_DAY).days - 80))
        los = rng.randint(*cond["los"])
        person = _person_for(rng, cat, cond, day)
        cycle = rng.randint(2, 8)
        first = new_slot(cond, hospital, person, _admit_time(rng, day), los, [], chemo_cycle=cycle if kind == "planned_chemo" else 0)
        if kind == "planned_chemo":
            gap = 14 - los + rng.randint(-1, 1)  # mFOLFOX6 every 14 days, counted from day 1
            first.planned_readmission = f"有，目的：按计划行第{cycle + 1}周期化疗"
            cond2, hospital2 = cond, hospital
        elif kind == "split":
            gap = rng.randint(1, SPLIT_WINDOW_DAYS - 1)
            cond2 = cond
            hospital2 = hospital if len(hosps) == 1 or rng.random() < 0.6 else rng.choice([h for h in hosps if h != hospital])
        elif kind == "emergency":  # same disease within the window, but 急诊新发: excluded (DOMAIN.md §2.1)
            gap = rng.randint(2, SPLIT_WINDOW_DAYS - 2)
            cond2, hospital2 = cond, hospital
        elif kind == "late":
            gap = rng.randint(SPLIT_WINDOW_DAYS + 2, 60)
            cond2, hospital2 = cond, hospital
        else:  # different disease within the window
            gap = rng.randint(2, SPLIT_WINDOW_DAYS - 2)
            chapter = cond["code"][0]
            cond2 = _pick_condition(rng, cat, hospital, minor=False,
                                    want=lambda c: c["code"][0] != chapter and c["sex"] in ("any", person.sex)
                                    and c["age"][0] <= age_on(person.birth, first.discharge_at.date()) <= c["age"][1])
            hospital2 = hospital
            if cond2 is None:  # nobody else fits this patient: make it a late readmission instead
                kind, gap, cond2 = "late", rng.randint(SPLIT_WINDOW_DAYS + 2, 60), cond
        day2 = first.discharge_at.date() + timedelta(days=gap)
        # 入院途径 follows the admission hour (content.py): a split readmission is a planned, daytime
        # one through the clinic; an emergency readmission comes in the evening
        if kind == "split":
            admit2 = datetime.combine(day2, time(rng.randint(8, 16), rng.randint(0, 59)))
        elif kind == "emergency":
            admit2 = datetime.combine(day2, time(rng.randint(18, 22), rng.randint(0, 59)))
        else:
            admit2 = _admit_time(rng, day2)
        los2 = rng.randint(*cond2["los"])
        if "bed_hanging" in second_violations:
            los2 = max(los2, 8)
        second_violations = list(dict.fromkeys(v if applicable(cat, cond2, v) else "duplicate_charge" for v in second_violations))
        second = new_slot(cond2, hospital2, person, admit2, los2, second_violations,
                          chemo_cycle=cycle + 1 if kind == "planned_chemo" else 0)
        second.readmission = {"of_index": first.index, "kind": kind, "gap_days": gap}

    while len(slots) < records:
        remaining = records - len(slots)
        if rng.random() < 1.0 - clean_share:
            types = _draw_types(rng, weights, 2 if rng.random() < 0.2 else 1)
            if "split_admission" in types:
                if remaining < 2:
                    types.remove("split_admission")
                    single(types or ["duplicate_charge"])
                else:
                    pair("split", [t for t in types if t != "low_standard_admission"])
            elif types:
                single(types)
            else:
                single([])
        elif remaining >= 2 and rng.random() < LEGIT_PAIR_SHARE:
            pair(rng.choice(["planned_chemo", "late", "different_disease", "emergency"]), [])
        else:
            single([])

    knowledge_cases.assign(cat, slots, seed=seed, weights=weights)
    serial = {h.id: 0 for h in hosps}
    for s in slots:
        serial[s.hospital.id] += 1
        s.admission_no = f"ZY{s.hospital.number:02d}{s.admit_at:%y}{serial[s.hospital.id]:05d}"
    for s in slots:
        if s.readmission:
            prev = slots[s.readmission["of_index"]]
            s.readmission.update(of=prev.admission_no, prev_hospital=prev.hospital.name, prev_hospital_id=prev.hospital.id,
                                 prev_admit=prev.admit_at, prev_discharge=prev.discharge_at, prev_condition=prev.condition_id)
    return hosps, slots
