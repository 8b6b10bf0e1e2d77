"""National 两库 checks: one per kind of check, each run by a catalogue rule that names the rule
class it executes (``params.rule_class``), all driven by the knowledge packs in force
(``kb.packs``). A point a record's lines fall under is judged from what it demands
(``pipeline.rules.demands``) against the record (``pipeline.rules.facts``, ``conditions``):
violated → a flag; a value the record does not give → a 可疑 flag saying what is unknown
(无法判定); a restriction that could not be turned into conditions → a 可疑 flag showing its
text (限定条件未解析). Flags carry the point (``Flag.knowledge``)."""
from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict

from pipeline.packs import codes as pack_codes
from pipeline.record.view import Charge, RecordView
from pipeline.rules import conditions, demands, facts
from pipeline.rules.facts import LEVEL_NAMES
from pipeline.rules.flags import Flag
from pipeline.rules.knowledge import any_condition, find_terms, norm
from pipeline.rules.points import LineMatch, best_rank, describe_point, flag, one_per_lines, points_of


def _yuan(x: float) -> str:
    return f"{x:.2f}元"


def _name(lines: list[LineMatch]) -> str:
    return lines[0].charge.item_name


def _total(charges) -> float:
    return sum(c.amount for c in charges)


def _unit_price(c: Charge) -> float:
    if c.unit_price:
        return float(c.unit_price)
    return float(c.amount) / c.qty if c.qty else float(c.amount)


def _unique(charges) -> list[Charge]:
    seen: set[int] = set()
    return [c for c in charges if not (c.id in seen or seen.add(c.id))]


def _days(charges) -> list[dt.date]:
    return sorted({c.day() for c in charges if c.day() is not None})


# --- the part every class shares: the rest of a point's restriction ---------------------------

# What a class's own check judges, cut from the text before asking whether anything else is left.
_OWN = {
    "level": re.compile(r"[一二三]级(?:及以上|以上)?(?:医疗机构|医院)(?:的)?"),
    "visit": re.compile(r"(?:急诊或)?住院(?:患者)?方(?:可|予)支付|限急诊或住院患者|住院患者"),
    "course": re.compile(r"(?:单次|一个疾病过程)?(?:最多)?(?:支付|使用|总时间)?(?:不超过|最多)[\d一二三四五六七八九十两]+(?:天|日|周|个月|月|年)"
                         r"|(?:两次)?评定间隔时间不短于\d+天|每周最多支付一次|（人社部发〔\d+〕\d+号）"),
    "child": re.compile(r"\d+\s*(?:岁|周岁)?\s*(?:[-~～至到]\s*\d+\s*(?:岁|周岁)(?:以下)?|及(?:\d+岁)?以上)|儿童|青少年"),
    "second_line": re.compile(r"(?:的)?二线用药"),
}
_FILLER = re.compile(r"[限，,。；;：:、（）()\s的患者使用方可予支付用药且和或及以上下]|\d")


def residue(point, kind: str) -> str:
    """The part of the point's text its class's own check does not judge (empty: nothing left)."""
    t = demands.text(point)
    for k in (kind, "course", "visit", "level"):
        t = _OWN[k].sub("", t) if k in _OWN else t
    return t if len(_FILLER.sub("", t)) >= 4 else ""


def _first_day(lines: list[LineMatch]) -> dt.date | None:
    days = _days(ln.charge for ln in lines)
    return days[0] if days else None


def _rest(view: RecordView, packs, point, lines, kind: str, skip=()) -> Flag | None:
    """The flag for the rest of the restriction (a level point's disease, a course point's
    indication): its parsed conditions checked, or its text shown when not parsed."""
    alts = demands.parsed_alternatives(point)
    name = _name(lines)
    if alts:
        mask = sorted({ln.charge.item_name for ln in lines} | {point.item_name or ""}, key=len, reverse=True)
        j = conditions.judge(view, alts, skip=skip, first_use=_first_day(lines), mask=mask)
        if j.holds:
            return None
        verdict = "违规" if j.holds is False else "无法判定"
        missing = "；".join(f.what for f in j.findings if not f.found)[:120]
        return flag(view, packs, point, lines,
                    f"使用“{name}”，不符合限定支付条件({describe_point(point)})：{missing}，医保支付{_yuan(_total(ln.charge for ln in lines))}",
                    verdict=verdict, parsed=demands.fully_parsed(point), findings=j.findings)
    if residue(point, kind) or (kind == "indication"):
        return flag(view, packs, point, lines,
                    f"使用“{name}”，其限定支付条件未能自动核对，请人工核对：{describe_point(point, 120)}",
                    verdict="限定条件未解析", parsed=False)
    return None


def _judged(view, packs, params, kind: str, judge, skip=()) -> list[Flag]:
    """Run ``judge(point, lines) -> Flag | None`` over the rule class's points, then, where the
    rule says so (``check_rest``), the rest of each point's restriction where the class part
    holds; one flag per set of charge lines."""
    found = []
    for point, lines in points_of(view, packs, params["rule_class"]):
        f = judge(point, lines)
        if f is None and params.get("check_rest"):
            f = _rest(view, packs, point, lines, kind, skip)
        if f is not None:
            found.append((best_rank(lines) + (point.kp_id,), f))
    return one_per_lines(found)


def _text_only(view, packs, point, lines, why: str) -> Flag:
    return flag(view, packs, point, lines, f"使用“{_name(lines)}”，{why}，请人工核对：{describe_point(point, 120)}",
                verdict="限定条件未解析", parsed=False)


def _unknown(view, packs, point, lines, fact, what: str) -> Flag:
    return flag(view, packs, point, lines,
                f"“{_name(lines)}”{what}({describe_point(point)})，{fact.source}，无法判定",
                verdict="无法判定", facts=[fact])


# --- 区分性别 ------------------------------------------------------------------------------------

def _sex_excluded(view: RecordView, params: dict):
    """性别不清、两性畸形、染色体异常、性发育异常: outside the 区分性别 rules."""
    return any_condition(view, [{"icd": params["exclude_icd"]}, {"terms": params["exclude_terms"]}])


def sex(view: RecordView, params: dict, kb) -> list[Flag]:
    packs = kb.packs
    if packs is None or _sex_excluded(view, params):
        return []
    f = facts.sex(view)

    def judge(point, lines):
        need = demands.sex(point)
        if need is None:
            return _text_only(view, packs, point, lines, "限定性别无法从知识点判定")
        if not f.known:
            return _unknown(view, packs, point, lines, f, f"限{need}性使用")
        if f.value == need:
            return None
        amount = _total(ln.charge for ln in lines)
        return flag(view, packs, point, lines,
                    f"{f.value}性患者使用限{need}性的“{_name(lines)}”({describe_point(point)})，医保支付{_yuan(amount)}",
                    facts=[f])
    return _judged(view, packs, params, "sex", judge)


# --- 儿童专用 / 限儿童 / 限年龄 ------------------------------------------------------------------

def _age_violation(age: facts.Age, limit: demands.AgeLimit) -> bool | None:
    """True when the age is outside the limit, None when the limit is in days and only years are known."""
    if limit.max_days is not None:
        if age.days is not None:
            if age.days > limit.max_days:
                return True
        elif age.years >= 1:
            return True
        else:
            return None
    if limit.below_years is not None and age.years >= limit.below_years:
        return True
    if limit.min_years is not None and age.years < limit.min_years:
        return True
    return limit.max_years is not None and age.years > limit.max_years


def _age_text(age: facts.Age) -> str:
    return f"{age.years}岁" if age.years or age.days is None else f"出生{age.days}天"


def child(view: RecordView, params: dict, kb) -> list[Flag]:
    packs = kb.packs
    if packs is None:
        return []
    f = facts.age(view)

    def judge(point, lines):
        limit = demands.child_limit(point, params)
        if not f.known:
            return _unknown(view, packs, point, lines, f, f"限{limit.label}使用")
        bad = _age_violation(f.value, limit)
        if bad is None:
            return _unknown(view, packs, point, lines, facts.Fact("年龄", None, f"仅知{f.value.years}岁，无出生日期"),
                            f"限{limit.label}使用")
        if not bad:
            return None
        return flag(view, packs, point, lines,
                    f"{_age_text(f.value)}患者使用限{limit.label}的“{_name(lines)}”，医保支付{_yuan(_total(ln.charge for ln in lines))}",
                    facts=[f])
    return _judged(view, packs, params, "child", judge, skip=("age",))


def working_age(view: RecordView, params: dict, kb) -> list[Flag]:
    """限法定就业年龄段: 16 岁起，至法定退休年龄(男/女 by parameter)."""
    packs = kb.packs
    if packs is None:
        return []
    a, s = facts.age(view), facts.sex(view)
    hi = {"男": params["max_age_male"], "女": params["max_age_female"]}

    def judge(point, lines):
        if demands.executable(point, "age") is not True:
            return _text_only(view, packs, point, lines, "限定年龄段无法从知识点判定")
        if not a.known:
            return _unknown(view, packs, point, lines, a, "限法定就业年龄段使用")
        years = a.value.years
        if years >= params["min_age"]:
            if s.known and years < hi[s.value]:
                return None
            if not s.known and years < min(hi.values()):
                return None
            if not s.known and years < max(hi.values()):
                return _unknown(view, packs, point, lines, s, f"限法定就业年龄段(男{hi['男']}岁、女{hi['女']}岁前)使用")
        return flag(view, packs, point, lines,
                    f"{years}岁{s.value + '性' if s.known else ''}患者使用限法定就业年龄段({params['min_age']}岁至退休年龄)的“{_name(lines)}”，"
                    f"医保支付{_yuan(_total(ln.charge for ln in lines))}", facts=[a] + ([s] if s.known else []))
    return _judged(view, packs, params, "age", judge)


# --- 限医疗机构级别 / 限就医方式 / 限工伤、生育保险 / 超互联网医院 --------------------------------

def level(view: RecordView, params: dict, kb) -> list[Flag]:
    packs = kb.packs
    if packs is None:
        return []
    f = facts.hospital_level(view)

    def judge(point, lines):
        need = demands.min_level(point)
        if need is None:
            return _text_only(view, packs, point, lines, "限定医疗机构级别无法从知识点判定")
        if not f.known:
            return _unknown(view, packs, point, lines, f, f"限{LEVEL_NAMES[need]}及以上医疗机构使用")
        if f.value >= need:
            return None
        return flag(view, packs, point, lines,
                    f"{LEVEL_NAMES[f.value]}医疗机构使用限{LEVEL_NAMES[need]}及以上医疗机构的“{_name(lines)}”"
                    f"({describe_point(point)})，医保支付{_yuan(_total(ln.charge for ln in lines))}", facts=[f])
    return _judged(view, packs, params, "level", judge, skip=("level",))


def visit(view: RecordView, params: dict, kb) -> list[Flag]:
    packs = kb.packs
    if packs is None:
        return []
    f = facts.visit_type(view)

    def judge(point, lines):
        allowed = demands.visit_types(point)
        if allowed is None:
            return _text_only(view, packs, point, lines, "限定就医方式无法从知识点判定")
        if not f.known:
            return _unknown(view, packs, point, lines, f, f"限{'或'.join(allowed)}使用")
        if f.value in allowed:
            return None
        return flag(view, packs, point, lines,
                    f"{f.value}使用限{'或'.join(allowed)}支付的“{_name(lines)}”({describe_point(point)})，"
                    f"医保支付{_yuan(_total(ln.charge for ln in lines))}", facts=[f])
    return _judged(view, packs, params, "visit", judge, skip=("inpatient",))


def insurance(view: RecordView, params: dict, kb) -> list[Flag]:
    packs = kb.packs
    if packs is None:
        return []
    f = facts.insurance_type(view)
    need = params["insurance_type"]

    def judge(point, lines):
        if not f.known:
            return _unknown(view, packs, point, lines, f, f"限{need}保险")
        if f.value == need:
            return None
        return flag(view, packs, point, lines,
                    f"险种为{f.value}的患者使用限{need}保险的“{_name(lines)}”，医保支付{_yuan(_total(ln.charge for ln in lines))}",
                    facts=[f])
    return _judged(view, packs, params, "insurance", judge)


def internet(view: RecordView, params: dict, kb) -> list[Flag]:
    """互联网诊疗时开具的麻醉药品、精神药品 (visit type 互联网 in the claims export)."""
    packs = kb.packs
    if packs is None:
        return []
    f = facts.visit_type(view)

    def judge(point, lines):
        if not f.known:
            return _unknown(view, packs, point, lines, f, "不得于互联网诊疗时开具")
        if f.value != "互联网":
            return None
        return flag(view, packs, point, lines,
                    f"互联网诊疗时开具“{_name(lines)}”(麻醉药品、精神药品不得在互联网诊疗时开具)，"
                    f"医保支付{_yuan(_total(ln.charge for ln in lines))}", facts=[f])
    return _judged(view, packs, params, "internet", judge)


# --- 限支付疗程 / 限定频次 / 周期超频次 --------------------------------------------------------

def _use_days(view: RecordView, lines: list[LineMatch]) -> list[dt.date]:
    """Days the item was used: the billed lines' dates (quantity above zero)."""
    return _days(ln.charge for ln in lines if (ln.charge.qty is None or ln.charge.qty > 0))


def _period_excess(lines: list[LineMatch], period: int) -> list[Charge]:
    """Uses within ``period`` days of the last paid one (each billed unit a use)."""
    uses = sorted(((ln.charge.day(), ln.charge) for ln in lines if ln.charge.day()), key=lambda x: (x[0], x[1].seq))
    extra, last = [], None
    for day, c in uses:
        for _ in range(max(1, int(round(c.qty or 1)))):
            if last is not None and (day - last).days < period:
                extra.append(c)
            else:
                last = day
    return _unique(extra)


def course(view: RecordView, params: dict, kb) -> list[Flag]:
    packs = kb.packs
    if packs is None:
        return []

    def judge(point, lines):
        limit, period = demands.max_days(point), demands.period_days(point)
        if limit is None and period is None:
            return _text_only(view, packs, point, lines, "限定支付天数无法从知识点判定")
        days = _use_days(view, lines)
        if not days:
            return _unknown(view, packs, point, lines, facts.Fact("用药日期", None, "费用明细无日期"),
                            f"限支付{limit}天" if limit else "限定周期支付")
        name = _name(lines)
        if limit is not None:
            if demands.span_counts(point):
                used = (days[-1] - days[0]).days + 1
                over = [d for d in days if (d - days[0]).days >= limit]
            else:
                used, over = len(days), days[limit:]
            if over:
                charges = [ln.charge for ln in lines if ln.charge.day() in set(over)]
                amount = _total(charges)
                return flag(view, packs, point, lines,
                            f"“{name}”{'自首次使用起跨' if demands.span_counts(point) else '使用'}{used}天，"
                            f"超过限定支付的{limit}天({describe_point(point)})，超出{len(over)}天的费用{_yuan(amount)}",
                            charges=charges, amount=amount)
        if period is not None:
            extra = _period_excess(lines, period)
            if extra:
                return flag(view, packs, point, lines,
                            f"“{name}”{period}天内重复支付{len(extra)}次({describe_point(point)})，多收{_yuan(_total(extra))}",
                            charges=extra, amount=_total(extra))
        return None
    return _judged(view, packs, params, "course", judge)


def period(view: RecordView, params: dict, kb) -> list[Flag]:
    packs = kb.packs
    if packs is None:
        return []

    def judge(point, lines):
        days = demands.period_days(point)
        if days is None:
            return _text_only(view, packs, point, lines, "限定周期无法从知识点判定")
        extra = _period_excess(lines, days)
        if not extra:
            return None
        return flag(view, packs, point, lines,
                    f"“{_name(lines)}”{days}天内计费{len(extra) + 1}次，周期内超频次({describe_point(point)})，"
                    f"多收{_yuan(_total(extra))}", charges=extra, amount=_total(extra))
    return _judged(view, packs, params, "period", judge)


def _stay_hours(view: RecordView) -> int | None:
    a, d = view.admit, view.discharge
    return math.ceil((d - a).total_seconds() / 3600) if a and d and d > a else None


def frequency(view: RecordView, params: dict, kb) -> list[Flag]:
    """限定频次: units a day (日 → 1, 小时 → 24) and units a stay (日 → 住院天数, 算入不算出, plus
    ``extra_stay_days``; 小时 → hours between admission and discharge)."""
    packs = kb.packs
    if packs is None:
        return []

    def judge(point, lines):
        cap = demands.frequency_cap(point)
        if cap is None:
            return _text_only(view, packs, point, lines, "限定频次无法从知识点判定")
        unit, per_day = cap
        by_day: dict[dt.date, list[Charge]] = defaultdict(list)
        for ln in lines:
            if ln.charge.day() is not None:
                by_day[ln.charge.day()].append(ln.charge)
        qty = {d: sum(c.qty or 0 for c in cs) for d, cs in by_day.items()}
        over_days = sorted(d for d, q in qty.items() if q > per_day)
        day_excess = sum(qty[d] - per_day for d in over_days)
        total = sum(ln.charge.qty or 0 for ln in lines)
        if unit == "日":
            los = view.los_days()
            stay_cap = los + params["extra_stay_days"] if los is not None else None
        else:
            stay_cap = _stay_hours(view)
        stay_excess = max(0.0, total - stay_cap) if stay_cap is not None else 0.0
        excess = max(day_excess, stay_excess)
        if excess <= 0:
            return None
        charges = [c for d in over_days for c in by_day[d]]
        if stay_excess > day_excess:   # the stay's last units are the ones above its cap
            tail, left = [], stay_excess
            for c in sorted((ln.charge for ln in lines), key=lambda c: (c.at or "", c.seq), reverse=True):
                if left <= 0:
                    break
                tail.append(c)
                left -= c.qty or 0
            charges = _unique(charges + tail)
        amount = excess * _unit_price(charges[0]) if charges else 0.0
        n = "次" if unit == "日" else "小时"
        what = f"每日最多计{per_day:g}{n}，{len(over_days)}天超出" if over_days else ""
        stay = f"住院期间最多{stay_cap:g}{n}，共计{total:g}{n}" if stay_excess > 0 else ""
        return flag(view, packs, point, lines,
                    f"“{_name(lines)}”按{unit}计价，{'；'.join(x for x in (what, stay) if x)}，超出{excess:g}{n}，"
                    f"多收{_yuan(amount)}", charges=charges, amount=amount)
    return _judged(view, packs, params, "frequency", judge)


# --- 医疗服务项目重复收费 -----------------------------------------------------------------------

def _side(ln: LineMatch, point) -> int | None:
    code = ln.match.code
    return point.med_codes.index(code) if code in point.med_codes else None


def duplicate_pair(view: RecordView, params: dict, kb) -> list[Flag]:
    """项目A和项目B同时收费 on the same day (A's 项目内涵 includes B): amount = B's charges."""
    packs = kb.packs
    if packs is None:
        return []

    def judge(point, lines):
        if demands.pair(point) is None:
            return None
        a_days: dict[dt.date, list[LineMatch]] = defaultdict(list)
        b_lines = []
        for ln in lines:
            side = _side(ln, point)
            if side == 0:
                a_days[ln.charge.day()].append(ln)
            elif side == 1:
                b_lines.append(ln)
        a_keys = {(ln.charge.item_code or norm(ln.charge.item_name)) for ls in a_days.values() for ln in ls}
        hits = [ln for ln in b_lines if ln.charge.day() in a_days and ln.charge.day() is not None
                and (ln.charge.item_code or norm(ln.charge.item_name)) not in a_keys]
        if not hits:
            return None
        a_name, b_name = demands.pair_names(point)
        used = [a_days[hits[0].charge.day()][0]] + hits
        days = _days(ln.charge for ln in hits)
        amount = _total(ln.charge for ln in hits)
        return flag(view, packs, point, used,
                    f"{len(days)}天同时收取“{used[0].charge.item_name}”与“{hits[0].charge.item_name}”"
                    f"({a_name}{describe_point(point, 40)}，不应另收{b_name})，重复收费{_yuan(amount)}",
                    charges=[ln.charge for ln in hits], amount=amount, key=f"{point.kp_id}")
    return _judged(view, packs, params, "duplicate_pair", judge)


# --- 手术项目未按规定折价收费 -------------------------------------------------------------------

def _billed_share(c: Charge) -> tuple[float, float]:
    """(the operation's full price, the share of it billed): a quantity below one is a discount."""
    qty = c.qty if c.qty else 1.0
    price = c.unit_price if c.unit_price else (c.amount / qty if qty else c.amount)
    full = price * max(1.0, qty)
    return full, (c.amount / full if full else 1.0)


def surgery_discount(view: RecordView, params: dict, kb) -> list[Flag]:
    """Two or more operations of one group on one day (the bill does not show the incision): the
    second and later are billed at ``second_rate`` of their price, the main one (the dearest) in
    full. A line's price is its unit price × quantity, so a discount shows as a lower quantity or
    amount; one written as a lower unit price cannot be told from a full price without the price list."""
    packs = kb.packs
    if packs is None:
        return []
    groups: dict[tuple, dict] = defaultdict(dict)   # (day, group) → item key → (point, line)
    for point, lines in points_of(view, packs, params["rule_class"]):
        for ln in lines:
            day = ln.charge.day()
            if day is None:
                continue
            key = ln.charge.item_code or norm(ln.charge.item_name)
            groups[(day, demands.text(point))].setdefault(key, (point, ln))
    out = []
    rate, tol = params["second_rate"], params["tolerance"]
    for (day, group), ops in sorted(groups.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        if len(ops) < 2:
            continue
        ranked = sorted(ops.values(), key=lambda pl: -_billed_share(pl[1].charge)[0])
        main = ranked[0][1].charge
        for point, ln in ranked[1:]:
            full, share = _billed_share(ln.charge)
            if share <= rate + tol:
                continue
            amount = ln.charge.amount - rate * full
            out.append(flag(view, packs, point, [ln, ranked[0][1]],
                            f"{day:%m-%d} 同日{group}“{main.item_name}”之外的第二台手术“{ln.charge.item_name}”"
                            f"按{share:.0%}计价，未按{rate:.0%}折价收费，多收{_yuan(amount)}",
                            charges=[ln.charge], amount=amount, key=f"{point.kp_id}:{day}:{ln.charge.id}"))
    return out


# --- 中药饮片 -------------------------------------------------------------------------------------

def _herb_lines(view: RecordView, params: dict) -> list[Charge]:
    cats = set(params["herb_categories"])
    return [c for c in view.billed()
            if (c.category or "") in cats or pack_codes.family(pack_codes.normalize(c.item_code)) is pack_codes.BY_KEY["T"]]


def herb_single(view: RecordView, params: dict, kb) -> list[Flag]:
    """单方使用不予支付: a prescription (the herbs billed on one day) made only of these herbs."""
    packs = kb.packs
    if packs is None:
        return []
    matched = {ln.charge.id: (point, ln) for point, lines in points_of(view, packs, params["rule_class"]) for ln in lines}
    if not matched:
        return []
    by_day: dict[dt.date | None, list[Charge]] = defaultdict(list)
    for c in _herb_lines(view, params):
        by_day[c.day()].append(c)
    for c_id, (point, ln) in matched.items():   # a listed herb billed under another category
        if all(c.id != c_id for cs in by_day.values() for c in cs):
            by_day[ln.charge.day()].append(ln.charge)
    out = []
    for day, cs in sorted(by_day.items(), key=lambda kv: str(kv[0])):
        if not cs or any(c.id not in matched for c in cs):
            continue
        pl = [matched[c.id] for c in cs]
        point, lines = pl[0][0], [ln for _, ln in pl]
        names = "、".join(dict.fromkeys(c.item_name for c in cs))
        out.append(flag(view, packs, point, lines,
                        f"{day or ''} 中药饮片处方仅由“{names}”组成，{demands.text(point) or '单独使用时不予支付'}，"
                        f"医保支付{_yuan(_total(cs))}", charges=cs, key=f"{point.kp_id}:{day}"))
    return out


def herb_excluded(view: RecordView, params: dict, kb) -> list[Flag]:
    """单复方均不予支付: the herb is not paid alone or in a compound prescription."""
    packs = kb.packs
    if packs is None:
        return []
    return _judged(view, packs, params, "herb_excluded", lambda point, lines: flag(
        view, packs, point, lines,
        f"“{_name(lines)}”属单复方均不予支付的中药饮片({point.item_name})，医保支付{_yuan(_total(ln.charge for ln in lines))}"))


# --- 药品限二线使用 / 药品限适应症 ------------------------------------------------------------

def _kind(code: str | None) -> str | None:
    """A drug's class as its code writes it: 西药 X + the ATC 4th level (5 characters), 中成药 Z + 4."""
    c = pack_codes.normalize(code)
    if c.startswith("X") and len(c) >= 6:
        return c[:6]
    if c.startswith("Z") and len(c) >= 5:
        return c[:5]
    return None


def second_line(view: RecordView, params: dict, kb) -> list[Flag]:
    """限二线用药: evidence that a first-line drug failed or was not tolerated — the restriction's
    prior treatment where parsed, else an earlier drug of the same class, or notes saying so."""
    packs = kb.packs
    if packs is None:
        return []

    def judge(point, lines):
        alts = demands.parsed_alternatives(point) or []
        if alts and all(any("prior_treatment" in c for c in a) for a in alts):
            return None   # the restriction names the earlier treatment: judged with the rest
        first = _first_day(lines)
        kind = next((k for k in map(_kind, point.med_codes) if k), None)
        mine = {ln.charge.id for ln in lines}
        if kind and first:
            for c in view.billed():
                if c.id not in mine and _kind(c.item_code) == kind and c.day() and c.day() < first:
                    return None
        mask = sorted({ln.charge.item_name for ln in lines} | {point.item_name or ""}, key=len, reverse=True)
        if find_terms(view, params["failure_terms"], mask=mask):
            return None
        f = flag(view, packs, point, lines,
                 f"使用限二线用药的“{_name(lines)}”，病历中未见一线药品使用无效或不能耐受的依据"
                 f"(此前未用同类药品，病程中无“{'/'.join(params['failure_terms'][:3])}”等记载)，"
                 f"医保支付{_yuan(_total(ln.charge for ln in lines))}", parsed=not residue(point, "second_line"))
        return f
    return _judged(view, packs, params, "second_line", judge)


def indication(view: RecordView, params: dict, kb) -> list[Flag]:
    """限适应症: the restriction's alternatives checked against the record; a restriction not
    parsed is shown with its text."""
    packs = kb.packs
    if packs is None:
        return []
    return _judged(view, packs, params, "indication", lambda point, lines: _rest(view, packs, point, lines, "indication"))


CHECKS = {
    "sex": sex,
    "child": child,
    "working_age": working_age,
    "level": level,
    "visit": visit,
    "insurance": insurance,
    "internet": internet,
    "course": course,
    "period": period,
    "frequency": frequency,
    "duplicate_pair": duplicate_pair,
    "surgery_discount": surgery_discount,
    "herb_single": herb_single,
    "herb_excluded": herb_excluded,
    "second_line": second_line,
    "indication": indication,
}
# The kind ``demands.executable`` judges a check's points as.
KINDS = {"working_age": "age", "herb_single": "herb", "herb_excluded": "herb"}


def coverage_verdict(catalogue):
    """``point -> True | reason``: whether an enabled national rule of ``catalogue`` can judge
    the point (what ``medreview knowledge coverage`` counts as executable)."""
    by_class = {r.params.get("rule_class"): r.check for r in catalogue.enabled("national")}

    def verdict(point):
        check = by_class.get(point.rule_class)
        return demands.executable(point, KINDS.get(check, check) if check else None)
    return verdict
