"""DRG rules over a record's grouping (``pipeline/rules/drg_assess.py``): 高套分组 (the coded group
is dearer than the group the record's evidence supports) and the grouper's validation of the
首页 codes: a main diagnosis the scheme cannot group as one, a code that conflicts with the
patient's sex, a code that is not a 医保版 code."""
from __future__ import annotations

import functools

from pipeline.drg import codes as codes_mod
from pipeline.drg.scheme import Scheme
from pipeline.record.view import RecordView
from pipeline.rules.drg_assess import Assessment, Item, assess
from pipeline.rules.flags import Flag

ROLE = {"main": "主要诊断", "other": "其他诊断", "procedure": "手术操作"}


def _w(x: float | None) -> str:
    return "未定" if x is None else f"{x:.4f}"


def _removed_text(a: Assessment) -> str:
    parts = []
    for i in a.removed:
        kind = f", {i.kind}" if i.role == "other" and i.kind else ""
        parts.append(f"{ROLE[i.role]}{i.label}{kind}")
    return "、".join(parts)


def details(a: Assessment) -> dict:
    """What the flag keeps beside its reason (``flags.details``): both groups with names and
    weights, what was left out as unsupported and everything looked at (and the unsupported main
    diagnosis kept for want of a supported one), the supported main diagnosis, the region's rate
    (and whether its parameters are an example)."""
    return {
        "kind": "drg_upcoding",
        "scheme": {"name": a.scheme.name, "version": a.scheme.version},
        "region": a.region.describe(),
        "coded": a.group_dict(a.coded), "supported": a.group_dict(a.supported),
        "unsupported": [i.to_dict() for i in a.removed],
        "unsupported_kept": [i.to_dict() for i in a.unsupported if i not in a.removed],
        "supported_items": [i.to_dict() for i in a.items if i.support is not None and i.support.supported],
        "supported_main": a.supported_main,
        "amount": a.amount,
    }


def drg_upcoding(view: RecordView, params: dict, kb: dict) -> list[Flag]:
    a = assess(view, kb, params["region"], params["procedure_name_similarity"])
    if not a.upcoded or a.amount < params["min_amount"]:
        return []
    c, s = a.coded, a.supported
    main = ""
    if a.supported_main:
        m = a.supported_main
        main = f"；病历支持的主要诊断为{m['written'] or m['name']}({m['code']}, 见{m['source']})"
    example = "（示例地区参数，非真实费率）" if a.region.example else ""
    reason = (f"病案首页编码入组 {c.drg} {c.drg_name}（权重{_w(a.weight(c))}），去除病历中无依据的"
              f"{_removed_text(a)}后入组 {s.drg} {s.drg_name or s.status}（权重{_w(a.weight(s))}）{main}；"
              f"疑似高套分组，涉及金额 ({_w(a.weight(c))}−{_w(a.weight(s))})×{a.region.rate:g}元/权重 = {a.amount:.2f}元{example}")
    evidence = [view.field_evidence(i.field) for i in a.removed]
    if a.supported_main_item is not None:
        evidence += [view.field_evidence(a.supported_main_item.field)] + a.supported_main_item.support.evidence[:1]
    return [Flag(rule_id="", key=f"{c.drg}>{s.drg}", reason=reason, evidence=evidence, amount=a.amount,
                 details=details(a))]


@functools.lru_cache(maxsize=4)
def sex_specific(scheme: Scheme) -> dict[str, frozenset]:
    """Sex → the codes that are main diagnoses only of MDCs entered by that sex (the scheme's own
    ``sex`` entry conditions: MDCM male, MDCN female in CHS-DRG 1.1)."""
    sex_of = {}
    for m in scheme.grouping["mdcs"]:
        parts = m["entry_condition"].get("all", [m["entry_condition"]])
        sex = next((p["sex"] for p in parts if "sex" in p), None)
        sex_of[m["mdc"]] = sex
    out: dict[str, set] = {"男": set(), "女": set()}
    for code, mdcs in scheme.main_diagnosis_mdcs.items():
        sexes = {sex_of[m] for m in mdcs}
        if sexes == {1}:
            out["男"].add(code)
        elif sexes == {2}:
            out["女"].add(code)
    return {k: frozenset(v) for k, v in out.items()}


def _items(view: RecordView, kb: dict, params: dict) -> Assessment:
    return assess(view, kb, params["region"])


def drg_invalid_main(view: RecordView, params: dict, kb: dict) -> list[Flag]:
    a = _items(view, kb, params)
    main = next((i for i in a.items if i.role == "main" and i.code.code), None)
    if main is None or main.code.code in a.scheme.main_diagnosis_mdcs:
        return []
    return [Flag(rule_id="", key=main.code.code, evidence=[view.field_evidence(main.field)],
                 reason=(f"主要诊断{main.label}不在{a.scheme.title}任何MDC的主要诊断表中，不能作为主要诊断"
                         f"（分组器状态：{a.status}）"))]


def drg_sex_conflict(view: RecordView, params: dict, kb: dict) -> list[Flag]:
    a = _items(view, kb, params)
    if view.sex not in ("男", "女"):
        return []
    other = "女" if view.sex == "男" else "男"
    codes = sex_specific(a.scheme)[other]
    flags = []
    for i in a.items:
        if i.role != "procedure" and i.code.code in codes:
            flags.append(Flag(rule_id="", key=f"{i.role}:{i.code.code}", evidence=[view.field_evidence(i.field)],
                              reason=f"患者性别为{view.sex}，{ROLE[i.role]}{i.label}只用于{other}性患者（{a.scheme.title}）"))
    return flags


def drg_code_not_in_table(view: RecordView, params: dict, kb: dict) -> list[Flag]:
    a = _items(view, kb, params)
    bad: list[Item] = [i for i in a.items if i.code.status == codes_mod.UNKNOWN]
    if not bad:
        return []
    listed = "、".join(f"{ROLE[i.role]}{i.field.value or ''}({i.code.raw})" for i in bad)
    return [Flag(rule_id="", key=",".join(i.code.raw for i in bad), evidence=[view.field_evidence(i.field) for i in bad],
                 reason=f"{listed}不是{a.scheme.title}医保版编码，也无法由国临版编码转换，分组时未使用")]


CHECKS = {
    "drg_upcoding": drg_upcoding,
    "drg_invalid_main": drg_invalid_main,
    "drg_sex_conflict": drg_sex_conflict,
    "drg_code_not_in_table": drg_code_not_in_table,
}
