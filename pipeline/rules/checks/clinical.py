"""Clinical-content rules: 低标准入院, 过度检查, 高套诊断, 主诊编码, 诊断与治疗不符."""
from __future__ import annotations

import re

from pipeline.nlp.normalize import expand
from pipeline.record.view import RecordView
from pipeline.rules.flags import Flag
from pipeline.rules.knowledge import DIAGNOSIS_FIELDS, any_condition, charges_matching, icd_matches, matches_item, norm


def _diag_label(f) -> str:
    return f"{f.value}({f.code})" if f.code else f"{f.value}"


def is_injection(view: RecordView, kb: dict) -> bool:
    mild = kb["mild_conditions"]
    routes = [norm(r) for r in mild["injection_routes"]]
    names = [norm(n) for n in mild["injection_names"]]
    for o in view.orders:
        if any(r == norm(o.route) or r in norm(o.route) for r in routes if o.route):
            return True
        if any(n in norm(o.content) for n in names):
            return True
    return any(any(n in norm(c.item_name) for n in names) for c in view.billed())


def _vital_values(view: RecordView, name: str) -> list[tuple[float, ...]]:
    out = []
    for f in view.fields_named(name):
        nums = [float(x) for x in re.findall(r"\d+(?:\.\d+)?", f.value or "")]
        if nums:
            out.append(tuple(nums))
    return out


def _exceeds(vals: tuple[float, ...], op: str, limit) -> bool:
    limits = limit if isinstance(limit, list) else [limit]
    pairs = [(v, lim) for v, lim in zip(vals, limits) if lim]
    if op == "ge":
        return any(v >= lim for v, lim in pairs)
    return any(v < lim for v, lim in pairs)


def severity_markers(view: RecordView, kb: dict) -> list[str]:
    """What in the record shows the stay needed a hospital (mild_conditions.yaml ``severity``):
    a vital sign beyond its limit, several abnormal results, an injection or infusion, monitoring
    or a nursing or diet order an outpatient clinic does not give. Empty: nothing does."""
    sev = kb["mild_conditions"].get("severity") or {}
    out = []
    for spec in sev.get("vitals") or []:
        hit = next((v for v in _vital_values(view, spec["name"]) if _exceeds(v, spec["op"], spec["value"])), None)
        if hit:
            out.append(f"{spec.get('what', spec['name'])}{'/'.join(f'{x:g}' for x in hit)}")
    abnormal = [lab for lab in view.labs if lab.flag and norm(lab.flag) not in ("", "-", "正常", "N")]
    if sev.get("abnormal_labs") and len(abnormal) >= sev["abnormal_labs"]:
        out.append(f"检验异常{len(abnormal)}项")
    if is_injection(view, kb):
        out.append("注射或静脉用药")
    billed = view.billed()
    for term in sev.get("intensity_charges") or []:
        if any(norm(term) in norm(c.item_name) for c in billed):
            out.append(term)
    for term in sev.get("intensity_orders") or []:
        if any(norm(term) in norm(o.content) for o in view.orders):
            out.append(term)
    return out


def low_standard_admission(view: RecordView, params: dict, kb: dict) -> list[Flag]:
    """A diagnosis of the 轻症 list whose own record shows no reason to be in hospital: vital signs
    within limits, few abnormal results, oral drugs only, no monitoring, no procedure beyond what a
    clinic does (DOMAIN.md §2.3: 以口服药治疗为主、只做检验检查和简单治疗)."""
    main = view.field("main_diagnosis")
    if main is None or not main.code:
        return []
    mild = kb["mild_conditions"]
    cond = next((c for c in mild["conditions"] if icd_matches(main.code, c["icd"])), None)
    if cond is None:
        return []
    if cond.get("except_age_below") is not None and view.age is not None and view.age < cond["except_age_below"]:
        return []
    if any_condition(view, cond.get("unless_any"), skip_diagnosis_text=False) is not None:
        return []
    billed = view.billed()
    # Small procedures an outpatient clinic does (e.g. excision of a lipoma under local anaesthesia)
    # do not justify admission; any other procedure does.
    minor = cond.get("outpatient_procedures") or []
    procs = view.fields_named("procedure")
    if any(not icd_matches(f.code, minor) for f in procs):
        return []
    if not (procs and minor) and any((c.category or "") in mild["surgery_categories"] for c in billed):
        return []
    if severity_markers(view, kb):
        return []
    total = view.total_cost()
    exam = sum(c.amount for c in billed if (c.category or "") in mild["exam_categories"])
    share = exam / total if total else 0.0
    los = view.los_days()
    signals = ["生命体征平稳", "检验无明显异常", "仅口服药治疗"]
    if share >= params["exam_share"]:
        signals.append(f"检查检验费占总费用{share:.0%}")
    if los is not None and los <= params["short_stay_days"]:
        signals.append(f"住院{los}天")
    if len(signals) - 3 < params["min_signals"]:
        return []
    return [Flag(
        rule_id="", key=main.code,
        reason=(f"主要诊断{_diag_label(main)}属可门诊治疗的轻症({cond['name']})，无住院手术操作，"
                f"{''.join(s + '，' for s in signals)}疑似低标准入院，涉及住院费用{total:.2f}元"),
        evidence=[view.field_evidence(main)], charge_ids=[c.id for c in billed], amount=total)]


def over_examination(view: RecordView, params: dict, kb: dict) -> list[Flag]:
    flags = []
    for i, test in enumerate(kb["routine_tests"]["tests"]):
        cs = charges_matching(view, test["item"])
        if not cs:
            continue
        # Judged against the reason for this admission (main/admission diagnoses and findings);
        # the test's own name (in plans and reports) is masked so it cannot indicate itself.
        mask = sorted({c.item_name for c in cs} | set(test["item"].get("names") or ()), key=len, reverse=True)
        diagnoses = ("main_diagnosis", "admission_diagnosis") if params["main_diagnosis_only"] else DIAGNOSIS_FIELDS
        if any_condition(view, test["indications"], mask=mask, diagnoses=diagnoses) is not None:
            continue
        amount = sum(c.amount for c in cs)
        main = view.field("main_diagnosis")
        flags.append(Flag(
            rule_id="", key=f"test{i}",
            reason=(f"“{cs[0].item_name}”作为入院常规检查开展{len(cs)}次({amount:.2f}元)，"
                    f"主要诊断{_diag_label(main) if main else '未知'}，病历中无相应检查指征"),
            evidence=[view.charge_evidence(c) for c in cs[:2]], charge_ids=[c.id for c in cs], amount=amount))
    return flags


_QUALIFIERS = re.compile(r"[？?]|^考虑|待排$|待查$|可能$|[（(]?(?:初步|疑似)[)）]?")


def _dx_key(name: str | None) -> str:
    return _QUALIFIERS.sub("", norm(expand(name or ""))).strip("，,。；;")


def documented_as(name: str | None, items: list) -> bool:
    """Whether a 病案首页 diagnosis is among ``items`` (the record's own diagnosis list): the same
    name, or a list item the 首页 name only makes more specific (首页 高血压3级 for 高血压). A list
    that names a subtype the 首页 generalises (腔隙性脑梗死 coded 脑梗死) does not document it."""
    key = _dx_key(name)
    if not key:
        return False
    for f in items:
        k = _dx_key(f.value)
        if k and (k == key or (len(k) >= 2 and k in key)):
            return True
    return False


def unsupported_diagnosis(view: RecordView, params: dict, kb: dict) -> list[Flag]:
    """高套诊断: a 病案首页 diagnosis that is not the record's own. The main diagnosis is flagged
    when the 出院记录 does not give it, or when it replaces the 入院记录's diagnosis and nothing in
    the record supports it (diagnosis_support.yaml); another diagnosis when the 出院记录 does not
    give it and nothing supports it. A diagnosis the record's lists give but whose support the
    checks miss is flagged only with ``support_only`` (measured noisy on real narrative:
    bench/upcoding.py)."""
    flags = []
    table = kb["diagnosis_support"]["diagnoses"]
    discharge = view.fields_named("discharge_diagnosis")
    admission = view.fields_named("admission_diagnosis")

    def supported(f, entry) -> bool | None:
        if entry is None:
            return None
        return any_condition(view, entry["support"], exclude_field=f, skip_diagnosis_text=True) is not None

    candidates = []
    if params["check_main"]:
        candidates += [("主要诊断", f) for f in view.fields_named("main_diagnosis")[:1]]
    if params["check_cc"]:
        candidates += [("其他诊断", f) for f in view.fields_named("other_diagnosis")]
    for role, f in candidates:
        entry = next((d for d in table if icd_matches(f.code, d["icd"])), None)
        in_discharge = documented_as(f.value, discharge) if discharge else None
        why = None
        if role == "主要诊断":
            if in_discharge is False:
                why = f"出院记录的出院诊断为“{discharge[0].value}”，未见{_diag_label(f)}"
            elif admission and not documented_as(f.value, admission) and supported(f, entry) is False:
                why = f"入院诊断为“{admission[0].value}”，首页改为{_diag_label(f)}，病历中找不到其检验、检查、症状或治疗依据"
        elif entry is None or entry.get("cc"):
            if in_discharge is False and supported(f, entry) is not True:
                what = f"({entry['cc']})" if entry else ""
                why = f"出院记录的出院诊断中未见{_diag_label(f)}{what}，病历中也找不到其依据"
        if why is None and params["support_only"] and entry is not None and (role == "主要诊断" or entry.get("cc")) \
                and supported(f, entry) is False:
            why = f"{_diag_label(f)}在病历中找不到支持的检验、检查、症状或治疗记录(仅据依据表，供参考)"
        if why is None:
            continue
        flags.append(Flag(
            rule_id="", key=f"{f.name}:{f.code}",
            reason=f"病案首页{role}{_diag_label(f)}疑似高套：{why}",
            evidence=[view.field_evidence(f)] + [view.field_evidence(x) for x in discharge[:1]]))
    return flags


def invalid_main_diagnosis(view: RecordView, params: dict, kb: dict) -> list[Flag]:
    main = view.field("main_diagnosis")
    if main is None or not main.code:
        return []
    entry = next((c for c in kb["non_main_diagnoses"]["codes"] if icd_matches(main.code, [c["prefix"]])), None)
    if entry is None:
        return []
    return [Flag(rule_id="", key=main.code,
                 reason=f"主要诊断{_diag_label(main)}属于不可作为主要诊断的编码({entry['name']})",
                 evidence=[view.field_evidence(main)])]


def diagnosis_treatment_mismatch(view: RecordView, params: dict, kb: dict) -> list[Flag]:
    flags = []
    for i, entry in enumerate(kb["drug_indications"]["drugs"]):
        cs = charges_matching(view, entry["drug"])
        ordered = [o for o in view.orders if matches_item(entry["drug"], o.content)]
        if not cs and not ordered:
            continue
        if any_condition(view, entry["requires_any"]) is not None:
            continue
        name = cs[0].item_name if cs else ordered[0].content
        amount = sum(c.amount for c in cs)
        ev = [view.charge_evidence(c) for c in cs[:2]] or [
            view.evidence(line_id=o.line_id, page_id=o.page_id, text=o.content) for o in ordered[:2]]
        flags.append(Flag(rule_id="", key=f"drug{i}",
                          reason=f"使用“{name}”，但病历中没有需要该药治疗的诊断或指征",
                          evidence=ev, charge_ids=[c.id for c in cs], amount=amount))
    return flags


CHECKS = {
    "low_standard_admission": low_standard_admission,
    "over_examination": over_examination,
    "unsupported_diagnosis": unsupported_diagnosis,
    "invalid_main_diagnosis": invalid_main_diagnosis,
    "diagnosis_treatment_mismatch": diagnosis_treatment_mismatch,
}
