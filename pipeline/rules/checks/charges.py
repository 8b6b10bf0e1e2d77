"""Charge-line rules: 重复收费, 超标准收费, 分解项目收费, 串换项目, 限定支付药品, 无医嘱收费."""
from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from difflib import SequenceMatcher

from pipeline.dates import parse_datetime
from pipeline.record.view import Charge, RecordView
from pipeline.rules.flags import Flag
from pipeline.rules.knowledge import any_condition, charges_matching, find_terms, matches_item, norm

LEVELS = {"一级": 1, "二级": 2, "三级": 3}
# Bill text does not document what was done; it is what is being checked.
NOT_DOCUMENTATION = ("费用清单",)


def _item_key(c: Charge) -> str:
    return c.item_code or norm(c.item_name)


def _unit_price(c: Charge) -> float:
    if c.unit_price:
        return float(c.unit_price)
    return float(c.amount) / c.qty if c.qty else float(c.amount)


def _yuan(x: float) -> str:
    return f"{x:.2f}元"


def dedup(charges: list[Charge]) -> tuple[list[Charge], list[list[Charge]]]:
    """Split exact duplicate lines (same time, item, quantity, amount) from the rest: returns
    (one line per distinct charge, groups of duplicates)."""
    groups: dict[tuple, list[Charge]] = defaultdict(list)
    for c in charges:
        groups[(c.at, _item_key(c), c.qty, round(c.amount, 2))].append(c)
    return [g[0] for g in groups.values()], [g for g in groups.values() if len(g) > 1]


def exclusive_pairs(view: RecordView, params: dict, kb: dict) -> list[Flag]:
    flags = []
    billed, _ = dedup(view.billed())
    for i, pair in enumerate(kb["exclusive_pairs"]["pairs"]):
        a_days = defaultdict(list)
        for c in charges_matching(view, pair["a"], billed):
            a_days[c.day()].append(c)
        hits = [(c, a_days[c.day()][0]) for c in charges_matching(view, pair["b"], billed)
                if c.day() in a_days and not matches_item(pair["a"], c.item_name, c.item_code)]
        if not hits:
            continue
        amount = sum(b.amount for b, _ in hits)
        b0, a0 = hits[0]
        days = sorted({b.day() for b, _ in hits if b.day()})
        flags.append(Flag(
            rule_id="", key=f"pair{i}:{_item_key(b0)}",
            reason=(f"{len(days)}天内同日同时收取“{a0.item_name}”与“{b0.item_name}”({pair['reason']})，"
                    f"重复收费{_yuan(amount)}"),
            evidence=[view.charge_evidence(a0), view.charge_evidence(b0)],
            charge_ids=[b.id for b, _ in hits], amount=amount))
    return flags


def _orders_of(view: RecordView, c: Charge) -> int:
    """How many orders name this drug on the charge's day: a diluent ordered with two drugs
    (0.9%氯化钠 for each infusion) is billed as identical lines, rightly."""
    return sum(1 for o in view.orders if c.day() in _order_days(o, view) and names_match(_order_item(o), c.item_name))


def identical_lines(view: RecordView, params: dict, kb: dict) -> list[Flag]:
    _, dups = dedup(view.billed())
    caps = kb["daily_caps"]["caps"]
    flags = []
    for g in dups:
        c = g[0]
        if params["only_per_day_items"] and not any(matches_item(x["item"], c.item_name, c.item_code) for x in caps):
            continue
        allowed = max(1, _orders_of(view, c)) if (c.category or "") in DRUG_CATEGORIES else 1
        extra = g[allowed:]
        if not extra:
            continue
        amount = sum(x.amount for x in extra)
        flags.append(Flag(
            rule_id="", key=f"{c.at}:{_item_key(c)}",
            reason=(f"{c.at or ''} “{c.item_name}”同一明细重复计费{len(g)}次"
                    f"(数量{c.qty:g}、金额{c.amount:.2f}元完全相同)，多收{_yuan(amount)}"),
            evidence=[view.charge_evidence(x) for x in g[:2]],
            charge_ids=[x.id for x in extra], amount=amount))
    return flags


def daily_cap(view: RecordView, params: dict, kb: dict) -> list[Flag]:
    """Units above a day's cap, and for per-day items (``per_stay``) units above cap × the stay's
    days (``RecordView.los_days``: 算入不算出, the one count every day-based cap uses); the excess
    of an item is the larger of the two, so no unit is counted twice."""
    billed, _ = dedup(view.billed())
    los = view.los_days()
    flags, seen = [], set()
    for cap in kb["daily_caps"]["caps"]:
        by_key: dict[str, list[Charge]] = defaultdict(list)
        for c in charges_matching(view, cap["item"], billed):
            by_key[_item_key(c)].append(c)
        for key, cs in by_key.items():
            if key in seen:   # the first cap an item matches is its cap
                continue
            seen.add(key)
            per_day: dict = defaultdict(list)
            for c in cs:
                per_day[c.day()].append(c)
            over = {d: sum(c.qty or 0 for c in x) - cap["cap"] for d, x in per_day.items()
                    if sum(c.qty or 0 for c in x) > cap["cap"]}
            day_excess = sum(over.values())
            total = sum(c.qty or 0 for c in cs)
            stay_cap = cap["cap"] * los if cap.get("per_stay") and los else None
            stay_excess = max(0.0, total - stay_cap) if stay_cap is not None else 0.0
            excess = max(day_excess, stay_excess)
            if excess <= 0:
                continue
            lines = _excess_lines(cs, per_day, over, excess, view)
            amount = excess * _unit_price(cs[0])
            what = [f"单日计费超过上限{cap['cap']:g}({len(over)}天超限)"] if over else []
            if stay_excess > 0:
                what.append(f"住院{los}天(算入不算出)最多计{stay_cap:g}，共计{total:g}")
            flags.append(Flag(
                rule_id="", key=key,
                reason=f"“{cs[0].item_name}”{'；'.join(what)}，超出{excess:g}，多收{_yuan(amount)}",
                evidence=[view.charge_evidence(c) for c in lines[:3]],
                charge_ids=[c.id for c in lines], amount=amount))
    return flags


def _excess_lines(cs: list[Charge], per_day: dict, over: dict, excess: float, view: RecordView) -> list[Charge]:
    """The lines holding the excess units: a day's lines beyond its cap, then lines on days the
    stay does not bill (the discharge day and after, 算入不算出), then the latest ones."""
    order = lambda c: (c.at or "", c.seq)  # noqa: E731
    out: list[Charge] = []
    for d, units in over.items():
        for c in sorted(per_day[d], key=order, reverse=True):
            if units <= 0:
                break
            out.append(c)
            units -= c.qty or 0
    left = excess - sum(c.qty or 0 for c in out)
    last = view.discharge.date() if view.discharge else None
    after = [c for c in cs if c not in out and last and c.day() and c.day() >= last]
    rest = after + sorted((c for c in cs if c not in out and c not in after), key=order, reverse=True)
    for c in rest if left > 0 else []:
        if left <= 0:
            break
        out.append(c)
        left -= c.qty or 0
    return out


_PAREN = re.compile(r"[(（][^)）]*[)）]")
_AFFIX = re.compile(r"^(注射用|一次性使用|一次性)|(测定|检查|注射液|片|胶囊|颗粒|溶液|混悬液|缓释)+$")


def core_name(s: str | None) -> str:
    return _AFFIX.sub("", _PAREN.sub("", norm(s)))


def names_match(a: str | None, b: str | None, min_common: int = 4) -> bool:
    ca, cb = core_name(a), core_name(b)
    if not ca or not cb:
        return False
    if ca in norm(b) or cb in norm(a):
        return True
    m = SequenceMatcher(None, ca, cb, autojunk=False).find_longest_match(0, len(ca), 0, len(cb))
    return m.size >= min(min_common, len(ca), len(cb))


def _order_days(o, view: RecordView) -> list[dt.date]:
    start = parse_datetime(o.start_at or "")
    if not start:
        return []
    if o.kind != "long":
        return [start.date()]
    stop = parse_datetime(o.stop_at or "") or view.discharge
    if not stop:
        return [start.date()]
    return [start.date() + dt.timedelta(days=i) for i in range((stop.date() - start.date()).days + 1)]


DRUG_CATEGORIES = ("西药费", "中成药费", "中草药费")


def _expected_daily(o, per_day: dict, cs: list[Charge], kb: dict) -> float | None:
    """Units per day the order allows: its quantity when written, else, for a long drug order,
    the quantity billed on most days of the course (at least 3) — a day above it bills more than
    was given; failing that, doses per day (frequency) × the units per dose that most days show
    as a whole number (the larger on a tie: a first day may be partial). Non-drug items vary by day
    for clinical reasons and are left to the caps."""
    if o.qty:
        return float(o.qty)
    if o.kind != "long" or len(per_day) < 2 or any((c.category or "") not in DRUG_CATEGORIES for c in cs):
        return None
    counts = Counter(per_day.values()).most_common()
    (qty, n), rest = counts[0], counts[1:]
    if n >= 3 and not (rest and rest[0][1] == n):
        return qty
    doses = kb["order_support"].get("frequencies", {}).get(norm(o.frequency).lower()) if o.frequency else None
    if not doses:
        return None
    if doses == 1:  # one dose a day: every day bills one dose, the smallest day is it
        return min(per_day.values())
    per_dose = Counter(q / doses for q in per_day.values() if float(q / doses).is_integer())
    if not per_dose:
        return None
    return doses * max(per_dose, key=lambda u: (per_dose[u], u))


def _order_item(o) -> str:
    parts = (o.content or "").split()
    return parts[0] if parts else ""


def over_ordered(view: RecordView, params: dict, kb: dict) -> list[Flag]:
    billed, _ = dedup(view.billed())
    flags = []
    for o in view.orders:
        days = set(_order_days(o, view))
        # the ordered item is the content before dose/route/frequency ("甘露醇注射液 125ml ivgtt bid"),
        # so an administration fee named like the route (雾化吸入) is not taken for the drug
        cs = [c for c in billed if c.day() in days and names_match(_order_item(o), c.item_name)]
        # an item several orders use (a diluent) cannot be attributed to one order
        if not cs or sum(1 for x in view.orders if names_match(_order_item(x), cs[0].item_name)) > 1:
            continue
        per_day: dict[dt.date, float] = defaultdict(float)
        for c in cs:
            per_day[c.day()] += c.qty or 0
        expected = _expected_daily(o, per_day, cs, kb)
        if expected is None:
            continue
        over = {d: q - expected for d, q in per_day.items() if q > expected + params["tolerance"]}
        if not over:
            continue
        price = _unit_price(cs[0])
        amount = sum(over.values()) * price
        first = min(over)
        flags.append(Flag(
            rule_id="", key=f"order{o.id}",
            reason=(f"医嘱“{o.content}”每日{expected:g}{'' if o.qty else '(按疗程内多数日计费量)'}，{first:%m-%d}计费{per_day[first]:g}"
                    f"{'' if len(over) == 1 else f'(共{len(over)}天超出)'}，超出医嘱多收{_yuan(amount)}"),
            evidence=[view.evidence(line_id=o.line_id, page_id=o.page_id, text=o.content,
                                    document="长期医嘱单" if o.kind == "long" else "临时医嘱单")]
            + [view.charge_evidence(c) for c in cs if c.day() == first][:2],
            charge_ids=[c.id for c in cs if c.day() in over], amount=amount))
    return flags


def split_billing(view: RecordView, params: dict, kb: dict) -> list[Flag]:
    billed = view.billed()
    flags = []
    for b in kb["split_billing"]["bundles"]:
        by_day = defaultdict(list)
        for comp in b["components"]:
            for c in charges_matching(view, comp, billed):
                by_day[c.day()].append((id(comp), c))
        for day, hits in sorted(by_day.items(), key=lambda kv: str(kv[0])):
            if len({k for k, _ in hits}) < len(b["components"]):
                continue
            cs = [c for _, c in hits]
            if any(any(norm(n) in norm(c.item_name) for n in b.get("bundle_names") or ()) for c in billed if c.day() == day):
                continue
            total = sum(c.amount for c in cs)
            amount = max(0.0, total - b["bundle_price"]) if b.get("bundle_price") else 0.0
            flags.append(Flag(
                rule_id="", key=f"{b['name']}:{day}",
                reason=f"{day} {b['name']}拆分为{'、'.join(c.item_name for c in cs)}分别收费，合计{_yuan(total)}",
                evidence=[view.charge_evidence(c) for c in cs[:3]], charge_ids=[c.id for c in cs], amount=amount))
    return flags


def _documentation(view: RecordView):
    skip = {d.id for d in view.documents if d.doc_type in NOT_DOCUMENTATION}
    return [s for s in view.sections if s.document_id not in skip]


def _documented(view: RecordView, terms):
    """Where the record (not its bill) documents any of ``terms``: sections, lab rows, orders."""
    if not terms:
        return None
    hit = find_terms(view, terms, sections=_documentation(view))
    if hit:
        return hit.evidence
    wanted = [norm(t) for t in terms]
    for lab in view.labs:
        if any(t in norm(f"{lab.item}{lab.unit or ''}{lab.ref_range or ''}") for t in wanted):
            return view.evidence(line_id=lab.line_id, page_id=lab.page_id, text=lab.item, document="检验报告")
    for o in view.orders:
        if any(t in norm(f"{o.content}{o.dose or ''}{o.route or ''}") for t in wanted):
            return view.evidence(line_id=o.line_id, page_id=o.page_id, text=o.content)
    return None


REPORT_TYPES = ("检验报告", "检查报告", "手术记录", "麻醉记录")


def _report_lines(view: RecordView):
    """Lines of the report documents (what was actually performed), in reading order."""
    spans = [(d.line_start, d.line_end, d.doc_type) for d in view.documents
             if d.doc_type in REPORT_TYPES and d.line_start is not None and d.line_end is not None]
    for lid in sorted(view.lines):
        for lo, hi, dtype in spans:
            if lo <= lid <= hi:
                yield view.lines[lid], dtype
                break


def _in_reports(view: RecordView, terms):
    wanted = [norm(t) for t in terms or ()]
    for line, dtype in _report_lines(view):
        if any(t in norm(line.text) for t in wanted):
            return view.evidence(line_id=line.id, document=dtype)
    return None


@dataclass(frozen=True)
class Variant:
    """What a name says about how an item was done: the item itself (``base``), the method or
    grade word, its tier within the item (item_methods.yaml)."""
    base: str
    word: str | None = None
    tier: int = 0


def variant(name: str | None, table: dict) -> Variant:
    n = norm(name)
    n = re.split(r"[:：]", n)[-1]   # '检验项目:肌钙蛋白I测定(免疫层析法)': the item after its label
    word, tier = None, 0
    for entry in table.get("methods") or []:
        hit = next((w for w in sorted(entry["words"], key=len, reverse=True) if norm(w) in n), None)
        if hit:
            word, tier = entry["words"][0], entry["tier"]
            n = n.replace(norm(hit), "")
            break
    for entry in table.get("grades") or []:
        hit = next((w for w in sorted(entry["words"], key=len, reverse=True) if norm(w) in n), None)
        if hit:
            if word is None:
                word, tier = entry["words"][0], entry["tier"]
            n = n.replace(norm(hit), norm(entry["group"]))
            break
    n = _PAREN.sub("", n)
    for w in table.get("strip_words") or []:
        n = n.replace(norm(w), "")
    return Variant(n, word, tier)


def _variant_price(name: str, table: dict) -> float | None:
    n = norm(name)
    for entry in table.get("prices") or []:
        if any(norm(x) in n for x in entry["names"]):
            return float(entry["price"])
    return None


def _documented_variants(view: RecordView, table: dict) -> list[tuple[Variant, str, object]]:
    """(variant, text, evidence) for every order and report line that names a method or grade."""
    out = []
    for o in view.orders:
        v = variant(o.content, table)
        if v.word:
            out.append((v, o.content, view.evidence(line_id=o.line_id, page_id=o.page_id, text=o.content,
                                                    document="长期医嘱单" if o.kind == "long" else "临时医嘱单")))
    for line, dtype in _report_lines(view):
        v = variant(line.text, table)
        if v.word and len(v.base) >= 2:
            out.append((v, line.text, view.evidence(line_id=line.id, document=dtype)))
    return out


def _method_substitutions(view: RecordView, params: dict, kb: dict, taken: set[int]) -> list[Flag]:
    """A billed method or grade dearer than the one the orders and reports of the same item name."""
    table = kb["item_methods"]
    documented = _documented_variants(view, table)
    if not documented:
        return []
    groups: dict[tuple, list[Charge]] = defaultdict(list)
    for c in view.billed():
        if c.id in taken:
            continue
        v = variant(c.item_name, table)
        if v.word:
            groups[(v.base, v.word, v.tier)].append(c)
    flags = []
    for (base, word, tier), cs in groups.items():
        same = [d for d in documented if d[0].base == base]
        if not same or any(d[0].word == word for d in same):
            continue   # not documented, or documented as billed
        cheaper = [d for d in same if d[0].tier < tier]
        if not cheaper:
            continue
        doc_v, doc_text, ev = cheaper[0]
        total = sum(c.amount for c in cs)
        qty = sum(c.qty or 1 for c in cs)
        price = _variant_price(doc_text, table)
        if params["amount_basis"] == "billed":
            amount = total
        else:
            amount = max(0.0, total - qty * price) if price is not None else 0.0
        priced = f"，涉及{_yuan(amount)}" if price is not None or params["amount_basis"] == "billed" else "，记载项目无价格，价差待核"
        flags.append(Flag(
            rule_id="", key=f"method:{base}:{word}",
            reason=(f"病历记载“{doc_text.split('：')[-1]}”({doc_v.word})，结算“{cs[0].item_name}”({word})"
                    f"{qty:g}次共{_yuan(total)}{priced}"),
            evidence=[ev] + [view.charge_evidence(c) for c in cs[:2]],
            charge_ids=[c.id for c in cs], amount=amount))
    return flags


def substitution(view: RecordView, params: dict, kb: dict) -> list[Flag]:
    """串换: the named substitutions (substitutions.yaml), then any billed method or grade dearer
    than the one the record documents for the same item (item_methods.yaml)."""
    flags = _named_substitutions(view, params, kb)
    taken = {cid for f in flags for cid in f.charge_ids}
    return flags + _method_substitutions(view, params, kb, taken)


def _named_substitutions(view: RecordView, params: dict, kb: dict) -> list[Flag]:
    flags = []
    bill_lines = [c for c in view.charges if c.source == "bill"]
    for i, sub in enumerate(kb["substitutions"]["substitutions"]):
        billed = charges_matching(view, sub["billed"])
        if not billed:
            continue
        performed_ev = None
        # The record's own bill pages show the cheaper item where the settlement claims the dearer.
        if billed[0].source == "claims" and sub.get("performed"):
            shown = [b for b in bill_lines if matches_item(sub["performed"], b.item_name, b.item_code)
                     and b.day() in {c.day() for c in billed}]
            if shown:
                performed_ev = view.charge_evidence(shown[0])
        # Reports say what was performed; notes and plans may just repeat the billed name.
        if performed_ev is None and not _in_reports(view, sub.get("billed_terms")):
            performed_ev = _in_reports(view, sub["performed_terms"])
        if performed_ev is None:
            if _documented(view, sub.get("billed_terms")):
                continue
            performed_ev = _documented(view, sub["performed_terms"])
        if performed_ev is None:
            continue
        total = sum(c.amount for c in billed)
        qty = sum(c.qty or 1 for c in billed)
        amount = total if params["amount_basis"] == "billed" else max(0.0, total - qty * sub["performed_price"])
        flags.append(Flag(
            rule_id="", key=f"sub{i}",
            reason=f"{sub['detail']}：结算“{billed[0].item_name}”{qty:g}次共{_yuan(total)}，涉及{_yuan(amount)}",
            evidence=[performed_ev] + [view.charge_evidence(c) for c in billed[:2]],
            charge_ids=[c.id for c in billed], amount=amount))
    return flags


def drug_restriction(view: RecordView, params: dict, kb: dict) -> list[Flag]:
    flags = []
    level = LEVELS.get((view.hospital_level or "")[:2])
    for i, rd in enumerate(kb["restricted_drugs"]["drugs"]):
        cs = charges_matching(view, rd["drug"])
        if not cs:
            continue
        kind, why, extra = rd["kind"], None, []
        if kind == "sex" and view.sex in ("男", "女") and view.sex != rd["sex"]:
            why = f"{view.sex}性患者"
        elif kind == "age" and view.age is not None and (
                ("min_age" in rd and view.age < rd["min_age"]) or ("max_age" in rd and view.age > rd["max_age"])):
            why = f"{view.age}岁患者"
        elif kind == "level" and level is not None and level < LEVELS.get(rd.get("min_level", ""), 0):
            why = f"{view.hospital_level}医疗机构"
        elif kind == "indication" and any_condition(view, rd.get("requires_any")) is None:
            why = "病历中无限定适应症依据的患者"
        if why is None:
            continue
        if kind in ("sex", "age"):
            f = view.field("sex" if kind == "sex" else "age")
            if f is not None:
                extra.append(view.field_evidence(f))
        amount = sum(c.amount for c in cs)
        flags.append(Flag(
            rule_id="", key=f"drug{i}:{_item_key(cs[0])}",
            reason=f"{why}使用“{cs[0].item_name}”({rd['text']})，医保支付{_yuan(amount)}",
            evidence=[view.charge_evidence(c) for c in cs[:2]] + extra,
            charge_ids=[c.id for c in cs], amount=amount))
    return flags


def _supported_by_route(view: RecordView, charge: Charge, kb: dict) -> bool:
    """An administration fee (静脉输液, 肌内注射…) is ordered by the drug orders given that way."""
    for entry in kb["order_support"]["items"]:
        if not matches_item(entry["item"], charge.item_name, charge.item_code):
            continue
        routes = {norm(r).lower() for r in entry["routes"]}
        for o in view.orders:
            if o.route and norm(o.route).lower() in routes:
                return True
            text = f" {(o.content or '').lower()} "
            if any(t.lower() in text for t in entry["terms"]):
                return True
    return False


def _ordered_as_substitute(charge: Charge, supports: list[str], kb: dict) -> bool:
    """A dearer item billed for an ordered cheaper one (64排 CT for an ordered 16排, 彩超 for a
    B超) was ordered, as the other item: 串换项目 reports it, not 收费无医嘱."""
    for sub in kb["substitutions"]["substitutions"]:
        if matches_item(sub["billed"], charge.item_name, charge.item_code) and any(
                norm(t) in norm(s) for t in sub["performed_terms"] for s in supports):
            return True
    base = variant(charge.item_name, kb["item_methods"]).base
    return len(base) >= 2 and any(variant(s, kb["item_methods"]).base == base for s in supports)


def unordered_charges(view: RecordView, params: dict, kb: dict) -> list[Flag]:
    cats = set(params["categories"])
    supports = [o.content for o in view.orders] + [d.title or "" for d in view.documents] + [lab.item for lab in view.labs]
    doc_text = [s.text for s in _documentation(view)]
    # an item billed inside another's 项目内涵 is 重复收费's finding, not a second one here
    duplicated = {cid for f in exclusive_pairs(view, {}, kb) for cid in f.charge_ids}
    by_item: dict[str, list[Charge]] = defaultdict(list)
    for c in view.billed():
        if (c.category or "") in cats and c.id not in duplicated:
            by_item[_item_key(c)].append(c)
    flags = []
    for key, cs in by_item.items():
        amount = sum(c.amount for c in cs)
        if amount < params["min_amount"]:
            continue
        name = cs[0].item_name
        if any(names_match(name, s) for s in supports) or any(core_name(name) in norm(t) for t in doc_text):
            continue
        if _supported_by_route(view, cs[0], kb) or _ordered_as_substitute(cs[0], supports, kb):
            continue
        flags.append(Flag(
            rule_id="", key=key,
            reason=f"“{name}”计费{len(cs)}次共{_yuan(amount)}，医嘱、检验检查报告和手术记录中均未见该项目",
            evidence=[view.charge_evidence(c) for c in cs[:2]], charge_ids=[c.id for c in cs], amount=amount))
    return flags


CHECKS = {
    "exclusive_pairs": exclusive_pairs,
    "identical_lines": identical_lines,
    "daily_cap": daily_cap,
    "over_ordered": over_ordered,
    "split_billing": split_billing,
    "substitution": substitution,
    "drug_restriction": drug_restriction,
    "unordered_charges": unordered_charges,
}
