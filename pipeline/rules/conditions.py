"""A parsed restriction checked against a record: each condition found, not found, or not judged
(a value the record does not give), with its evidence. The kinds the knowledge tables use (icd,
terms, lab, orders, long_orders, charges) go through ``knowledge.condition_hit``; the kinds the
national restrictions add are read here: age (bounds in 岁, 月 or 日), sex, hospital level,
inpatient, insurance, an earlier treatment (prior_treatment) and a named test (test). A
diagnosis's ICD codes are also looked for among the diseases the normalizer coded in the notes
(``entities``), and its names among the diagnoses written without a code. Keys of one condition
are alternatives (any one found is enough, as in the knowledge tables); an alternative holds when
all its conditions do. ``kind`` and ``label`` (the parser's name for the condition and its words)
only describe it."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from pipeline.dates import parse_datetime
from pipeline.record.view import Evidence, RecordView
from pipeline.rules import facts
from pipeline.rules.knowledge import CONDITION_KEYS, condition_hit, diagnosis_fields, find_terms, icd_matches, norm

NEW_KEYS = ("age", "sex", "level", "inpatient", "insurance", "prior_treatment", "test")
KEYS = tuple(sorted(CONDITION_KEYS)) + NEW_KEYS
META_KEYS = ("kind", "label")
_KINDS = {"diagnosis": "诊断", "age": "年龄", "sex": "性别", "insurance": "险种", "lab": "检验", "test": "检查",
          "prior_treatment": "既往治疗", "treatment": "合并治疗", "severity": "病情", "signs": "体征"}
_UNIT_DAYS = {"岁": 365.25, "月": 30.44, "日": 1.0}
_OPS = {"lt": ("<", lambda a, b: a < b), "le": ("≤", lambda a, b: a <= b), "lte": ("≤", lambda a, b: a <= b),
        "gt": (">", lambda a, b: a > b), "ge": ("≥", lambda a, b: a >= b), "gte": ("≥", lambda a, b: a >= b),
        "eq": ("=", lambda a, b: a == b)}
_LEVEL = {"一级": 1, "二级": 2, "三级": 3}


@dataclass
class Finding:
    """One condition on one record: ``found`` True / False, or None when it could not be judged."""

    condition: dict
    found: bool | None
    what: str
    evidence: Evidence | None = None

    def to_dict(self) -> dict:
        return {"condition": self.condition, "found": self.found, "what": self.what,
                "evidence": self.evidence.to_dict() if self.evidence else None}


@dataclass
class Judgement:
    """``holds``: some alternative holds (True), none can (False), or none holds but some could
    not be judged (None); ``findings``: the holding alternative's, else every alternative's."""

    holds: bool | None
    findings: list[Finding] = field(default_factory=list)


def describe(cond: dict) -> str:
    """A condition in words (Chinese), for reasons and the case page."""
    if cond.get("label") and cond.get("kind") in _KINDS:
        codes = f"({'/'.join(cond['icd'][:6])})" if cond.get("icd") else ""
        return f"{_KINDS[cond['kind']]}“{cond['label']}”{codes}"
    parts = []
    for k, v in cond.items():
        if k in META_KEYS:
            continue
        if k == "icd":
            parts.append(f"诊断编码 {'/'.join(v)}")
        elif k == "terms":
            parts.append(f"病历记载“{'/'.join(v)}”")
        elif k == "lab":
            parts.append(f"检验{v['item']}异常" if v.get("abnormal") else
                         f"检验{v['item']}{_OPS.get(v.get('op'), ('?',))[0]}{v.get('value')}")
        elif k in ("orders", "long_orders"):
            parts.append(f"{'长期' if k == 'long_orders' else ''}医嘱“{'/'.join(v)}”")
        elif k == "charges":
            parts.append(f"收费“{'/'.join(v)}”")
        elif k == "age":
            parts.append("年龄" + "且".join(f"{_OPS.get(b.get('op'), ('?',))[0]}{b.get('value')}{b.get('unit', '岁')}"
                                            for b in _bounds(v)))
        elif k == "sex":
            parts.append(f"{v}性")
        elif k == "level":
            parts.append(f"{v}及以上医疗机构")
        elif k == "inpatient":
            parts.append("住院" if v else "非住院")
        elif k == "insurance":
            parts.append(f"{v}保险")
        elif k == "prior_treatment":
            parts.append(f"既往/先前使用“{'/'.join(v)}”")
        elif k == "test":
            parts.append(f"已做检查“{'/'.join(v)}”")
        else:
            parts.append(f"{k}={v}")
    return " 或 ".join(parts)


def _before(at: str | None, first_use: dt.date | None) -> bool:
    if first_use is None:
        return True
    d = parse_datetime(at or "")
    return d is None or d.date() < first_use


def _contains(text: str | None, names) -> str | None:
    t = norm(text)
    return next((n for n in names if norm(n) and norm(n) in t), None)


def _prior(view: RecordView, names, first_use: dt.date | None, mask) -> tuple[Evidence, str] | None:
    """An earlier treatment: an order or a charge before the first use, or a mention in the notes."""
    for o in view.orders:
        if _contains(o.content, names) and _before(o.start_at, first_use):
            return view.evidence(line_id=o.line_id, page_id=o.page_id, text=o.content,
                                 document="长期医嘱单" if o.kind == "long" else "临时医嘱单"), o.content
    for c in view.billed():
        if _contains(c.item_name, names) and _before(c.at, first_use) and c.at:
            return view.charge_evidence(c), c.item_name
    hit = find_terms(view, names, mask=mask)
    return (hit.evidence, hit.what) if hit else None


def _test(view: RecordView, names, mask) -> tuple[Evidence, str] | None:
    """A named test done: a lab row, an order, a charge, or an affirmed mention in the notes."""
    for lab in view.labs:
        if _contains(lab.item, names):
            return view.evidence(line_id=lab.line_id, page_id=lab.page_id, document="检验报告",
                                 text=f"{lab.item} {lab.value or ''}".strip()), lab.item
    for o in view.orders:
        if _contains(o.content, names):
            return view.evidence(line_id=o.line_id, page_id=o.page_id, text=o.content), o.content
    for c in view.billed():
        if _contains(c.item_name, names):
            return view.charge_evidence(c), c.item_name
    hit = find_terms(view, names, mask=mask)
    return (hit.evidence, hit.what) if hit else None


def _bounds(value) -> list[dict]:
    """An age condition's bounds: one ``{op, value, unit}`` or a list of them (all must hold)."""
    if isinstance(value, dict):
        return [value]
    return [b for b in value or () if isinstance(b, dict)]


def _age_holds(age: facts.Age, bound: dict) -> bool | None:
    """Whether the age meets one bound; None when only whole years are known and the bound, in
    months or days, falls within that year."""
    op = _OPS[bound["op"]][1]
    unit = bound.get("unit", "岁")
    limit = float(bound["value"])
    if unit == "岁":
        if age.days is not None:
            return op(age.days / _UNIT_DAYS["岁"], limit)
        return op(age.years, limit)
    if age.days is not None:
        return op(age.days / _UNIT_DAYS[unit], limit)
    low = age.years * _UNIT_DAYS["岁"] / _UNIT_DAYS[unit]
    high = (age.years + 1) * _UNIT_DAYS["岁"] / _UNIT_DAYS[unit]
    at_low, at_high = op(low, limit), op(high - 1e-6, limit)
    return at_low if at_low == at_high else None


def _fact_key(view: RecordView, key: str, value) -> tuple[bool | None, str, Evidence | None]:
    if key == "sex":
        f = facts.sex(view)
        return (None if not f.known else f.value == value), f"{f.name}: {f.value or f.source}", f.evidence
    if key == "age":
        f = facts.age(view)
        bounds = _bounds(value)
        if not bounds or any(b.get("op") not in _OPS or not isinstance(b.get("value"), (int, float))
                             or b.get("unit", "岁") not in _UNIT_DAYS for b in bounds):
            return None, f"年龄条件无法识别 {value}", None
        if not f.known:
            return None, f"{f.name}: {f.source}", None
        held = [_age_holds(f.value, b) for b in bounds]
        shown = f"{f.name}: {f.value.years}岁" + (f"({f.value.days}天)" if f.value.days is not None and f.value.years < 2 else "")
        if False in held:
            return False, f"{shown} ({f.source})", f.evidence
        if None in held:
            return None, f"{shown}，仅知周岁，无法判定是否满足{describe({'age': bounds})} ({f.source})", f.evidence
        return True, f"{shown} ({f.source})", f.evidence
    if key == "insurance":
        f = facts.insurance_type(view)
        if not f.known:
            return None, f"{f.name}: {f.source}", None
        return f.value == value, f"{f.name}: {f.value} ({f.source})", None
    if key == "level":
        f = facts.hospital_level(view)
        need = _LEVEL.get(str(value)[:2])
        if need is None or not f.known:
            return None, f"{f.name}: {f.source}", None
        return f.value >= need, f"{f.name}: {facts.LEVEL_NAMES[f.value]} ({f.source})", None
    f = facts.visit_type(view)   # inpatient
    if not f.known:
        return None, f"{f.name}: {f.source}", None
    return (f.value == "住院") == bool(value), f"{f.name}: {f.value} ({f.source})", None


def _diagnosis(view: RecordView, cond: dict) -> tuple[Evidence, str] | None:
    """A diagnosis the notes name, coded by the normalizer (affirmed, the patient's own), or one of
    the record's diagnoses written without a code that holds one of the condition's names."""
    prefixes = cond.get("icd") or ()
    if prefixes:
        for e in view.entities:
            if e.code and not (e.negated or e.family) and icd_matches(e.code, prefixes):
                return view.evidence(line_id=e.line_id, page_id=e.page_id, text=e.text), f"{e.text}({e.code})"
    names = [n for n in cond.get("terms") or () if len(norm(n)) >= 2]
    for f in diagnosis_fields(view):
        if not f.code and any(norm(n) in norm(f.value) for n in names):
            return view.field_evidence(f), f.value
    return None


def _found(cond: dict, what: str) -> str:
    """What was found, after the condition it meets where the parser named it."""
    return f"{describe(cond)}：{what}" if cond.get("label") else what


def check(view: RecordView, cond: dict, *, first_use: dt.date | None = None, mask=()) -> Finding:
    """One condition on the record (its keys are alternatives)."""
    table = {k: v for k, v in cond.items() if k in CONDITION_KEYS}
    unknown = []
    if table:
        hit = condition_hit(view, table, mask=mask)
        if hit:
            return Finding(cond, True, _found(cond, hit.what), hit.evidence)
    if "icd" in cond or cond.get("kind") == "diagnosis":
        hit2 = _diagnosis(view, cond)
        if hit2:
            return Finding(cond, True, _found(cond, hit2[1]), hit2[0])
    for k, v in cond.items():
        if k in META_KEYS:
            continue
        if k in ("sex", "age", "level", "inpatient", "insurance"):
            found, what, ev = _fact_key(view, k, v)
            if found:
                return Finding(cond, True, _found(cond, what), ev)
            if found is None:
                unknown.append(what)
        elif k in ("prior_treatment", "test"):
            names = [v] if isinstance(v, str) else list(v or ())
            hit = _prior(view, names, first_use, mask) if k == "prior_treatment" else _test(view, names, mask)
            if hit:
                return Finding(cond, True, _found(cond, hit[1]), hit[0])
        elif k not in CONDITION_KEYS:
            unknown.append(f"条件类型 {k} 无法核查")
    if unknown:
        return Finding(cond, None, "；".join(unknown))
    return Finding(cond, False, f"病历中未见{describe(cond)}")


def judge(view: RecordView, alternatives, *, skip=(), first_use: dt.date | None = None, mask=()) -> Judgement:
    """Whether any alternative holds; ``skip``: condition kinds the calling check judges itself
    (a level point's own level, for one), left out of the alternatives here."""
    every: list[Finding] = []
    undecided = False
    checked = 0
    for alt in alternatives:
        conds = [{k: v for k, v in c.items() if k not in skip} for c in alt if isinstance(c, dict)]
        conds = [c for c in conds if set(c) - set(META_KEYS)]
        if not conds:
            continue
        checked += 1
        found = [check(view, c, first_use=first_use, mask=mask) for c in conds]
        if all(f.found for f in found):
            return Judgement(True, found)
        if not any(f.found is False for f in found):
            undecided = True
        every += [f for f in found if f.to_dict() not in [e.to_dict() for e in every]]
    if not checked:
        return Judgement(True, [])
    return Judgement(None if undecided else False, every)
