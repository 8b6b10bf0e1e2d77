"""The DRG side of a synthetic admission (rules in data/drg_coding.yaml): its 首页 codes recoded
to 医保版 through the scheme's tables, 高套分组 injected where it moves the record to a dearer
group (an unsupported MCC, a dearer main diagnosis, an operation coded but not done), a trap on
clean records (a true MCC that a lab value supports), and the DRG truth for labels.jsonl: the
group of what the 首页 codes and of what the record supports, their weights, and the amount
(weight difference × the region's rate).

It draws from its own RNG (``rng_of``), so the rest of an admission does not change with it.
"""
from __future__ import annotations

import functools
import random
from pathlib import Path

import yaml

from pipeline.drg import codes as codes_mod
from pipeline.drg import region as region_mod
from pipeline.drg import scheme as scheme_mod
from pipeline.drg.case import Case
from pipeline.drg.engine import Grouper, Result

from .people import age_on

DATA = Path(__file__).parent / "data" / "drg_coding.yaml"
SEX = {"男": 1, "女": 2}


@functools.cache
def config() -> dict:
    return yaml.safe_load(DATA.read_text(encoding="utf-8"))


@functools.cache
def _tools():
    region = region_mod.load(config()["region"])
    scheme = scheme_mod.load(region.scheme)
    return scheme, region, Grouper(scheme)


def rng_of(seed: int, index: int) -> random.Random:
    return random.Random(f"medreview-synth:{seed}:drg:{index}")


def insurance(code: str, kind: str = "diagnosis") -> str:
    """The 医保版 code of a 国临版 one (itself when it is one already or has no mapping)."""
    scheme = _tools()[0]
    if kind == "diagnosis" and code in config().get("coder_codes", {}):
        return config()["coder_codes"][code]
    return codes_mod.check(scheme, code, kind).code or code


def _named(code: str) -> tuple[str, str]:
    return _tools()[0].diagnosis_names.get(code, code), code


def recode(plan) -> None:
    """Every diagnosis and the operation of the plan in 医保版 codes (names kept as written)."""
    plan.main_dx = (plan.main_dx[0], insurance(plan.main_dx[1]))
    plan.coded_main = (plan.coded_main[0], insurance(plan.coded_main[1]))
    plan.discharge_dx_main = (plan.discharge_dx_main[0], insurance(plan.discharge_dx_main[1]))
    plan.other_dx = [(n, insurance(c)) for n, c in plan.other_dx]
    plan.coded_other = [(n, insurance(c)) for n, c in plan.coded_other]
    if plan.surgery is not None:
        plan.surgery.code = insurance(plan.surgery.code, "procedure")


def _case(plan, slot, dx: list[str], px: list[str]) -> Case:
    person = slot.person
    age = age_on(person.birth, slot.admit_at.date())
    return Case(index=slot.admission_no, sex=SEX.get(person.sex), age=age,
                age_day=(slot.admit_at.date() - person.birth).days, weight=None,
                los=plan.los, leaving_type=1, dx=dx, px=px)


def coded_case(plan, slot) -> Case:
    px = [c for _, c, _ in plan.extra_procedures] + ([plan.surgery.code] if plan.surgery else [])
    return _case(plan, slot, [plan.coded_main[1]] + [c for _, c in plan.coded_other], px)


def true_case(plan, slot) -> Case:
    return _case(plan, slot, [plan.main_dx[1]] + [c for _, c in plan.other_dx], [plan.surgery.code] if plan.surgery else [])


def _weight(r: Result) -> float | None:
    return _tools()[1].weight(r.drg) if r.grouped else None


def _dearer(a: Result, b: Result) -> bool:
    """``a`` is a group dearer than ``b`` under the region's weights."""
    wa, wb = _weight(a), _weight(b)
    return a.drg != b.drg and wa is not None and (wb is None or wa > wb)


def _supported(plan, code: str) -> bool:
    """Whether the course as drawn already supports a diagnosis (``support`` by ICD-10 prefix)."""
    spec = next((v for k, v in config()["support"].items() if code.startswith(k)), None) or {}
    for abbr, (op, value) in (spec.get("labs") or {}).items():
        got = plan.values.get(abbr)
        if got is not None and (got < value if op == "lt" else got > value):
            return True
    return bool(set(spec.get("drugs") or ()) & set(plan.drugs_used)) or plan.cond["id"] in (spec.get("conditions") or ())


def _try_mcc(b, rng) -> tuple | None:
    p, grouper = b.plan, _tools()[2]
    base = grouper.group(coded_case(p, b.slot))
    coded = {c for _, c in p.coded_other} | {p.coded_main[1]}
    for spec in rng.sample(config()["mcc"], len(config()["mcc"])):
        if spec["code"] in coded or _supported(p, spec["code"]):
            continue
        name, code = _named(spec["code"])
        p.coded_other = p.coded_other + [(name, code)]
        if _dearer(grouper.group(coded_case(p, b.slot)), base):
            return ("mcc", f"病案首页其他诊断“{name}”（{code}，MCC）在病历中无诊断依据及相应治疗",
                    [("住院病案首页", f"{name} {code}")])
        p.coded_other = p.coded_other[:-1]
    return None


def _condition_text(cond: dict) -> str:
    """Everything the condition's course may write, to keep a diagnosis it mentions from being
    drawn as one the record does not support."""
    parts = [cond["name"]] + list(cond.get("differential") or []) + list(cond.get("symptoms") or [])
    parts += list(cond.get("signs") or []) + list(cond.get("progress") or []) + list((cond.get("exams") or {}).values())
    return "".join(parts)


def _dearer_mains(p, base: Result, rng) -> list[str]:
    """Main diagnoses of the same MDC and ICD-10 chapter letter whose medical ADRG is dearer
    than the coded group: what a 主要诊断低码高编 picks from."""
    scheme, region, _ = _tools()
    w0 = region.weight(base.drg) or 0.0
    text = _condition_text(p.cond)
    out = []
    for m in scheme.grouping["mdcs"]:
        if m["mdc"] != base.mdc:
            continue
        for a in m["adrgs"]:
            if not ("R" <= a["adrg"][1] <= "Z") or "main_diagnosis_in" not in a["condition"]:
                continue
            if (region.weight(a["drgs"][-1]["drg"]) or 0.0) <= w0:
                continue
            for code in a["condition"]["main_diagnosis_in"]:
                name = scheme.diagnosis_names.get(code, "")
                if code[0] == p.main_dx[1][0] and name and name not in text and "+" not in code:
                    out.append(code)
    return rng.sample(out, min(len(out), 20))


def _try_main(b, rng) -> tuple | None:
    p, grouper = b.plan, _tools()[2]
    base = grouper.group(coded_case(p, b.slot))
    options = [insurance(p.cond["upcode"]["code"])] if p.cond.get("upcode") else []
    options += config()["main_alternates"].get(p.cond["id"], [])
    options = rng.sample(options, len(options))
    if base.grouped:
        options += _dearer_mains(p, base, rng)
    for code in options:
        if code == p.coded_main[1] or _supported(p, code):
            continue
        up = _named(code)
        old = p.coded_main
        p.coded_main = up
        if _dearer(grouper.group(coded_case(p, b.slot)), base):
            if rng.random() < 0.5:
                p.discharge_dx_main = up
            return ("main", f"病案首页主要诊断为“{up[0]}”（{up[1]}），病历中症状、检查、治疗均支持“{p.main_dx[0]}”"
                            f"（{p.main_dx[1]}），无高编诊断依据",
                    [("住院病案首页", f"{up[0]} {up[1]}"), ("入院记录", f"1.{p.admit_dx_lines[0]}")])
        p.coded_main = old
    return None


def _try_procedure(b, rng) -> tuple | None:
    p = b.plan
    if p.surgery is not None or p.last_day < 1:
        return None
    scheme, _, grouper = _tools()
    base = grouper.group(coded_case(p, b.slot))
    if not base.grouped:
        return None
    codes = []
    for m in scheme.grouping["mdcs"]:
        if m["mdc"] != base.mdc:
            continue
        for a in m["adrgs"]:
            parts = a["condition"].get("all", [a["condition"]])
            lists = [x["main_procedure_in"] for x in parts if "main_procedure_in" in x]
            dx_ok = all(p.coded_main[1] in x["main_diagnosis_in"] for x in parts if "main_diagnosis_in" in x)
            if lists and dx_ok:
                codes += [c for c in lists[0] if c in scheme.code_set("or_procedures") and c in scheme.procedure_names]
    for code in rng.sample(codes, min(len(codes), 40)):
        at = b.at(rng.randint(1, p.last_day), 9, 0, jitter=300)
        p.extra_procedures = [(scheme.procedure_names[code], code, at)]
        if _dearer(grouper.group(coded_case(p, b.slot)), base):
            name = scheme.procedure_names[code]
            return ("procedure", f"病案首页手术操作“{name}”（{code}）无手术记录、医嘱及收费，住院期间未施行",
                    [("住院病案首页", f"{code} {at:%Y-%m-%d} {name}")])
        p.extra_procedures = []
    return None


def upcode(b, rng: random.Random) -> tuple[str, list]:
    """Inject 高套分组 into the plan; (detail, evidence) for the Violation. The kind is kept on the
    plan (``upcoding_kind``) for the DRG truth."""
    kinds = [_try_mcc, _try_main, _try_procedure]
    for attempt in rng.sample(kinds, len(kinds)):
        got = attempt(b, rng)
        if got is not None:
            b.plan.upcoding_kind = got[0]
            return got[1], got[2]
    p = b.plan
    coded = {c for _, c in p.coded_other}
    options = [s for s in config()["mcc"] if s["code"] not in coded and not _supported(p, s["code"])]
    name, code = _named(rng.choice(options)["code"])
    p.coded_other = p.coded_other + [(name, code)]
    p.upcoding_kind = "no_group_change"
    return f"病案首页其他诊断“{name}”（{code}）在病历中无诊断依据及相应治疗", [("住院病案首页", f"{name} {code}")]


def _set_lab(plan, abbr: str, value: float) -> bool:
    """Write ``value`` into the first measured row of ``abbr`` (the admission labs), flagged."""
    for rep in plan.labs:
        for panel in rep.panels:
            for row in panel.rows:
                if row.abbr == abbr and row.ref:
                    lo, hi = (float(x) for x in row.ref.split("-"))
                    decimals = len(row.value.split(".")[1]) if "." in row.value else 0
                    row.value = f"{value:.{decimals}f}"
                    row.flag = "↑" if value > hi else "↓" if value < lo else ""
                    plan.values[abbr] = value
                    return True
    return False


def trap(b, rng: random.Random) -> None:
    """On a clean record (share ``trap_share``): a true MCC supported by a lab value, where it
    moves the group to a dearer one."""
    if rng.random() >= config()["trap_share"]:
        return
    p, grouper = b.plan, _tools()[2]
    base = grouper.group(coded_case(p, b.slot))
    for spec in rng.sample(config()["mcc"], len(config()["mcc"])):
        lab = spec.get("lab_trap")
        if not lab or spec["code"] in {c for _, c in p.coded_other}:
            continue
        if not any(r.abbr == lab["abbr"] for rep in p.labs for panel in rep.panels for r in panel.rows):
            continue
        dx = _named(spec["code"])
        p.coded_other = p.coded_other + [dx]
        if _dearer(grouper.group(coded_case(p, b.slot)), base):
            _set_lab(p, lab["abbr"], rng.uniform(*lab["value"]))
            p.other_dx = p.other_dx + [dx]
            p.drg_trap = f"{dx[0]}（{dx[1]}）由检验 {lab['abbr']} 支持"
            return
        p.coded_other = p.coded_other[:-1]


def truth(plan, slot) -> dict:
    """The DRG truth of the admission for labels.jsonl."""
    region, grouper = _tools()[1], _tools()[2]
    coded = grouper.group(coded_case(plan, slot))
    true = grouper.group(true_case(plan, slot))
    upcoded = _dearer(coded, true)
    amount = region.amount(coded.drg, true.drg) if upcoded else 0.0
    return {"scheme": grouper.scheme.name, "region": region.name, "example_region": region.example,
            "coded": {"status": coded.status, "drg": coded.drg, "name": coded.drg_name, "weight": _weight(coded)},
            "true": {"status": true.status, "drg": true.drg, "name": true.drg_name, "weight": _weight(true)},
            "upcoded": upcoded, "amount": amount or 0.0, "kind": plan.upcoding_kind, "trap": plan.drg_trap}


def extra_procedure_rows(plan, surgeon: str) -> list[list[str]]:
    """首页 procedure-table rows of operations coded but not done."""
    return [[code, f"{at:%Y-%m-%d}", name, surgeon, "—"] for name, code, at in plan.extra_procedures]


def label_procedures(plan) -> list[dict]:
    return [{"name": n, "code": c, "at": f"{at:%Y-%m-%d %H:%M}", "anesthesia": "—", "done": False}
            for n, c, at in plan.extra_procedures]

