"""The grouper: interprets a scheme's ``grouping.json`` and tables for one case, with a trace of
every step (code mapping, the validation check that failed, each MDC entered and the ones passed
over, the ADRG whose condition matched and why, each other diagnosis counted as MCC/CC or excluded
and by which table, the DRG suffix condition that held).

Conditions are compiled once per scheme into closures over sets, and each MDC's entry condition
and each ADRG keeps the code set its main diagnosis or main procedure must be in, so a case skips
what cannot match with one set lookup. No ADRG has code of its own: everything comes from the data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from pipeline.drg.case import Case
from pipeline.drg.scheme import Scheme

CODE_NOT_IN_TABLE = "编码不在医保版编码表"   # our check (``check_codes``), not the reference's validation


class Facts:
    """A case as the conditions read it (codes after mapping, sets for membership)."""

    __slots__ = ("dx", "px", "main_dx", "main_px", "dx_set", "px_set", "sex", "age", "age_day", "weight")

    def __init__(self, case: Case, dx: list[str], px: list[str]):
        self.dx, self.px = dx, px
        self.main_dx = dx[0] if dx else None
        self.main_px = px[0] if px else None
        self.dx_set, self.px_set = frozenset(dx), frozenset(px)
        self.sex, self.age, self.age_day, self.weight = case.sex, case.age, case.age_day, case.weight


Pred = Callable[[Facts], bool]


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def compile_condition(c: dict, scheme: Scheme) -> Pred:
    """A condition of the closed vocabulary as a predicate over Facts."""
    kind, v = next(iter(c.items()))
    if kind == "always":
        return lambda f: True
    if kind in ("all", "any"):
        parts = [compile_condition(x, scheme) for x in v]
        if kind == "all":
            return lambda f: all(p(f) for p in parts)
        return lambda f: any(p(f) for p in parts)
    if kind == "not":
        inner = compile_condition(v, scheme)
        return lambda f: not inner(f)
    if kind == "main_diagnosis_in":
        s = frozenset(v)
        return lambda f: f.main_dx in s
    if kind == "any_diagnosis_in":
        s = frozenset(v)
        return lambda f: not s.isdisjoint(f.dx_set)
    if kind == "main_procedure_in":
        s = frozenset(v)
        return lambda f: f.main_px in s
    if kind == "any_procedure_in":
        s = frozenset(v)
        return lambda f: not s.isdisjoint(f.px_set)
    if kind == "main_procedure_in_table":
        s = scheme.code_set(v)
        return lambda f: f.main_px in s
    if kind == "any_procedure_in_table":
        s = scheme.code_set(v)
        return lambda f: not s.isdisjoint(f.px_set)
    if kind == "sex":
        return lambda f: _is_int(f.sex) and f.sex == v
    if kind == "age_years_eq":
        return lambda f: _is_int(f.age) and f.age == v
    if kind == "age_days_max":
        return lambda f: _is_int(f.age_day) and f.age_day <= v
    if kind == "weight_g":
        lo, hi = v
        return lambda f: (_is_int(f.weight) and f.weight != 0 and (lo is None or f.weight >= lo)
                          and (hi is None or f.weight < hi))
    if kind == "procedure_groups":
        groups, require = v["groups"], [frozenset(r) for r in v["require"]]

        def pred(f: Facts) -> bool:
            labels = _group_labels(f, groups)
            return any(r <= labels for r in require)
        return pred
    if kind == "distinct_regions_min":
        regions, need = v["regions"], v["min"]
        return lambda f: len({regions[d] for d in f.dx_set if d in regions}) >= need
    raise ValueError(kind)   # the scheme was validated: unreachable


def _group_labels(f: Facts, groups: dict) -> frozenset:
    return frozenset(groups[p] for p in f.px if p in groups)


def _required(c: dict, key: str) -> frozenset | None:
    """The code set that ``key`` (main_diagnosis_in / main_procedure_in) demands of a condition
    that holds, or None when it demands none: the index a case is checked against first."""
    kind, v = next(iter(c.items()))
    if kind == key:
        return frozenset(v)
    if kind == "all":
        for x in v:
            got = _required(x, key)
            if got is not None:
                return got
    return None


def explain(c: dict, f: Facts, scheme: Scheme) -> list[str]:
    """Why a condition that holds holds, in Chinese, naming the codes (for the trace)."""
    kind, v = next(iter(c.items()))
    if kind == "always":
        return ["无条件"]
    if kind == "all":
        return [w for x in v for w in explain(x, f, scheme)]
    if kind == "any":
        for x in v:
            if compile_condition(x, scheme)(f):
                return explain(x, f, scheme)
        return []
    if kind == "not":
        inner = next(iter(v))
        if inner == "any_procedure_in_table":
            return [f"无手术操作属于 {v[inner]}"]
        return [f"不满足 {inner}"]
    if kind == "main_diagnosis_in":
        return [f"主要诊断 {f.main_dx} 在本组主诊表({len(v)}项)"]
    if kind == "any_diagnosis_in":
        codes = set(v)
        return [f"诊断 {next(d for d in f.dx if d in codes)} 在本组诊断表({len(v)}项)"]
    if kind == "main_procedure_in":
        return [f"主要手术操作 {f.main_px} 在本组手术表({len(v)}项)"]
    if kind == "any_procedure_in":
        codes = set(v)
        return [f"手术操作 {next(p for p in f.px if p in codes)} 在本组手术表({len(v)}项)"]
    if kind == "main_procedure_in_table":
        return [f"主要手术操作 {f.main_px} 属于 {v}"]
    if kind == "any_procedure_in_table":
        t = scheme.code_set(v)
        return [f"手术操作 {next(p for p in f.px if p in t)} 属于 {v}"]
    if kind == "sex":
        return [f"性别 {f.sex}"]
    if kind == "age_years_eq":
        return [f"年龄 {f.age} 岁"]
    if kind == "age_days_max":
        return [f"年龄 {f.age_day} 天 ≤ {v}"]
    if kind == "weight_g":
        lo, hi = v
        return [f"出生体重 {f.weight}g 在 [{'' if lo is None else lo}, {'' if hi is None else hi})"]
    if kind == "procedure_groups":
        labels = sorted(_group_labels(f, v["groups"]))
        return [f"手术组合 {'+'.join(labels)} 满足 {v['require']}"]
    if kind == "distinct_regions_min":
        regions = sorted({v["regions"][d] for d in f.dx_set if d in v["regions"]})
        return [f"{len(regions)} 个部位: {'、'.join(regions)}"]
    return [kind]


@dataclass
class Result:
    index: str
    status: str
    mdc: str
    adrg: str
    drg: str
    drg_name: str = ""
    message: str = ""
    trace: list[dict] = field(default_factory=list)
    dx: list[str] = field(default_factory=list)     # the codes grouped (after mapping)
    px: list[str] = field(default_factory=list)
    has_mcc: bool = False
    has_cc: bool = False

    @property
    def grouped(self) -> bool:
        return self.drg not in ("", "0000")

    def trace_text(self) -> str:
        return trace_text(self.trace)


@dataclass
class _Adrg:
    code: str
    pred: Pred
    cond: dict
    main_dx: frozenset | None
    main_px: frozenset | None
    drgs: list[tuple[str, str]]


@dataclass
class _Step:
    adrg: _Adrg | None = None
    ambiguity: tuple[Pred, str] | None = None


@dataclass
class _Mdc:
    code: str
    pred: Pred
    cond: dict
    main_dx: frozenset | None
    steps: list[_Step]


class Grouper:
    """One scheme compiled. ``check_codes``: a code that is not in the scheme's diagnosis or
    procedure table fails with ``CODE_NOT_IN_TABLE`` after the reference's own validation."""

    def __init__(self, scheme: Scheme, *, check_codes: bool = False):
        self.scheme = scheme
        self.check_codes = check_codes
        g = scheme.grouping
        self.validation = g["validation"]
        self.no_mdc = g["no_mdc_result"]
        self.results = g["results"]
        cm = g.get("code_mapping") or {}
        self.mapping = None
        if cm.get("enabled"):
            self.mapping = (scheme.mapping(cm["diagnosis_table"]), scheme.mapping(cm["procedure_table"]),
                            cm["unmapped_diagnosis_status"], cm["unmapped_procedure_status"], cm.get("drop_value", "-"))
        self.mdcs: list[_Mdc] = []
        for m in g["mdcs"]:
            adrgs = {}
            for a in m["adrgs"]:
                adrgs[a["adrg"]] = _Adrg(a["adrg"], compile_condition(a["condition"], scheme), a["condition"],
                                         _required(a["condition"], "main_diagnosis_in"),
                                         _required(a["condition"], "main_procedure_in"),
                                         [(d["drg"], d["condition"]) for d in a["drgs"]])
            steps = []
            for s in m["steps"]:
                if "adrg" in s:
                    steps.append(_Step(adrg=adrgs[s["adrg"]]))
                elif s["ambiguity_check"]["enabled"]:
                    a = s["ambiguity_check"]
                    steps.append(_Step(ambiguity=(compile_condition(a["condition"], scheme), a["result_drg"])))
            self.mdcs.append(_Mdc(m["mdc"], compile_condition(m["entry_condition"], scheme), m["entry_condition"],
                                  _required(m["entry_condition"], "main_diagnosis_in"), steps))
        self.mcc, self.cc, self.cce = scheme.mcc, scheme.cc, scheme.cce
        self.dx_codes = scheme.code_set("diagnoses")
        self.px_codes = scheme.code_set("procedures")
        self.names = scheme.drg_names

    # --- steps ------------------------------------------------------------------------------
    def _fail(self, case: Case, status: str, message: str, trace: list, dx=(), px=()) -> Result:
        r = self.no_mdc
        return Result(case.index, status, r["mdc"], r["adrg"], r["drg"], "", message, trace, list(dx), list(px))

    def _map(self, case: Case, trace: list) -> tuple[list, list] | Result:
        dmap, pmap, dstat, pstat, drop = self.mapping
        out = []
        for codes, table, status, what in ((case.dx, dmap, dstat, "诊断"), (case.px, pmap, pstat, "手术操作")):
            mapped = []
            for i, c in enumerate(codes):
                if c == "":
                    mapped.append(c)
                    continue
                got = table.get(c)
                if got is None:
                    trace.append({"step": "code_mapping", "code": c, "mapped": None})
                    return self._fail(case, status, f"{what}编码 {c} 不能转换为分组器支持的编码", trace)
                if got == drop:
                    if i == 0:
                        trace.append({"step": "code_mapping", "code": c, "mapped": None})
                        return self._fail(case, status, f"主要{what}编码 {c} 被转换表删除", trace)
                    trace.append({"step": "code_mapping", "code": c, "mapped": "-"})
                    continue
                if got != c:
                    trace.append({"step": "code_mapping", "code": c, "mapped": got})
                mapped.append(got)
            out.append(mapped)
        return out[0], out[1]

    def _validate(self, case: Case, f: Facts) -> dict | None:
        """The first validation entry that fails, or None."""
        sex, age, day, weight = case.sex, case.age, case.age_day, case.weight
        for v in self.validation:
            check = v["check"]
            if check == "sex_present":
                bad = sex is None
            elif check == "sex_valid":
                bad = sex not in v.get("allowed", (1, 2))
            elif check == "age_present":
                bad = age is None
            elif check == "parse_error":
                bad = not _is_int(age) or (age == 0 and day is not None and not _is_int(day))
            elif check == "age_day_required_if_age_0":
                bad = _is_int(age) and age == 0 and day is None
            elif check == "weight_required_if_age_days_max":
                bad = (_is_int(age) and age == 0 and _is_int(day) and day <= v.get("age_days_max", 28)
                       and weight is None)
            else:   # diagnoses_present
                bad = not f.dx
            if bad:
                return v
        return None

    def complications(self, dx: list[str]) -> tuple[list[dict], bool, bool]:
        """Each other diagnosis that is an MCC or a CC, counted or excluded by the main
        diagnosis's exclusion table; and whether the case has an MCC / a CC."""
        items, has_mcc, has_cc = [], False, False
        if len(dx) < 2:
            return items, False, False
        main_table = self.cce.get(dx[0])
        for pos, d in enumerate(dx[1:], 2):
            table = self.mcc.get(d)
            kind = "MCC"
            if table is None:
                table = self.cc.get(d)
                kind = "CC"
                if table is None:
                    continue
            excluded = main_table is not None and main_table == table
            items.append({"code": d, "pos": pos, "kind": kind, "exclusion_table": table,
                          "main_cce": main_table, "counted": not excluded})
            if not excluded:
                if kind == "MCC":
                    has_mcc = True
                else:
                    has_cc = True
        return items, has_mcc, has_cc

    def group(self, case: Case) -> Result:
        trace: list[dict] = []
        if self.mapping is not None:
            got = self._map(case, trace)
            if isinstance(got, Result):
                return got
            dx, px = got
        else:
            dx, px = case.dx, case.px
        f = Facts(case, dx, px)
        bad = self._validate(case, f)
        if bad is not None:
            msg = bad["message"].replace("{sex}", str(case.sex))
            trace.append({"step": "validation", "check": bad["check"], "ok": False, "message": msg})
            return self._fail(case, bad["status"], msg, trace, dx, px)
        if self.check_codes:
            unknown = [c for c in dx if c and c not in self.dx_codes] + [c for c in px if c and c not in self.px_codes]
            if unknown:
                msg = f"编码不在{self.scheme.name}编码表: {'、'.join(unknown)}"
                trace.append({"step": "validation", "check": "codes_in_table", "ok": False, "message": msg})
                return self._fail(case, CODE_NOT_IN_TABLE, msg, trace, dx, px)
        skipped = []
        main_dx, main_px = f.main_dx, f.main_px
        for m in self.mdcs:
            if (m.main_dx is not None and main_dx not in m.main_dx) or not m.pred(f):
                skipped.append(m.code)
                continue
            trace.append({"step": "mdc", "mdc": m.code, "skipped_before": skipped,
                          "why": explain(m.cond, f, self.scheme)})
            skipped = []
            tried = 0
            for s in m.steps:
                a = s.adrg
                if a is None:
                    pred, result_drg = s.ambiguity
                    if pred(f):
                        amb = self.results["ambiguous"]
                        trace.append({"step": "ambiguity", "mdc": m.code, "drg": result_drg})
                        return Result(case.index, amb["status"], m.code, amb["adrg"], result_drg, "",
                                      "", trace, dx, px)
                    continue
                tried += 1
                if (a.main_dx is not None and main_dx not in a.main_dx) or (
                        a.main_px is not None and main_px not in a.main_px) or not a.pred(f):
                    continue
                trace.append({"step": "adrg", "mdc": m.code, "adrg": a.code, "tried": tried,
                              "why": explain(a.cond, f, self.scheme)})
                return self._suffix(case, m.code, a, dx, px, trace)
            trace.append({"step": "adrg", "mdc": m.code, "adrg": None, "tried": tried})
        if skipped:
            trace.append({"step": "mdc", "mdc": None, "skipped_before": skipped})
        r = self.no_mdc
        return Result(case.index, r["status"], r["mdc"], r["adrg"], r["drg"], "", r.get("message", ""), trace, dx, px)

    def _suffix(self, case: Case, mdc: str, a: _Adrg, dx, px, trace: list) -> Result:
        items, has_mcc, has_cc = self.complications(dx)
        needs = {c for _, c in a.drgs}
        if needs != {"always"}:
            trace.append({"step": "cc", "main": dx[0] if dx else None, "main_cce": self.cce.get(dx[0]) if dx else None,
                          "items": items, "mcc": has_mcc, "cc": has_cc})
        tried = []
        drg = a.code   # the reference's answer should no DRG condition hold (every last one is 'always')
        for code, cond in a.drgs:
            holds = cond == "always" or (cond == "mcc" and has_mcc) or (cond == "mcc_or_cc" and (has_mcc or has_cc))
            tried.append({"drg": code, "condition": cond, "holds": holds})
            if holds:
                drg = code
                break
        trace.append({"step": "drg", "drg": drg, "tried": tried})
        return Result(case.index, self.results["grouped"]["status"], mdc, a.code, drg, self.names.get(drg, ""),
                      "", trace, dx, px, has_mcc, has_cc)


_DRG_COND = {"always": "无条件", "mcc": "伴MCC", "mcc_or_cc": "伴MCC或CC"}


def trace_text(trace: list[dict]) -> str:
    """The trace in one line of Chinese (CSV output, logs of codes only)."""
    out = []
    for t in trace:
        step = t["step"]
        if step == "code_mapping":
            out.append(f"编码转换 {t['code']}→{t['mapped'] or '无对应'}")
        elif step == "validation":
            out.append(f"校验未通过({t['check']}): {t['message']}")
        elif step == "mdc":
            if t["skipped_before"]:
                out.append(f"未入 {','.join(t['skipped_before'])}")
            if t["mdc"]:
                out.append(f"入 {t['mdc']}({'；'.join(t['why'])})")
        elif step == "adrg":
            if t["adrg"]:
                out.append(f"ADRG {t['adrg']}({'；'.join(t['why'])})")
            else:
                out.append(f"{t['mdc']} 内 {t['tried']} 个ADRG均不符，转下一MDC")
        elif step == "cc":
            parts = []
            for i in t["items"]:
                state = "计入" if i["counted"] else f"被主诊断排除表{i['main_cce']}排除"
                parts.append(f"{i['code']} {i['kind']}(表{i['exclusion_table']}) {state}")
            out.append("并发症: " + ("；".join(parts) if parts else "无MCC/CC"))
        elif step == "drg":
            tried = "，".join(f"{x['drg']}{_DRG_COND.get(x['condition'], x['condition'])}{'✓' if x['holds'] else '✗'}"
                              for x in t["tried"])
            out.append(f"DRG {t['drg']}({tried})")
        elif step == "ambiguity":
            out.append(f"歧义 {t['mdc']}→{t['drg']}")
    return " → ".join(out)
