"""A parsed restriction checked against a record: each condition found, not found, or not judged
(a value the record does not give), with its evidence. The kinds the knowledge tables use (icd,
terms, lab, orders, long_orders, charges) go through ``knowledge.condition_hit``; the kinds the
national restrictions add are read here: age, sex, hospital level, inpatient, an earlier
treatment (prior_treatment) and a named test (test). Keys of one condition are alternatives (any
one found is enough, as in the knowledge tables); an alternative holds when all its conditions do."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from pipeline.dates import parse_datetime
from pipeline.record.view import Evidence, RecordView
from pipeline.rules import facts
from pipeline.rules.knowledge import CONDITION_KEYS, condition_hit, find_terms, norm

NEW_KEYS = ("age", "sex", "level", "inpatient", "prior_treatment", "test")
KEYS = tuple(sorted(CONDITION_KEYS)) + NEW_KEYS
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
    parts = []
    for k, v in cond.items():
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
            parts.append(f"年龄{_OPS.get(v.get('op'), ('?',))[0]}{v.get('value')}岁")
        elif k == "sex":
            parts.append(f"{v}性")
        elif k == "level":
            parts.append(f"{v}及以上医疗机构")
        elif k == "inpatient":
            parts.append("住院" if v else "非住院")
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


def _fact_key(view: RecordView, key: str, value) -> tuple[bool | None, str, Evidence | None]:
    if key == "sex":
        f = facts.sex(view)
        return (None if not f.known else f.value == value), f"{f.name}: {f.value or f.source}", f.evidence
    if key == "age":
        f = facts.age(view)
        op = _OPS.get(value.get("op")) if isinstance(value, dict) else None
        if op is None or not isinstance(value.get("value"), (int, float)):
            return None, f"年龄条件无法识别 {value}", None
        if not f.known:
            return None, f"{f.name}: {f.source}", None
        return op[1](f.value.years, value["value"]), f"{f.name}: {f.value.years}岁 ({f.source})", f.evidence
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


def check(view: RecordView, cond: dict, *, first_use: dt.date | None = None, mask=()) -> Finding:
    """One condition on the record (its keys are alternatives)."""
    table = {k: v for k, v in cond.items() if k in CONDITION_KEYS}
    unknown = []
    if table:
        hit = condition_hit(view, table, mask=mask)
        if hit:
            return Finding(cond, True, hit.what, hit.evidence)
    for k, v in cond.items():
        if k in ("sex", "age", "level", "inpatient"):
            found, what, ev = _fact_key(view, k, v)
            if found:
                return Finding(cond, True, what, ev)
            if found is None:
                unknown.append(what)
        elif k in ("prior_treatment", "test"):
            names = [v] if isinstance(v, str) else list(v or ())
            hit = _prior(view, names, first_use, mask) if k == "prior_treatment" else _test(view, names, mask)
            if hit:
                return Finding(cond, True, hit[1], hit[0])
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
        conds = [c for c in conds if c]
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
