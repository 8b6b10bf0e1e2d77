"""Inject violations into an admission plan and record their ground truth.

Each injector edits the plan (adds, changes or removes charges, orders, notes, vitals, codes) and
returns a Violation whose evidence points at plan objects; record.py later turns each object into
the exact line drawn on the page (``Record.line_of``). Amount definitions are in README.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from . import drg_coding
from .kinds import VIOLATION_TYPES
from .plan import Charge, Note, PlanBuilder, order_name

DAILY_ITEMS = ("bed_general", "nursing_1", "nursing_2", "visit_fee")
ROUTINE_NORMAL_FINDINGS = {
    "chest_ct": "双肺未见明显异常，纵隔淋巴结未见肿大。",
    "echo": "心脏结构及功能未见明显异常。",
    "vessel_us": "双侧颈动脉未见明显异常。",
    "leg_vessel_us": "双下肢动静脉血流通畅，未见血栓。",
    "gyn_us": "子宫及双附件未见明显异常。",
    "uro_us": "双肾、输尿管、膀胱未见明显异常。",
}


@dataclass
class Violation:
    type: str
    detail: str
    evidence: list[tuple[str, object]]  # (document title, plan object or exact text)
    charges: list[Charge] = field(default_factory=list)
    amount: float | None = None  # None = sum of `charges`; set for unit-based amounts
    whole_admission: bool = False  # amount = the admission's total cost
    context_rows: list[Charge] = field(default_factory=list)  # listed in charge_rows, not in the amount
    rule_class: str | None = None  # the national 两库 rule class it falls under, with the point (knowledge_cases)
    kp_id: str | None = None

    def resolve_amount(self, total_cost: float) -> float:
        if self.whole_admission:
            return total_cost
        if self.amount is not None:
            return round(self.amount + 1e-9, 2)
        return round(sum(c.amount for c in self.charges) + 1e-9, 2)


def _free(b: PlanBuilder) -> list[Charge]:
    """Charge lines not yet part of an injected violation (amounts must not overlap)."""
    taken = {id(c) for v in b.injected for c in v.charges + v.context_rows}
    return [c for c in b.plan.charges if id(c) not in taken]


def _first_order(plan, item: str):
    return next(o for o in plan.orders if o.item == item)


def low_standard_admission(b: PlanBuilder) -> Violation:
    p = b.plan
    return Violation("low_standard_admission",
                     f"{p.main_dx[0]}病情轻，住院{p.los}天以口服药及检查为主，无实质性住院治疗，可在门诊诊治",
                     [("住院病案首页", f"实际住院{p.los}天"), ("入院记录", f"1.{p.admit_dx_lines[0]}")], whole_admission=True)


# 分解住院: what a continuous stay would not have billed again, the second admission's workup
# (tests and exams of its first two calendar days); rules README "分解住院的涉及金额".
SPLIT_WORKUP_CATEGORIES = ("化验费", "检查费")
SPLIT_WORKUP_DAYS = 2


def split_admission(b: PlanBuilder) -> Violation:
    p, r = b.plan, b.slot.readmission
    workup = [c for c in p.charges if c.category in SPLIT_WORKUP_CATEGORIES and c.day < SPLIT_WORKUP_DAYS]
    return Violation("split_admission",
                     f"出院后{r['gap_days']}天因同一疾病（{p.main_dx[1][:3]}）再次入院，前次住院号{r['of']}（{r['prev_hospital']}），"
                     f"重复的入院检查检验{len(workup)}项",
                     [("住院病案首页", f"入院时间：{b.slot.admit_at:%Y-%m-%d %H:%M}"), ("入院记录", p.readmit_needle)],
                     charges=workup)


def bed_hanging(b: PlanBuilder) -> Violation:
    p, rng = b.plan, b.rng
    length = rng.randint(3, min(5, p.last_day - 4))
    start = rng.randint(2, p.last_day - length - 1)
    days = list(range(start, start + length))
    p.absent_days = days
    absent = set(days)
    p.charges = [c for c in p.charges if c.day not in absent or c.item in DAILY_ITEMS]
    removed_labs = [r for r in p.labs if (r.sampled_at.date() - b.slot.admit_at.date()).days in absent]
    p.labs = [r for r in p.labs if r not in removed_labs]
    p.orders = [o for o in p.orders if not (o.kind == "temp" and (o.start.date() - b.slot.admit_at.date()).days in absent)]
    p.notes = [n for n in p.notes if n.day not in absent]
    out = Note("日常病程记录", "leave_out", b.at(start - 1, 16, 0, jitter=150), start - 1, text=rng.choice(b.cat.phrases["leave_out"]))
    rv = p.vitals[start + length]
    sbp, dbp = rv.bp.split("/")
    back_text = rng.choice(b.cat.phrases["leave_back"]).format(
        vitals_short=f"T {rv.temps[0]}℃，P {rv.pulse}次/分，R {rv.resp}次/分，BP {sbp}/{dbp}mmHg")
    back = Note("日常病程记录", "leave_back", b.at(start + length, 9, 0, jitter=120), start + length, text=back_text)
    p.notes = sorted([n for n in p.notes if n.day != start + length] + [out, back], key=lambda n: n.at)
    for v in p.vitals:
        if v.day in absent:
            v.temps, v.pulse, v.resp, v.bp, v.stool, v.mark = [], "", "", "", "", "外出"
    charged = [c for c in p.charges if c.day in absent]
    first_bed = next(c for c in charged if c.item == "bed_general")
    return Violation("bed_hanging",
                     f"{start + 1}至{start + length}住院日（共{length}天）患者外出不在院，无病程、医嘱执行及生命体征记录，仍收取床位费、护理费、诊查费",
                     [("体温单", p.vitals[start]), ("日常病程记录", out.text), ("费用清单", first_bed)], charges=charged)


def duplicate_charge(b: PlanBuilder) -> Violation:
    rng, cat = b.rng, b.cat
    pairs = [(pair, c) for pair in cat.exclusive_pairs for c in _free(b) if c.item == pair["a"]]
    if pairs and rng.random() < 0.5:
        pair, orig = rng.choice(pairs)
        dup = b.charge(pair["b"], orig.at + timedelta(seconds=rng.randint(1, 50)), 1, orig.day)
        detail = f"{dup.name}与{orig.name}同日收费：{pair['reason']}"
    else:
        candidates = [c for c in _free(b) if c.item not in DAILY_ITEMS and cat.charge_item(c.item).get("kind") in ("lab", "exam", None)]
        orig = rng.choice(candidates)
        dup = b.charge(orig.item, orig.at, orig.qty, orig.day)
        detail = f"{orig.name}同一时间重复计费一次"
    return Violation("duplicate_charge", detail, [("费用清单", orig), ("费用清单", dup)], charges=[dup], context_rows=[orig])


def _over_cap(b: PlanBuilder, c: Charge, over: int) -> Violation:
    """Bill ``over`` units more than the item's daily cap on the charge's day."""
    cap = b.cat.items[c.item]["daily_cap"]
    c.qty += cap - c.qty + over
    return Violation("excess_charge", f"{c.name}单日计费{c.qty}{c.unit}，超过每日上限{cap}{c.unit}，超出{c.qty - cap}{c.unit}",
                     [("费用清单", c)], charges=[c], amount=(c.qty - cap) * c.price)


def _over_stay(b: PlanBuilder, item: str) -> Violation | None:
    """A per-day service billed for two days more than the stay has (住院天数 counted 算入不算出):
    once on the discharge day and twice on one day of the stay."""
    p, rng = b.plan, b.rng
    days = [c for c in _free(b) if c.item == item]
    if len(days) < 2:
        return None
    twice = rng.choice(days)
    added = [b.charge(item, twice.at + timedelta(seconds=rng.randint(1, 50)), 1, twice.day),
             b.charge(item, b.at(p.los, 0, 5), 1, p.los)]
    return Violation("excess_charge", f"{twice.name}按日计价，住院{p.los}天计费{p.los + 2}天，多计2天",
                     [("费用清单", a) for a in added], charges=added, amount=sum(a.price for a in added))


def excess_charge(b: PlanBuilder) -> Violation:
    p, rng, cat = b.plan, b.rng, b.cat
    if rng.random() < 0.3:
        over = _over_stay(b, "visit_fee")
        if over is not None:
            return over
    capped = [c for c in _free(b) if cat.charge_item(c.item).get("daily_cap") and cat.charge_item(c.item)["unit"] == "小时"]
    drugs = [c for c in _free(b) if c.item in cat.drugs and cat.drugs[c.item]["route"] != "静脉泵入" and c.item in p.drugs_used]
    if capped and (not drugs or rng.random() < 0.5):
        return _over_cap(b, rng.choice(capped), rng.randint(4, 12))
    if not drugs:
        # A course with neither hourly services nor drug orders (脂肪瘤 under local anaesthesia):
        # a per-day service (bed, nursing, 诊查费) billed above its daily cap instead.
        per_day = [c for c in _free(b) if cat.charge_item(c.item).get("daily_cap")]
        return _over_cap(b, rng.choice(per_day), rng.randint(1, 2))
    c = rng.choice(drugs)
    extra = rng.randint(1, 3)
    ordered = c.qty
    c.qty += extra
    return Violation("excess_charge", f"{c.name}医嘱每日{ordered}{c.unit}，当日计费{c.qty}{c.unit}，多计{extra}{c.unit}",
                     [("费用清单", c), ("长期医嘱单", _first_order(p, c.item))], charges=[c], amount=extra * c.price)


def _downgrade(b: PlanBuilder, sub: dict) -> None:
    """The record orders and reports the cheaper ``performed`` item where the stay had ``billed``."""
    p, cat = b.plan, b.cat
    done = cat.items[sub["performed"]]
    for e in p.exams:
        if e.item == sub["billed"]:
            e.item, e.title, e.label = sub["performed"], done["name"], done.get("label", done["name"])
    for r in p.labs:
        for panel in r.panels:
            if panel.item == sub["billed"]:
                panel.item, panel.title = sub["performed"], done["name"]
    for o in p.orders:
        if o.item == sub["billed"]:
            o.item, o.text = sub["performed"], order_name(done["name"])


def item_substitution(b: PlanBuilder) -> Violation:
    p, rng, cat = b.plan, b.rng, b.cat
    options = [(sub, c) for sub in cat.substitutions for c in _free(b)
               if c.item == (sub["billed"] if sub.get("downgrade") else sub["performed"])]
    sub, c = rng.choice(options)
    billed = cat.items[sub["billed"]]
    performed = cat.items[sub["performed"]]
    diff = (billed["price"] - performed["price"]) * c.qty
    performed_name = performed["name"]
    if sub.get("downgrade"):
        _downgrade(b, sub)
    c.item, c.code, c.name, c.price = sub["billed"], billed["code"], billed["name"], float(billed["price"])
    if performed["kind"] == "exam":
        doc = ("检查报告", next(e for e in p.exams if e.item == sub["performed"]))
    else:
        doc = ("检验报告", next(panel for r in p.labs for panel in r.panels if panel.item == sub["performed"]))
    return Violation("item_substitution", f"实际项目“{performed_name}”，按“{c.name}”收费：{sub['detail']}",
                     [("费用清单", c), doc], charges=[c], amount=diff)


def over_examination(b: PlanBuilder) -> Violation:
    p, rng, cat, cond = b.plan, b.rng, b.cat, b.cond
    have = set(cond["labs"]) | set(cond["exams"]) | {c.item for c in p.charges}
    # an item another one billed here already includes (粪便常规 includes 镜检) would be 重复收费 too
    included = {pr["b"] for pr in cat.exclusive_pairs if pr["a"] in have} | {pr["a"] for pr in cat.exclusive_pairs if pr["b"] in have}
    pool = [i for i, it in cat.items.items() if it.get("routine_suspect") and i not in have and i not in included]
    sex = b.slot.person.sex
    pool = [i for i in pool if not (i == "psa" and sex == "女") and not (i == "gyn_us" and sex == "男")]
    chosen = sorted(rng.sample(pool, rng.randint(2, min(4, len(pool)))))
    labs = [i for i in chosen if cat.items[i]["kind"] == "lab"]
    exams = [i for i in chosen if cat.items[i]["kind"] == "exam"]
    sampled, day = b.admission_lab_time()
    charges = []
    evidence = []
    if labs:
        _, lab_charges = b.add_labs(labs, sampled + timedelta(minutes=2), day)
        charges += lab_charges
    for i in exams:
        _, c = b.add_exam(i, ROUTINE_NORMAL_FINDINGS[i], b.at(min(1, p.last_day), 10, 0, jitter=300), min(1, p.last_day))
        charges.append(c)
    for c in charges:
        evidence.append(("临时医嘱单", next(o for o in p.orders if o.item == c.item and o.kind == "temp")))
    evidence += [("费用清单", c) for c in charges]
    names = "、".join(cat.items[i]["name"] for i in chosen)
    return Violation("over_examination", f"无相应指征，入院即开展{names}（入院常规化检查）", evidence, charges=charges)


def drug_restriction(b: PlanBuilder) -> Violation:
    p, rng, cat, cond = b.plan, b.rng, b.cat, b.cond
    options = []
    if p.age < 18:
        options += ["levofloxacin"] * 3
    else:
        if not p.fasting and "omeprazole_iv" not in p.drugs_used:
            options += ["omeprazole_iv"] * 3
        if not cond.get("hypoalbumin") and "lft" in cond["labs"]:
            options += ["albumin"] * 2
        options += ["tamsulosin" if b.slot.person.sex == "女" else "progesterone"]
    drug_id = rng.choice(options)
    drug = cat.drugs[drug_id]
    last = min(p.last_day, rng.randint(2, 5))
    first = 0 if b.slot.admit_at.hour < 20 else min(1, last)
    charges = b.add_drug(drug_id, first, last)
    b.administration_charges()
    order = _first_order(p, drug_id)
    restriction = drug["restriction"]
    evidence = [("长期医嘱单", order), ("费用清单", charges[0])]
    if drug_id == "omeprazole_iv":
        diet = next(o for o in p.orders if o.kind == "long" and ("饮食" in o.text))
        evidence.append(("长期医嘱单", diet))
        why = f"患者{diet.text}，无禁食医嘱或吞咽困难"
    elif drug_id == "albumin":
        row = next(r for rep in p.labs for panel in rep.panels for r in panel.rows if r.abbr == "ALB")
        evidence.append(("检验报告", row))
        why = f"白蛋白{row.value}g/L，不低于30g/L，且无胸腹水"
    elif restriction["kind"] == "sex":
        evidence.append(("住院病案首页", f"性别：{b.slot.person.sex}"))
        why = f"患者为{b.slot.person.sex}性"
    else:
        evidence.append(("住院病案首页", f"年龄：{p.age}岁"))
        why = f"患者{p.age}岁"
    return Violation("drug_restriction", f"{drug['name']}（{restriction['text']}）：{why}", evidence, charges=charges)


def upcoding(b: PlanBuilder) -> Violation:
    """高套分组 where it moves the group (drg_coding.py); the amount is set once the DRG truth is
    known (record.py)."""
    detail, evidence = drg_coding.upcode(b, b.drg_rng)
    return Violation("upcoding", detail, evidence, amount=0.0)


def doc_timeliness(b: PlanBuilder) -> Violation:
    p, rng, s = b.plan, b.rng, b.slot
    kind = rng.choice(["first", "first", "discharge"] + (["round"] if p.last_day >= 4 and not p.absent_days else []))
    if kind == "first":
        note = next(n for n in p.notes if n.role == "first")
        note.at = s.admit_at + timedelta(hours=rng.randint(9, 30), minutes=rng.randint(0, 59))
        note.day = (note.at.date() - s.admit_at.date()).days
        p.notes.sort(key=lambda n: n.at)
        hours = (note.at - s.admit_at).total_seconds() / 3600
        return Violation("doc_timeliness", f"首次病程记录于入院后{hours:.1f}小时完成，超过8小时时限",
                         [("首次病程记录", note), ("住院病案首页", f"入院时间：{s.admit_at:%Y-%m-%d %H:%M}")], amount=0.0)
    if kind == "round":
        note = next(n for n in p.notes if n.role == "round_first")
        note.at = s.admit_at + timedelta(hours=rng.randint(52, 80), minutes=rng.randint(0, 59))
        note.day = (note.at.date() - s.admit_at.date()).days
        p.notes = sorted([n for n in p.notes if n is note or n.day != note.day or n.role in ("first", "postop")], key=lambda n: n.at)
        hours = (note.at - s.admit_at).total_seconds() / 3600
        return Violation("doc_timeliness", f"主治医师首次查房记录于入院后{hours:.1f}小时完成，超过48小时时限",
                         [("上级医师查房记录", note), ("住院病案首页", f"入院时间：{s.admit_at:%Y-%m-%d %H:%M}")], amount=0.0)
    p.discharge_note_at = s.discharge_at + timedelta(hours=rng.randint(27, 72), minutes=rng.randint(0, 59))
    hours = (p.discharge_note_at - s.discharge_at).total_seconds() / 3600
    return Violation("doc_timeliness", f"出院记录于出院后{hours:.1f}小时完成，超过24小时时限",
                     [("出院记录", f"记录时间：{p.discharge_note_at:%Y-%m-%d %H:%M}"), ("住院病案首页", f"出院时间：{s.discharge_at:%Y-%m-%d %H:%M}")],
                     amount=0.0)


INJECTORS = {
    "low_standard_admission": low_standard_admission,
    "split_admission": split_admission,
    "bed_hanging": bed_hanging,
    "duplicate_charge": duplicate_charge,
    "excess_charge": excess_charge,
    "item_substitution": item_substitution,
    "over_examination": over_examination,
    "drug_restriction": drug_restriction,
    "upcoding": upcoding,
    "doc_timeliness": doc_timeliness,
}
assert set(INJECTORS) == set(VIOLATION_TYPES)

# bed_hanging rewrites days of the stay, so it runs before injectors that add charges on given days;
# item_substitution before split_admission, whose workup takes the first days' tests and exams
ORDER = ["low_standard_admission", "item_substitution", "split_admission", "bed_hanging", "upcoding", "over_examination",
         "drug_restriction", "duplicate_charge", "excess_charge", "doc_timeliness"]


def inject(b: PlanBuilder, types: list[str]) -> list[Violation]:
    b.injected = []
    for t in ORDER:
        if t in types:
            b.injected.append(INJECTORS[t](b))
    return b.injected


def applicable(cat, cond: dict, vtype: str) -> bool:
    """Whether a condition's usual course has what the injector needs."""
    if vtype == "item_substitution":
        usual = {sub["billed"] if sub.get("downgrade") else sub["performed"] for sub in cat.substitutions}
        return bool(usual & (set(cond["labs"]) | set(cond["exams"])))
    return True
