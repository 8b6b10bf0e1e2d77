"""What a knowledge point demands of a record, read from its parsed restriction (``conditions``,
written by ``pipeline.packs.indications`` at pack build or import) and, where that does not say,
from its published text: the sex, the age bounds, the hospital level, the visit type, the days
of payment, the unit and period of a frequency, the two items of a pair, the operation group.
``executable`` says whether a check of a given kind can judge the point, or why it can only be
shown as text (what ``medreview knowledge coverage`` counts)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.packs.indications import UNIT_DAYS, number
from pipeline.packs.schema import KnowledgePoint

_NUM = r"(\d+|[一二两三四五六七八九十]+)"
# The sex a 区分性别 point is for, where its text names it: words of women's and men's conditions.
_FEMALE = re.compile(r"女|妇|孕|妊娠|产后|产前|分娩|引产|催产|流产|宫|阴道|外阴|卵巢|输卵管|月经|经期|痛经|闭经|经血|"
                     r"经闭|行经|经前|调经|带下|白带|乳汁|下乳|奶汁|哺乳|绝经|排卵|胎|盆腔|子痫")
_MALE = re.compile(r"男|前列腺|睾丸|阴茎|阴囊|精液|精子|遗精|精索|勃起|阳痿|早泄|包皮|包茎|附睾|输精管")
_LEVEL = re.compile(r"([一二三])级(?:及以上|以上)?(?:医疗机构|医院|[\u4e00-\u9fff]{0,4}专科医院)")
_DAYS = re.compile(r"(?:支付|使用|总时间|疗程)[^，。；]{0,6}?(?:不超过|最多|不得超过)" + _NUM + r"(天|日|周|个月|月|年)")
_DAYS_ONCE = re.compile(r"单次(?:最多)?支付(?:不超过)?" + _NUM + r"(天|日)")
_INTERVAL = re.compile(r"间隔时间不短于" + _NUM + r"(天|日|周|个月)")
_WEEKLY = re.compile(r"每周最多(?:支付)?(?:一|1)次")
_REFLECTS = re.compile(r"反映近" + _NUM + r"(?:[-~～至]" + _NUM + r")?(周|个月)")
_AGE_RANGE = re.compile(r"(\d+)\s*(?:岁|周岁)?\s*[-~～至到]\s*(\d+)\s*(?:岁|周岁)(以下)?")
_AGE_MIN = re.compile(r"(\d+)\s*(?:岁|周岁)(?:及\d*岁?)?以上")

SEX_CLASSES = ("药品区分性别使用", "医疗服务项目区分性别使用")
HERB_CLASSES = ("中药饮片单方使用不予支付", "中药饮片单复方均不予支付")


def text(point: KnowledgePoint) -> str:
    return point.constraint or ""


def restriction(point: KnowledgePoint) -> dict | None:
    """The parsed restriction (``{alternatives, common, unparsed, parsed, max_days, min_level,
    sex, age, inpatient}``, ``pipeline.packs.indications``), or None where the point was not parsed."""
    c = point.conditions
    return c if isinstance(c, dict) else None


def parsed_alternatives(point: KnowledgePoint) -> list[list[dict]] | None:
    """The alternatives to check (each a list of conditions that must all hold): the parsed
    ones, each with the restriction's common terms (sex, age, level, inpatient) added; None when
    the point has nothing to check."""
    r = restriction(point) or {}
    alts = [a for a in r.get("alternatives") or () if isinstance(a, list) and a]
    common = [c for c in r.get("common") or () if isinstance(c, dict) and c]
    if r.get("sex") in ("男", "女"):
        common.append({"sex": r["sex"]})
    if isinstance(r.get("age"), (dict, list)) and r["age"]:
        common.append({"age": r["age"]})
    if isinstance(r.get("min_level"), str) and r["min_level"]:
        common.append({"level": r["min_level"]})
    if r.get("inpatient") is True:
        common.append({"inpatient": True})
    if not alts:
        return [common] if common else None
    return [a + [c for c in common if c not in a] for a in alts]


def fully_parsed(point: KnowledgePoint) -> bool:
    r = restriction(point)
    return bool(r and r.get("parsed") and not r.get("unparsed"))


def sex(point: KnowledgePoint) -> str | None:
    """男 / 女: the sex the point is for, from its restriction, else its text (the constraint's
    男性/女性 first, then more words of one sex than the other); None when it cannot be told."""
    r = restriction(point) or {}
    if r.get("sex") in ("男", "女"):
        return r["sex"]
    t = text(point)
    for word, s in (("女性", "女"), ("男性", "男")):
        if t.startswith(word):
            return s
    both = f"{t} {point.item_name or ''}"
    f, m = len(_FEMALE.findall(both)), len(_MALE.findall(both))
    return "女" if f > m else "男" if m > f else None


@dataclass(frozen=True)
class AgeLimit:
    """Ages a point allows: ``min_years`` ≤ age, age < ``below_years``, age ≤ ``max_years``, age in
    days ≤ ``max_days``; ``label`` says which limit it is and where it comes from."""

    label: str
    min_years: int | None = None
    below_years: int | None = None
    max_years: int | None = None
    max_days: int | None = None


def child_limit(point: KnowledgePoint, params: dict) -> AgeLimit:
    """The child age limit of a 儿童专用 / 限儿童 point: 新生儿, 婴儿 or 婴幼儿 where the item
    says so (an item's constraint, a drug's name), else 儿童 (under ``child_below_years``), with the
    age range the restriction or the text gives (限3岁及以上儿童, 限6-17岁)."""
    said = text(point) if point.rule_class == "医疗服务项目儿童专用" else point.item_name or ""
    if "新生儿" in said:
        base = AgeLimit(f"新生儿(出生{params['neonate_max_days']}天内)", max_days=params["neonate_max_days"])
    elif "婴幼儿" in said:
        base = AgeLimit(f"婴幼儿({params['toddler_below_years']}岁以下)", below_years=params["toddler_below_years"])
    elif "婴儿" in said:
        base = AgeLimit(f"婴儿({params['infant_below_years']}岁以下)", below_years=params["infant_below_years"])
    else:
        base = AgeLimit(f"儿童({params['child_below_years']}岁以下)", below_years=params["child_below_years"])
    if point.rule_class != "药品限儿童使用":
        return base
    lo, hi, below = _age_range(point)
    if lo is None and hi is None and below is None:
        return base
    parts = [base.label] + [f"{lo}岁及以上"] * (lo is not None) + [f"{hi}岁及以下"] * (hi is not None) \
        + [f"{below}岁以下"] * (below is not None)
    belows = [x for x in (base.below_years, below) if x is not None]
    return AgeLimit("、".join(parts), lo, min(belows) if belows else None, hi, base.max_days)


def _age_range(point: KnowledgePoint) -> tuple[int | None, int | None, int | None]:
    """(min years, max years inclusive, below years) from the restriction's age or the text."""
    r = restriction(point) or {}
    bounds = r.get("age") if isinstance(r.get("age"), list) else [r["age"]] if isinstance(r.get("age"), dict) else []
    bounds = [b for b in bounds if isinstance(b, dict) and isinstance(b.get("value"), (int, float))
              and b.get("unit", "岁") == "岁"]
    if bounds:
        lo = hi = below = None
        for b in bounds:
            v, op = int(b["value"]), b.get("op")
            if op in ("ge", "gte"):
                lo = v
            elif op == "gt":
                lo = v + 1
            elif op in ("le", "lte"):
                hi = v
            elif op == "lt":
                below = v
        return lo, hi, below
    t = text(point)
    ranges = [(int(a), int(b), bool(x)) for a, b, x in _AGE_RANGE.findall(t)]
    if ranges:
        lo = min(r[0] for r in ranges)
        if any(r[2] for r in ranges):
            return lo, None, max(r[1] for r in ranges)
        return lo, max(r[1] for r in ranges), None
    mins = [int(x) for x in _AGE_MIN.findall(t)]
    return (min(mins), None, None) if mins else (None, None, None)


def min_level(point: KnowledgePoint) -> int | None:
    """The lowest hospital level the point allows (1–3): the restriction's ``min_level``, else
    the lowest level its text names (需三级医院眼科或二级及以上眼科专科医院 → 2)."""
    r = restriction(point) or {}
    lv = r.get("min_level")
    if isinstance(lv, str) and lv[:1] in "一二三":
        return {"一": 1, "二": 2, "三": 3}[lv[0]]
    found = [{"一": 1, "二": 2, "三": 3}[m] for m in _LEVEL.findall(text(point))]
    return min(found) if found else None


def visit_types(point: KnowledgePoint) -> tuple[str, ...] | None:
    """The visit types the point is paid for (住院, 急诊) from the restriction or the text."""
    r = restriction(point) or {}
    if r.get("inpatient") is True:
        return ("住院", "急诊") if "急诊" in text(point) else ("住院",)
    t = text(point)
    if "住院" not in t:
        return None
    return ("住院", "急诊") if re.search(r"急诊或住院|住院或急诊", t) else ("住院",)


def max_days(point: KnowledgePoint) -> int | None:
    """The days of payment the point allows: the restriction's ``max_days``, else the text
    (支付不超过14天, 单次最多支付14天, 一个疾病过程支付不超过90天, 支付不超过12个月 …)."""
    r = restriction(point) or {}
    if isinstance(r.get("max_days"), int) and r["max_days"] > 0:
        return r["max_days"]
    t = text(point)
    m = _DAYS_ONCE.search(t) or _DAYS.search(t)
    if not m:
        return None
    return number(m[1]) * UNIT_DAYS[m[2]]


def span_counts(point: KnowledgePoint) -> bool:
    """True when days are counted from the first use to the last (连续时间跨度), not as days used."""
    return "跨度" in (point.detect_logic or "")


def period_days(point: KnowledgePoint) -> int | None:
    """The period within which an item is paid once (评定间隔时间不短于14天 → 14, 每周最多支付一次
    → 7, 反映近2-3个月的平均血糖 → 60: the shorter end of a range)."""
    t = text(point)
    m = _INTERVAL.search(t)
    if m:
        return number(m[1]) * UNIT_DAYS[m[2]]
    if _WEEKLY.search(t):
        return 7
    m = _REFLECTS.search(t)
    if m:
        return number(m[1]) * UNIT_DAYS[m[3]]
    return None


def frequency_cap(point: KnowledgePoint) -> tuple[str, float] | None:
    """(unit, units a day at most) of a 限定频次 point: 日/天 → one a day, 小时 → 24 a day."""
    t = text(point).strip("。 ")
    if t in ("日", "天"):
        return "日", 1.0
    if t == "小时":
        return "小时", 24.0
    return None


def pair(point: KnowledgePoint) -> tuple[str, str] | None:
    """(including item code, included item code) of a 重复收费 pair ``A×B``: A's 项目内涵 includes B."""
    if len(point.med_codes) == 2:
        return point.med_codes[0], point.med_codes[1]
    return None


def pair_names(point: KnowledgePoint) -> tuple[str, str]:
    a, _, b = (point.item_name or "").partition("×")
    return a, b


def executable(point: KnowledgePoint, kind: str | None) -> bool | str:
    """True when a check of ``kind`` can judge the point on a record, else the reason it can only
    be shown as text (None: no enabled rule runs the point's class)."""
    if kind is None:
        return "无执行该规则类别的规则"
    if kind == "sex":
        return True if sex(point) else "限定性别无法从文本判定"
    if kind == "level":
        return True if min_level(point) else "未写明医疗机构级别"
    if kind == "visit":
        return True if visit_types(point) else "未写明就医方式"
    if kind == "course":
        return True if max_days(point) or period_days(point) else "未写明支付天数"
    if kind == "frequency":
        return True if frequency_cap(point) else "计价单位不是日或小时"
    if kind == "period":
        return True if period_days(point) else "未写明周期"
    if kind == "duplicate_pair":
        return True if pair(point) else "不是两个项目的组合"
    if kind == "surgery_discount":
        return True if text(point) else "未写明手术组"
    if kind == "indication":
        return True if parsed_alternatives(point) else "限定支付条件未解析为可核查条件(以原文提示)"
    if kind == "age":
        return True if "就业年龄" in text(point) else "未写明年龄段"
    return True
