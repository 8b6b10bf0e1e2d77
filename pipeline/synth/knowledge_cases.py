"""National 两库 cases of the sample batch: violations of the rule classes the shipped national pack
executes and traps that must stay clean, with drugs and service items drawn from the pack (their
national codes and names; ``knowledge_pack`` reads the pack). Parameters are in
``data/knowledge_cases.yaml``.

``assign`` runs once per batch after the cohort (its own RNG, so the rest of the batch is drawn as
before): it gives admissions their cases, a few days more for a stay that must outlast a drug's
payable days. ``inject`` runs per admission after the other violations (the admission's RNG): it
picks the point and the code, bills the lines, writes the orders, notes and diagnoses a case needs
and returns the violations, labelled with the rule class and the knowledge point; traps are kept
on the plan (``Plan.knowledge_traps``). ``annotate`` gives the other injectors' violations the
national rule class their lines also break (a daily item billed above its cap is 医疗服务项目限定
频次 as well).
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipeline.packs import codes as pack_codes
from pipeline.packs.schema import KnowledgePoint

from . import knowledge_pack as kp
from .knowledge_pack import Pick
from .people import INSURANCE_LABELS, LEVELS, age_on
from .plan import Charge, Note, Order, PlanBuilder
from .violations import Violation

LEVEL_NAMES = {1: "一级", 2: "二级", 3: "三级"}


# --- lines, orders, days --------------------------------------------------------------------------

def _item_id(spec: dict) -> str:
    """A case's line names its product (its national code) whatever code the bill gives it."""
    return f"kp:{spec.get('national', spec['code'])}"


def _bill(b: PlanBuilder, spec: dict, at: datetime, qty: float, day: int) -> Charge:
    at = min(max(at, b.slot.admit_at + timedelta(minutes=5)), b.plan.day_start(day + 1) - timedelta(seconds=1))
    c = Charge(at=at, item=_item_id(spec), code=spec["code"], name=spec["name"], category=spec["category"],
               unit=spec["unit"], qty=qty, price=float(spec["price"]), day=day)
    b.plan.charges.append(c)
    return c


def _time(b: PlanBuilder, day: int, hour: int) -> datetime:
    t = b.at(day, hour, 0, jitter=120)
    return max(t, b.slot.admit_at + timedelta(minutes=b.rng.randint(20, 90))) if day == 0 else t


def _billable(b: PlanBuilder) -> list[int]:
    return [d for d in range(0, b.plan.last_day + 1) if b.billable(d)]


def _run(b: PlanBuilder, n: int, earliest: int = 0) -> list[int]:
    """``n`` consecutive billable days starting on a drawn day from ``earliest`` on, or [] when the stay has none."""
    days = _billable(b)
    starts = [d for d in days if d >= earliest and all(d + k in days for k in range(n))]
    if n < 1 or not starts:
        return []
    s = b.rng.choice(starts)
    return list(range(s, s + n))


def _give_drug(b: PlanBuilder, spec: dict, days: list[int]) -> tuple[Order, list[Charge]]:
    start = _time(b, days[0], 8)
    stop = b.slot.discharge_at if days[-1] >= b.plan.last_day else b.at(days[-1] + 1, 8, 0, jitter=60)
    order = Order("long", start, f"{spec['name']} 1{spec['unit']} {spec['route']} {spec['freq']}", item=_item_id(spec), stop=stop)
    b.plan.orders.append(order)
    charges = [_bill(b, spec, max(start + timedelta(minutes=10), b.at(d, 9, 0, jitter=90)), 1, d) for d in days]
    return order, charges


def _do_item(b: PlanBuilder, spec: dict, day: int, qty: float = 1, hour: int = 10) -> tuple[Order, Charge]:
    done = _time(b, day, hour)
    order = Order("temp", b.order_time(done, 10, 90), spec["name"], item=_item_id(spec))
    b.plan.orders.append(order)
    return order, _bill(b, spec, done, qty, day)


@dataclass
class Trap:
    """A use of the national knowledge that stays clean (``labels.jsonl`` ``knowledge_traps``)."""

    rule_class: str
    kp_id: str | None   # None where no point applies (a prescription of payable herbs only)
    detail: str
    charges: list[Charge]

    def label(self) -> dict:
        return {"rule_class": self.rule_class, "kp_id": self.kp_id, "detail": self.detail,
                "charge_rows": sorted(c.row for c in self.charges)}


# --- the cases -----------------------------------------------------------------------------------

@dataclass
class Ctx:
    """One case being injected into one admission."""

    b: PlanBuilder
    cid: str
    case: dict
    violate: bool

    @property
    def rng(self) -> random.Random:
        return self.b.rng

    @property
    def p(self):
        return self.b.plan

    def params(self) -> dict:
        return kp.config()["params"]

    def age(self) -> tuple[int, int]:
        s = self.b.slot
        return age_on(s.person.birth, s.admit_at.date()), (s.admit_at.date() - s.person.birth).days

    def picks(self, ok) -> list[Pick]:
        """The case's points whose demand ``ok`` accepts, none of whose points has lines here yet,
        and that bill no test the record gives no reason for (a 糖化血红蛋白 without diabetes would
        be 过度检查 beside the case)."""
        used = {q.kp_id for c in self.p.charges for q in kp.points_of_line(c)}
        return [pk for pk in kp.pools()[self.cid] if ok(pk) and pk.point.kp_id not in used
                and not any(q.kp_id in used for c in pk.codes for q in kp.covering(c))
                and not self.unindicated_test(pk.point.item_name or "")]

    def unindicated_test(self, name: str) -> bool:
        """Whether ``name`` names a test the catalogue holds suspect as routine (``routine_suspect``)
        that the admission's condition does not order itself."""
        b = self.b
        have = set(b.cond["labs"]) | set(b.cond["exams"])
        return any(it.get("routine_suspect") and i not in have and re.sub("测定$", "", it["name"]) in name
                   for i, it in b.cat.items.items())

    def choose(self, picks: list[Pick]) -> tuple[Pick, str] | None:
        if not picks:
            return None
        pk = self.rng.choice(picks)
        return pk, self.rng.choice(pk.codes)

    def spec(self, pk: Pick, code: str, unit: str | None = None) -> dict:
        """The item as the bill gives it: mostly under its national code; a share (``local_code_share``)
        under a hospital-local code, which the checks match by name, where the name names the same points."""
        spec = kp.item_spec(code, kp.side_name(pk.point, code), self.case["item"], unit)
        if self.rng.random() < self.params()["local_code_share"] and code in pk.by_name:
            spec = {**spec, "code": kp.local_code(code), "national": code}
        return spec

    def drug_days(self, earliest: int = 0) -> list[int]:
        lo, hi = self.params()["drug_days"]
        return _run(self.b, min(self.rng.randint(lo, hi), len(_billable(self.b))), earliest)

    def result(self, pk: Pick | None, detail: str, charges: list[Charge], evidence: list, amount: float | None = None,
               context: list[Charge] = (), also: list[KnowledgePoint] = ()) -> list[Violation]:
        if not self.violate:
            self.p.knowledge_traps.append(Trap(self.case["rule_class"], pk.point.kp_id if pk else None, detail, list(charges)))
            return []
        out = [Violation(self.case["type"], detail, evidence, charges=list(charges), amount=amount,
                         context_rows=list(context), rule_class=self.case["rule_class"], kp_id=pk.point.kp_id)]
        cases = kp.config()["cases"]
        for q in {q.rule_class: q for q in reversed(also)}.values():   # one label per class: its first point
            kind = next((c["type"] for c in cases.values() if c["rule_class"] == q.rule_class), self.case["type"])
            out.append(Violation(kind, detail, evidence, charges=list(charges), amount=amount, rule_class=q.rule_class,
                                 kp_id=q.kp_id))
        return out


def _front(text: str) -> tuple[str, str]:
    return ("住院病案首页", text)


def _use(ctx: Ctx, pk: Pick, code: str) -> tuple[object, list[Charge], list]:
    """Bill the pick as its kind is used: a drug for a few days, a service item once."""
    spec = ctx.spec(pk, code)
    if ctx.case["item"] == "drug":
        days = ctx.drug_days()
        if not days:
            return None, [], []
        order, charges = _give_drug(ctx.b, spec, days)
        return order, charges, [("长期医嘱单", order), ("费用清单", charges[0])]
    days = _billable(ctx.b)
    order, c = _do_item(ctx.b, spec, ctx.rng.choice(days))
    return order, [c], [("临时医嘱单", order), ("费用清单", c)]


def _draw(ctx: Ctx, ok) -> tuple[Pick, list[Charge], list] | None:
    """One of the case's points that ``ok`` accepts, billed: its pick, charge lines and evidence."""
    got = ctx.choose(ctx.picks(ok))
    if not got:
        return None
    pk, code = got
    _, charges, ev = _use(ctx, pk, code)
    return (pk, charges, ev) if charges else None


def make_sex(ctx: Ctx) -> list[Violation] | None:
    sex = ctx.b.slot.person.sex
    need = sex if not ctx.violate else ("女" if sex == "男" else "男")
    drawn = _draw(ctx, lambda pk: pk.demand == need)
    if not drawn:
        return None
    pk, charges, ev = drawn
    detail = f"{sex}性患者使用限{need}性的“{charges[0].name}”（{kp.text(pk.point)[:40]}）"
    return ctx.result(pk, detail, charges, ev + [_front(f"性别：{sex}")])


def _child_ok(pk: Pick, years: int, days: int, violate: bool) -> bool:
    """A violation: the age outside the point's; a trap: inside it, and the rest of it writable."""
    return pk.demand.allows(years, days) != violate and (violate or kp.child_trap_support(pk.point) is not None)


def _support_dx(ctx: Ctx, d: dict, text: str) -> None:
    """The diagnosis an indication names, on the record (首页 other diagnoses, 入院诊断), unless
    ``text`` (the record's content before the drug was drawn) names it already."""
    if d.get("phrase", d["name"]) in text:
        return
    p = ctx.p
    p.other_dx.append((d["name"], d["code"]))
    p.coded_other.append((d["name"], d["code"]))
    p.admit_dx_lines.append(d["name"])


def make_child(ctx: Ctx) -> list[Violation] | None:
    years, days = ctx.age()
    text = _record_text(ctx.b)
    drawn = _draw(ctx, lambda pk: _child_ok(pk, years, days, ctx.violate))
    if not drawn:
        return None
    pk, charges, ev = drawn
    need = kp.child_trap_support(pk.point)
    if not ctx.violate and isinstance(need, dict):
        _support_dx(ctx, need, text)
    detail = f"{ctx.p.age}岁患者使用“{charges[0].name}”（{pk.point.rule_class}：{kp.text(pk.point)[:30]}）"
    return ctx.result(pk, detail, charges, ev + [_front(f"年龄：{ctx.p.age}岁")])


def make_level(ctx: Ctx) -> list[Violation] | None:
    have = LEVELS[ctx.b.slot.hospital.level]
    drawn = _draw(ctx, lambda pk: (pk.demand > have) == ctx.violate)
    if not drawn:
        return None
    pk, charges, ev = drawn
    detail = f"{ctx.b.slot.hospital.level}医疗机构使用限{LEVEL_NAMES[pk.demand]}及以上医疗机构的“{charges[0].name}”"
    return ctx.result(pk, detail, charges, ev + [_front(f"医疗机构：{ctx.b.slot.hospital.name}")])


def make_visit(ctx: Ctx) -> list[Violation] | None:
    if ctx.violate and any(q.rule_class == ctx.case["rule_class"] for c in ctx.p.charges for q in kp.points_of_line(c)):
        return None   # another drug of the stay would break the rule too under another visit type
    drawn = _draw(ctx, lambda pk: True)
    if not drawn:
        return None
    pk, charges, ev = drawn
    if ctx.violate:
        ctx.p.visit_type = "门诊" if "急诊" in pk.demand else "急诊"
    detail = f"就医方式为{ctx.p.visit_type}，使用限{'或'.join(pk.demand)}支付的“{charges[0].name}”"
    return ctx.result(pk, detail, charges, ev)


def make_insurance(ctx: Ctx) -> list[Violation] | None:
    sex = ctx.b.slot.person.sex
    drawn = _draw(ctx, lambda pk: all(d.get("药品区分性别使用", sex) == sex for d in pk.companions.values()))
    if not drawn:
        return None
    pk, charges, ev = drawn
    if not ctx.violate:
        ctx.p.insurance = ctx.case["insurance"]
    label = INSURANCE_LABELS[ctx.p.insurance]
    detail = f"险种为{label}的患者使用限{ctx.case['insurance']}保险的“{charges[0].name}”"
    return ctx.result(pk, detail, charges, ev + [_front(f"医疗付费方式：{label}")])


def make_course(ctx: Ctx) -> list[Violation] | None:
    b, pr = ctx.b, ctx.params()
    n_days = len(_billable(b))
    if ctx.case["item"] == "drug":
        if ctx.violate:
            got = ctx.choose(ctx.picks(lambda pk: pk.demand[0] and pk.demand[0] + pr["course_over"][0] <= n_days))
        else:
            got = ctx.choose(ctx.picks(lambda pk: pk.demand[0] and not pk.demand[1]))
        if not got:
            return None
        pk, code = got
        limit = pk.demand[0]
        if ctx.violate:
            over = min(ctx.rng.randint(*pr["course_over"]), n_days - limit)
            days = _run(b, limit + over)
        else:
            days = _run(b, min(ctx.rng.randint(*pr["drug_days"]), limit, n_days))
        if not days:
            return None
        order, charges = _give_drug(b, ctx.spec(pk, code), days)
        if not ctx.violate:
            return ctx.result(pk, f"“{charges[0].name}”使用{len(days)}天，未超过限定支付的{limit}天", charges, [])
        extra = charges[limit:]
        return ctx.result(pk, f"“{charges[0].name}”使用{len(days)}天，超过限定支付的{limit}天，超出{len(extra)}天",
                          extra, [("长期医嘱单", order), ("费用清单", extra[0])])
    # a service item: two uses closer than its interval (a violation), or uses within its limits
    if ctx.violate:
        got = ctx.choose(ctx.picks(lambda pk: pk.demand[1]))
    else:
        got = ctx.choose(ctx.picks(lambda pk: True))
    if not got:
        return None
    pk, code = got
    spec = ctx.spec(pk, code)
    days = _billable(b)
    if ctx.violate or pk.demand[1]:
        return _repeat(ctx, pk, code, spec, pk.demand[1], also=pk.also.get(code, []))
    uses = _run(b, min(ctx.rng.randint(2, 4), len(days)))
    if not uses:
        return None
    charges = [_do_item(b, spec, d)[1] for d in uses]
    return ctx.result(pk, f"“{spec['name']}”使用{len(uses)}天，未超过限定支付的{pk.demand[0]}天", charges, [])


def _repeat(ctx: Ctx, pk: Pick, code: str, spec: dict, interval: int, also=()) -> list[Violation] | None:
    """A 周期 / 间隔 item: used twice a few days apart (a violation), or once (a trap)."""
    b = ctx.b
    days = _billable(b)
    if not ctx.violate:
        _, c = _do_item(b, spec, ctx.rng.choice(days))
        return ctx.result(pk, f"住院期间“{spec['name']}”仅计费1次（间隔不短于{interval}天）", [c], [])
    lo, hi = ctx.params()["repeat_gap"]
    pairs = [(d, d + g) for d in days for g in range(lo, min(hi, interval - 1) + 1) if d + g in days]
    if not pairs:
        return None
    first, second = ctx.rng.choice(pairs)
    _, c1 = _do_item(b, spec, first)
    order, c2 = _do_item(b, spec, second)
    detail = f"“{spec['name']}”于{c1.at:%m-%d}、{c2.at:%m-%d}两次计费，间隔{second - first}天，短于{interval}天"
    return ctx.result(pk, detail, [c2], [("费用清单", c1), ("费用清单", c2)], also=also)


def make_period(ctx: Ctx) -> list[Violation] | None:
    got = ctx.choose(ctx.picks(lambda pk: True))
    if not got:
        return None
    pk, code = got
    return _repeat(ctx, pk, code, ctx.spec(pk, code), pk.demand)


def make_frequency(ctx: Ctx) -> list[Violation] | None:
    got = ctx.choose(ctx.picks(lambda pk: True))
    if not got:
        return None
    pk, code = got
    unit, per_day = pk.demand
    spec = ctx.spec(pk, code, unit)
    days = _run(ctx.b, min(ctx.rng.randint(1, 3), len(_billable(ctx.b))))
    if not days:
        return None
    admit = ctx.b.slot.admit_at
    present = {d: 23 - admit.hour if d == 0 else 24 for d in days}   # hours in hospital that day, at most
    qty = [per_day if unit == "日" else min(present[d], ctx.rng.randint(*ctx.params()["frequency_trap"][unit])) for d in days]
    if min(qty) < 1:
        return None
    over_day = None
    if ctx.violate:
        over_day = ctx.rng.randrange(len(days))
        qty[over_day] = per_day + ctx.rng.randint(*ctx.params()["frequency_over"][unit])
    charges = [_do_item(ctx.b, spec, d, q, hour=9)[1] for d, q in zip(days, qty)]
    if not ctx.violate:
        return ctx.result(pk, f"“{spec['name']}”按{unit}计价，每日计费不超过{per_day}{'次' if unit == '日' else '小时'}", charges, [])
    c = charges[over_day]
    excess = c.qty - per_day
    detail = f"“{spec['name']}”按{unit}计价，{c.at:%m-%d}计费{c.qty:g}{'次' if unit == '日' else '小时'}，超过每日{per_day}"
    return ctx.result(pk, detail, [c], [("费用清单", c)], amount=excess * c.price)


def make_working_age(ctx: Ctx) -> list[Violation] | None:
    drawn = _draw(ctx, lambda pk: all(d.get("医疗服务项目限支付疗程", 99) >= 5 for d in pk.companions.values()))
    if not drawn:
        return None
    pk, charges, ev = drawn
    detail = f"{ctx.p.age}岁患者使用限法定就业年龄段的“{charges[0].name}”"
    return ctx.result(pk, detail, charges, ev + [_front(f"年龄：{ctx.p.age}岁")])


def _pair_conflict(b: PlanBuilder, code: str, day: int, rc: str) -> bool:
    """Whether a line of ``code`` on ``day`` would meet the other item of any pair it belongs to."""
    day_points = {q.kp_id for c in b.plan.charges if c.day == day for q in kp.points_of_line(c) if q.rule_class == rc}
    return any(q.kp_id in day_points for q in kp.covering(code) if q.rule_class == rc)


def make_duplicate_pair(ctx: Ctx) -> list[Violation] | None:
    b = ctx.b
    days = _billable(b)
    if not ctx.violate and len(days) < 2:
        return None
    for _ in range(ctx.params()["tries"]):
        got = ctx.choose(ctx.picks(lambda pk: True))
        if not got:
            return None
        pk = got[0]
        a_code, b_code = pk.point.med_codes
        if ctx.violate:
            d_a = d_b = ctx.rng.choice(days)
        else:
            d_a, d_b = ctx.rng.sample(days, 2)
            if _pair_conflict(b, a_code, d_a, pk.point.rule_class) or _pair_conflict(b, b_code, d_b, pk.point.rule_class):
                continue
        o_a, c_a = _do_item(b, ctx.spec(pk, a_code), d_a, hour=9)
        _, c_b = _do_item(b, ctx.spec(pk, b_code), d_b, hour=11)
        c_b.at = max(c_b.at, c_a.at + timedelta(minutes=5)) if d_a == d_b else c_b.at
        if not ctx.violate:
            return ctx.result(pk, f"“{c_a.name}”与其内涵项目“{c_b.name}”不在同日收费", [c_a, c_b], [])
        detail = f"同日收取“{c_a.name}”与其项目内涵已含的“{c_b.name}”（{kp.text(pk.point)[:30]}）"
        return ctx.result(pk, detail, [c_b], [("费用清单", c_a), ("费用清单", c_b)], context=[c_a])
    return None


def make_surgery_discount(ctx: Ctx) -> list[Violation] | None:
    b, pr = ctx.b, ctx.params()
    groups: dict[str, list[Pick]] = {}
    for pk in ctx.picks(lambda pk: True):
        groups.setdefault(pk.demand, []).append(pk)
    options = sorted(g for g, ps in groups.items() if len(ps) >= 2)
    if not options:
        return None
    group = ctx.rng.choice(options)
    one, two = ctx.rng.sample(groups[group], 2)
    specs = sorted((ctx.spec(one, ctx.rng.choice(one.codes)), ctx.spec(two, ctx.rng.choice(two.codes))), key=lambda s: -s["price"])
    if specs[0]["price"] == specs[1]["price"] or specs[0]["code"][:11] == specs[1]["code"][:11]:
        return None
    second_pick = one if specs[1]["code"] in one.codes else two
    day = ctx.rng.choice(_billable(b))
    _, main = _do_item(b, specs[0], day, hour=10)
    qty = 1 if ctx.violate else pr["discounted_qty"]
    _, second = _do_item(b, specs[1], day, qty, hour=10)
    second.at = main.at + timedelta(minutes=3)
    if not ctx.violate:
        return ctx.result(second_pick, f"同日同组({group})第二台手术“{second.name}”按{qty:.0%}计价", [main, second], [])
    amount = second.amount - pr["second_rate"] * second.price
    detail = f"同日{group}“{main.name}”之外的第二台手术“{second.name}”按全价收费，未按{pr['second_rate']:.0%}折价"
    return ctx.result(second_pick, detail, [second], [("费用清单", main), ("费用清单", second)], amount=amount)


def _prescription(ctx: Ctx, herbs: list[tuple[str, str]], day: int) -> list[Charge]:
    """One day's 中药饮片 prescription: (code, name) herbs, each billed in grams for the doses."""
    pr = ctx.params()
    doses = ctx.rng.randint(*pr["herb_doses"])
    grams = [ctx.rng.randint(*pr["herb_grams"]) for _ in herbs]
    done = _time(ctx.b, day, 10)
    text = "中药饮片：" + " ".join(f"{n}{g}g" for (_, n), g in zip(herbs, grams)) + f"，共{doses}剂，水煎服，日一剂"
    ctx.p.orders.append(Order("temp", ctx.b.order_time(done, 10, 60), text))
    out = []
    for (code, name), g in zip(herbs, grams):
        if not code:
            spec = kp.local_herb(name)
        else:
            spec = kp.item_spec(code, name, "herb")
            same = {q.kp_id for q in kp.points_named(name)} == {q.kp_id for q in kp.covering(code)}
            if ctx.rng.random() < pr["local_code_share"] and same:
                spec = {**spec, "code": kp.local_code(code), "national": code}
        out.append(_bill(ctx.b, spec, done, g * doses, day))
    return out


def _herb_day(ctx: Ctx) -> int | None:
    taken = {c.day for c in ctx.p.charges if c.category == kp.config()["prices"]["herb"]["category"]}
    days = [d for d in _billable(ctx.b) if d not in taken]
    return ctx.rng.choice(days) if days else None


def _ordinary(ctx: Ctx, n: int) -> list[tuple[str, str]]:
    return [("", h) for h in ctx.rng.sample(kp.ordinary_herbs(), min(n, len(kp.ordinary_herbs())))]


def make_herb_single(ctx: Ctx) -> list[Violation] | None:
    day = _herb_day(ctx)
    picks = ctx.picks(lambda pk: True)
    if day is None or not picks:
        return None
    chosen = ctx.rng.sample(picks, min(len(picks), ctx.rng.randint(1, 3 if ctx.violate else 2)))
    herbs = [(ctx.rng.choice(pk.codes), pk.point.item_name) for pk in chosen]
    lo, hi = ctx.params()["herbs_per_prescription"]
    extra = [] if ctx.violate else _ordinary(ctx, ctx.rng.randint(lo, hi) - len(herbs))
    charges = _prescription(ctx, herbs + extra, day)
    names = "、".join(n for _, n in herbs)
    if not ctx.violate:
        return ctx.result(chosen[0], f"复方中药饮片处方含“{names}”及其他饮片", charges, [])
    return ctx.result(chosen[0], f"中药饮片处方仅由单方不予支付的“{names}”组成", charges,
                      [("临时医嘱单", ctx.p.orders[-1]), ("费用清单", charges[0])])


def make_herb_excluded(ctx: Ctx) -> list[Violation] | None:
    day = _herb_day(ctx)
    lo, hi = ctx.params()["herbs_per_prescription"]
    if day is None:
        return None
    if not ctx.violate:
        charges = _prescription(ctx, _ordinary(ctx, ctx.rng.randint(lo, hi)), day)
        return ctx.result(None, "复方中药饮片处方不含单复方均不予支付的饮片", charges, [])
    got = ctx.choose(ctx.picks(lambda pk: True))
    if not got:
        return None
    pk, code = got
    charges = _prescription(ctx, [(code, pk.point.item_name)] + _ordinary(ctx, ctx.rng.randint(lo, hi) - 1), day)
    return ctx.result(pk, f"中药饮片处方含单复方均不予支付的“{pk.point.item_name}”", charges[:1],
                      [("临时医嘱单", ctx.p.orders[-1]), ("费用清单", charges[0])])


def _atc6(code: str | None) -> str | None:
    c = pack_codes.normalize(code)
    return c[:6] if c.startswith("X") and len(c) >= 6 else None


def _record_text(b: PlanBuilder) -> str:
    """What the record's content is written from (condition, diagnoses, history) for word checks."""
    p, cat = b.plan, b.cat
    parts = [repr(p.cond), p.main_dx[0], p.coded_main[0], *(n for n, _ in p.coded_other + p.other_dx), *p.admit_dx_lines]
    parts += [cat.comorbidities[c]["history"] + cat.comorbidities[c]["name"] for c in p.comorbid]
    parts += [n.text for n in p.notes] + [o.text for o in p.orders]
    return "\n".join(parts)


def make_second_line(ctx: Ctx) -> list[Violation] | None:
    b, sl = ctx.b, kp.config()["second_line"]
    if ctx.violate and any(w in _record_text(b) for w in sl["failure_words"]):
        return None
    days = ctx.drug_days(earliest=0 if ctx.violate else 1)   # a trap's note follows the 首次病程记录
    if not days:
        return None
    earlier = {_atc6(c.code) for c in ctx.p.charges if c.day <= days[0]}
    got = ctx.choose(ctx.picks(lambda pk: not ctx.violate or not any(_atc6(c) in earlier for c in pk.codes)))
    if not got:
        return None
    pk, code = got
    spec = ctx.spec(pk, code)
    if ctx.violate:
        ctx.p.plain_prior = True
        order, charges = _give_drug(b, spec, days)
        return ctx.result(pk, f"使用限二线用药的“{spec['name']}”，病历中无一线药品使用无效或不能耐受的记载", charges,
                          [("长期医嘱单", order), ("费用清单", charges[0])])
    first = sl["first_line"].get(code[1:4], sl["first_line_default"])
    order, charges = _give_drug(b, spec, days)
    note = Note("日常病程记录", "treatment_change", order.start - timedelta(minutes=ctx.rng.randint(20, 60)), days[0],
                text=sl["note"].format(first=first, drug=spec["name"]))
    if note.at <= b.slot.admit_at + timedelta(hours=6):   # after the 首次病程记录
        return None
    ctx.p.notes = sorted(ctx.p.notes + [note], key=lambda n: n.at)
    return ctx.result(pk, f"“{spec['name']}”前有一线药物{first}治疗效果不佳的记载", charges, [])


def make_indication(ctx: Ctx) -> list[Violation] | None:
    text = _record_text(ctx.b)
    sex = ctx.b.slot.person.sex
    if ctx.violate:
        ok = lambda pk: not any(w in text for w in pk.demand["words"])   # noqa: E731
    else:
        ok = lambda pk: pk.demand.get("sex", sex) == sex   # noqa: E731
    drawn = _draw(ctx, ok)
    if not drawn:
        return None
    pk, charges, ev = drawn
    d = pk.demand
    if ctx.violate:
        return ctx.result(pk, f"使用“{charges[0].name}”（{kp.text(pk.point)[:40]}），病历中无{d['name']}的诊断依据", charges, ev)
    _support_dx(ctx, d, text)
    return ctx.result(pk, f"“{charges[0].name}”的限定适应症{d['name']}有诊断依据", charges, [])


MAKERS = {
    "sex": make_sex,
    "child": make_child,
    "level": make_level,
    "visit": make_visit,
    "insurance": make_insurance,
    "course": make_course,
    "frequency": make_frequency,
    "period": make_period,
    "working_age": make_working_age,
    "duplicate_pair": make_duplicate_pair,
    "surgery_discount": make_surgery_discount,
    "herb_single": make_herb_single,
    "herb_excluded": make_herb_excluded,
    "second_line": make_second_line,
    "indication": make_indication,
}
assert set(MAKERS) == set(kp.READERS)


# --- the batch: which admissions get which cases -------------------------------------------------

def _slot_facts(s) -> dict:
    years = age_on(s.person.birth, s.admit_at.date())
    return {"sex": s.person.sex, "years": years, "days": (s.admit_at.date() - s.person.birth).days,
            "level": LEVELS[s.hospital.level], "los": s.los}


def _feasible(cid: str, case: dict, violate: bool, f: dict, cat, s) -> bool:
    """Whether the admission can carry the case at all (the record may still leave it out)."""
    make, picks, pr = case["make"], kp.pools()[cid], kp.config()["params"]
    if not picks:
        return False
    if make == "child":
        return any(_child_ok(pk, f["years"], f["days"], violate) for pk in picks)
    if make == "level":
        return any((pk.demand > f["level"]) == violate for pk in picks)
    if make == "insurance":
        if not all(d.get("药品区分性别使用", f["sex"]) == f["sex"] for pk in picks for d in pk.companions.values()):
            return False
        return violate or pr["insured_age"][0] <= f["years"] <= pr["insured_age"][1]
    if make == "course" and violate:
        if case["item"] != "drug":
            return f["los"] >= 3 and any(pk.demand[1] for pk in picks)
        return True   # assign lengthens the stay when needed
    if make == "period" and violate:
        return f["los"] >= 3
    if make == "working_age":
        if violate:
            return any(lo <= f["years"] <= hi for lo, hi in pr["working_age_violation"])
        return pr["working_age_trap"][0] <= f["years"] <= pr["working_age_trap"][1]
    if make == "second_line" and violate:
        cond = cat.conditions_by_id[s.condition_id]
        return not any(w in repr(cond) for w in kp.config()["second_line"]["failure_words"])
    if make == "indication":
        if violate:
            cond = repr(cat.conditions_by_id[s.condition_id])
            return any(not any(w in cond for w in pk.demand["words"]) for pk in picks)
        return any(pk.demand.get("sex", f["sex"]) == f["sex"] for pk in picks)
    return True


def _lengthen(rng: random.Random, s, cat) -> None:
    """A stay long enough for a drug's payable days to run out: the shortest limit plus a few days."""
    limits = [pk.demand[0] for pk in kp.pools()["drug_course"] if pk.demand[0]] if "drug_course" in kp.pools() else []
    cond = cat.conditions_by_id[s.condition_id]
    if not limits or cond.get("minor") or cond.get("chemo") or "low_standard_admission" in s.violations:
        return
    need = min(limits) + rng.randint(*kp.config()["params"]["course_los_extra"])
    if s.los < need:
        s.discharge_at += timedelta(days=need - s.los)


def assign(cat, slots, *, seed: int, weights: dict) -> None:
    """Give each admission its national cases (``Slot.knowledge``); its own RNG."""
    cfg = kp.config()
    rng = random.Random(f"medreview-synth:{seed}:knowledge")
    cases = {cid: c for cid, c in cfg["cases"].items() if weights.get(c["type"], 0) > 0 and c["weight"] > 0}
    for s in slots:
        shares = cfg["per_admission"]
        n_v = rng.choices(range(len(shares["violations"])), shares["violations"])[0] if s.violations else 0
        n_t = rng.choices(range(len(shares["traps"])), shares["traps"])[0]
        if "low_standard_admission" in s.violations:
            continue   # a stay the record shows no reason for: no operation, infusion or special item beside it
        f = _slot_facts(s)
        taken_classes: set[str] = set()
        taken_groups: set[str] = set()
        for violate in [True] * n_v + [False] * n_t:
            options = [cid for cid, c in cases.items()
                       if c["rule_class"] not in taken_classes and not (set(c.get("also") or ()) & taken_classes)
                       and c.get("group") not in taken_groups and _feasible(cid, c, violate, f, cat, s)]
            if not options:
                break
            cid = rng.choices(options, [cases[o]["weight"] if violate else cases[o].get("trap_weight", cases[o]["weight"])
                                        for o in options])[0]
            c = cases[cid]
            taken_classes |= {c["rule_class"], *(c.get("also") or ())}
            if c.get("group"):
                taken_groups.add(c["group"])
            s.knowledge.append({"case": cid, "violate": violate})
            if violate and cid == "drug_course":
                _lengthen(rng, s, cat)
                f = _slot_facts(s)


def inject(b: PlanBuilder, wanted: list[dict]) -> list[Violation]:
    """Inject the admission's cases (after its other violations); a case the record cannot carry
    (no point fits it) is left out. Then the notes that billed drugs' points ask for."""
    out: list[Violation] = []
    cases = kp.config()["cases"]
    for w in wanted:
        case = cases[w["case"]]
        made = MAKERS[case["make"]](Ctx(b, w["case"], case, w["violate"]))
        out += made or []
    _support_notes(b)
    return out


def _support_notes(b: PlanBuilder) -> None:
    p = b.plan
    for spec in kp.config()["support_notes"]:
        lines = [c for c in p.charges if any(spec["when"] in kp.text(q) for q in kp.points_of_line(c))]
        if not lines or any(n.text == spec["text"] for n in p.notes):
            continue
        first = min(lines, key=lambda c: c.at)   # the screening precedes the first dose
        at = max(b.slot.admit_at + timedelta(minutes=10), first.at - timedelta(minutes=b.rng.randint(30, 120)))
        at = max(b.slot.admit_at, min(at, first.at - timedelta(minutes=1)))
        p.notes = sorted(p.notes + [Note("日常病程记录", "screening", at, (at.date() - b.slot.admit_at.date()).days,
                                         text=spec["text"])], key=lambda n: n.at)


# --- the other injectors' violations that national rules also see --------------------------------

def annotate(b: PlanBuilder, violations: list[Violation]) -> None:
    """The national rule class of an injected violation whose lines break a point too: a daily
    item above its cap (限定频次), an included item billed beside its pair (重复收费), a test
    repeated within its period (周期超频次), a restricted drug the pack lists under 限适应症."""
    for v in violations:
        if v.rule_class:
            continue
        lines = v.charges + v.context_rows
        pts = [(c, q) for c in lines for q in kp.points_of_line(c)]
        if v.type == "excess_charge":
            hit = next((q for c, q in pts if q.rule_class == "医疗服务项目限定频次" and kp.read_frequency(q)
                        and sum(x.qty for x in b.plan.charges if x.code == c.code and x.day == c.day) > kp.read_frequency(q)[1]), None)
        elif v.type == "duplicate_charge" and len(lines) == 2:
            orig, dup = v.context_rows[0] if v.context_rows else lines[0], v.charges[0]
            if orig.code == dup.code:
                hit = next((q for c, q in pts if q.rule_class == "医疗服务项目周期超频次"), None)
            else:
                a = {q.kp_id for q in kp.points_of_line(orig) if q.rule_class == "医疗服务项目重复收费"}
                hit = next((q for q in kp.points_of_line(dup) if q.kp_id in a), None)
        elif v.type == "drug_restriction":
            hit = next((q for c, q in pts if q.rule_class == "药品限适应症"), None)
        else:
            hit = None
        if hit is not None:
            v.rule_class, v.kp_id = hit.rule_class, hit.kp_id
