"""A record grouped from its 病案首页 and tested against its own evidence (高套分组).

1. The 首页's codes (main and other diagnoses, procedures) are checked against the scheme's
   医保版 tables: kept, recoded from 国临版 where the scheme's map has them (recorded), or
   dropped as not 医保版 (recorded; a main diagnosis that is neither stops grouping with a status).
2. The case (sex, age in years and days, birth weight, length of stay, discharge mode) is grouped.
3. Each coded MCC/CC and the main diagnosis is tested for support in the record: a row of the
   diagnosis-support table that holds (lab value, order, charge, term), a mention of the diagnosis
   that ConText does not negate outside the 首页 and the diagnosis lists, or a DISEASE entity of the
   record that is not negated; each coded procedure for an operation record, order or charge naming
   it (or an OPERATION entity). What was looked at is kept for every item.
4. The record is regrouped without what is unsupported and, where the coded main diagnosis is
   unsupported, with the main diagnosis of the 出院诊断 (else the 初步诊断) where the record
   supports it and it can be a main diagnosis. A dearer coded group than the supported one is 高套分组; the amount at risk is
   (weight coded − weight supported) × the region's rate.

``assess(view, kb, region)`` is computed once per record and region (kept on the view): the DRG
checks and the score stage (which stores it in ``drg_groups``) read the same assessment.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from pipeline.drg import codes as codes_mod
from pipeline.drg import region as region_mod
from pipeline.drg import scheme as scheme_mod
from pipeline.drg.case import Case
from pipeline.drg.engine import Grouper, Result
from pipeline.drg.scheme import Scheme
from pipeline.nlp import context
from pipeline.record.view import Evidence, Field, RecordView
from pipeline.rules import facts
from pipeline.rules.knowledge import DIAGNOSIS_SECTIONS, Hit, any_condition, icd_matches, norm

SEX_CODES = {"男": 1, "女": 2}
# 离院方式 codes of the 病案首页 / 结算清单 (the data README's ``leavingType``)
DISCHARGE_CODES = {"医嘱离院": 1, "医嘱转院": 2, "医嘱转社区卫生服务机构/乡镇卫生院": 3, "非医嘱离院": 4, "死亡": 5, "其他": 9}
NO_MAIN_CODE = "首页无主要诊断编码"
MAIN_NOT_INSURANCE = "主要诊断非医保版编码"
# Qualifiers a record's prose leaves out ("社区获得性肺炎，非重症" is written 社区获得性肺炎).
_QUALIFIERS = re.compile(r"[，,]\s*(?:非重症|重症|未特指|其他特指)$|^未特指的|[(（][^)）]*[)）]")
_LIST_NOISE = re.compile(r"^(?:考虑|疑似|拟诊)|[？?]$|(?:待排|待查|可能)$")
_SENTENCE = re.compile(r"[。；;！!？?]")   # a line break is layout, not the end of a sentence


@dataclass
class Support:
    supported: bool
    found: str | None = None                      # what supported it
    evidence: list[Evidence] = field(default_factory=list)
    looked_at: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"supported": self.supported, "found": self.found, "looked_at": self.looked_at,
                "evidence": [e.to_dict() for e in self.evidence]}


@dataclass
class Item:
    """One code of the 首页 as the grouper gets it."""
    role: str                 # main | other | procedure
    field: Field
    code: codes_mod.Code
    kind: str | None = None   # MCC | CC (diagnoses in the scheme's tables)
    support: Support | None = None

    @property
    def label(self) -> str:
        return f"{self.field.value or self.code.name or ''}({self.code.code or self.code.raw})"

    def to_dict(self) -> dict:
        return {"role": self.role, "written": self.field.value, "raw": self.code.raw, "code": self.code.code,
                "status": self.code.status, "name": self.code.name, "kind": self.kind, "seq": self.field.seq,
                "support": self.support.to_dict() if self.support else None}


@dataclass
class Assessment:
    scheme: Scheme
    region: region_mod.Region
    status: str
    message: str = ""
    items: list[Item] = field(default_factory=list)
    case: Case | None = None
    coded: Result | None = None
    supported_case: Case | None = None
    supported: Result | None = None
    supported_main: dict | None = None    # {code, name, written, source, found, evidence}
    supported_main_item: Item | None = None

    @property
    def grouped(self) -> bool:
        return self.coded is not None and self.coded.grouped

    def weight(self, result: Result | None) -> float | None:
        return self.region.weight(result.drg) if result is not None and result.grouped else None

    @property
    def unsupported(self) -> list[Item]:
        """Every tested code the record does not support."""
        return [i for i in self.items if i.support is not None and not i.support.supported]

    @property
    def removed(self) -> list[Item]:
        """What the supported grouping leaves out: the unsupported other diagnoses and procedures,
        and the main diagnosis where a supported one of the record's lists replaced it."""
        return [i for i in self.unsupported if i.role != "main" or self.supported_main is not None]

    @property
    def upcoded(self) -> bool:
        """The coded group is dearer than the group the record supports."""
        if not self.grouped or self.supported is None or self.supported.drg == self.coded.drg:
            return False
        a, b = self.weight(self.coded), self.weight(self.supported)
        return a is not None and (b is None or a > b)

    @property
    def amount(self) -> float:
        if not self.upcoded:
            return 0.0
        got = self.region.amount(self.coded.drg, self.supported.drg if self.supported.grouped else None)
        return got if got is not None else round(self.weight(self.coded) * self.region.rate, 2)

    def group_dict(self, r: Result | None) -> dict | None:
        if r is None:
            return None
        return {"status": r.status, "mdc": r.mdc, "adrg": r.adrg, "drg": r.drg, "name": r.drg_name,
                "weight": self.weight(r), "has_mcc": r.has_mcc, "has_cc": r.has_cc, "dx": r.dx, "px": r.px}

    def to_row(self, record_id: int, created_at: str, dumps) -> dict:
        """The ``drg_groups`` row (migration m0150)."""
        c = self.coded
        s = self.supported
        return {
            "record_id": record_id, "scheme": self.scheme.name, "scheme_version": self.scheme.version,
            "region": self.region.name, "region_version": f"{self.region.version}+{self.region.digest}",
            "region_example": int(self.region.example),
            "status": self.status, "message": self.message,
            "mdc": c.mdc if c else None, "adrg": c.adrg if c else None, "drg": c.drg if c else None,
            "drg_name": c.drg_name if c else None, "weight": self.weight(c),
            "has_mcc": int(c.has_mcc) if c else 0, "has_cc": int(c.has_cc) if c else 0,
            "codes": dumps([i.to_dict() for i in self.items]),
            "trace": dumps(c.trace if c else []),
            "supported_drg": s.drg if s else None, "supported_drg_name": s.drg_name if s else None,
            "supported_weight": self.weight(s), "supported_trace": dumps(s.trace if s else []),
            "supported_main": dumps(self.supported_main) if self.supported_main else None,
            "upcoded": int(self.upcoded), "amount": self.amount, "created_at": created_at,
        }


# --- codes and the case ------------------------------------------------------------------------

def items_of(view: RecordView, scheme: Scheme) -> list[Item]:
    out = []
    for role, name, kind in (("main", "main_diagnosis", "diagnosis"), ("other", "other_diagnosis", "diagnosis"),
                             ("procedure", "procedure", "procedure")):
        for f in view.fields_named(name):
            if not (f.code or "").strip():
                continue
            code = codes_mod.check(scheme, f.code, kind)
            item = Item(role, f, code)
            if kind == "diagnosis" and code.code:
                item.kind = "MCC" if code.code in scheme.mcc else "CC" if code.code in scheme.cc else None
            out.append(item)
            if role == "main":
                break
    return out


def case_of(view: RecordView, items: list[Item]) -> Case:
    age = facts.age(view).value
    days = view.value("age_days")
    weight = view.value("birth_weight")
    los = view.los_days()
    main = [i.code.code for i in items if i.role == "main"]
    return Case(
        index=str(view.record_id), sex=SEX_CODES.get(view.sex or ""),
        age=age.years if age else None,
        age_day=int(days) if days and days.isdigit() else (age.days if age and age.days is not None else None),
        weight=int(weight) if weight and weight.isdigit() else None,
        dept=view.department, los=los, leaving_type=DISCHARGE_CODES.get(view.value("discharge_mode") or ""),
        dx=main + [i.code.code for i in items if i.role == "other" and i.code.code],
        px=[i.code.code for i in items if i.role == "procedure" and i.code.code])


# --- support -----------------------------------------------------------------------------------

def _variants(*names: str | None, synonyms: dict | None = None) -> list[str]:
    """The names as a record writes them: as given, without qualifiers, and with a part replaced
    by its usual written form (``synonyms``)."""
    out = []
    for n in names:
        for v in (n, _QUALIFIERS.sub("", n or "")):
            forms = [v] + [v.replace(part, alt) for part, alts in (synonyms or {}).items() if part in (v or "")
                           for alt in alts]
            for f in forms:
                f = norm(f)
                if len(f) >= 2 and f not in out:
                    out.append(f)
    return out


def _describe(cond: dict) -> str:
    if "lab" in cond:
        lab = cond["lab"]
        return f"检验 {lab['item']}{'异常' if lab.get('abnormal') else ('<' if lab['op'] == 'lt' else '>') + str(lab['value'])}"
    for key, what in (("orders", "医嘱"), ("long_orders", "长期医嘱"), ("charges", "费用"), ("terms", "病历用语"), ("icd", "诊断编码")):
        if key in cond:
            return f"{what} {'、'.join(map(str, cond[key]))}"
    return str(cond)


def _clinical_sections(view: RecordView):
    """Sections that can support a diagnosis: not the 首页 and not a list of diagnoses."""
    front = {d.id for d in view.documents if d.doc_type == "住院病案首页"}
    return [s for s in view.sections
            if s.document_id not in front and not any(k in (s.name or "") for k in DIAGNOSIS_SECTIONS)]


def _entity_hit(view: RecordView, label: str, variants: list[str], sections, cues):
    """An entity of ``label`` naming a variant that the NER's ConText attributes leave asserted,
    in a sentence of its section that is itself an asserted mention (no differential cue)."""
    by_id = {s.id: s for s in sections}
    for e in view.entities:
        if e.label != label or e.negated or e.uncertain or e.family or e.section_id not in by_id:
            continue
        t = norm(e.text)
        if len(t) >= 2 and any(v in t or (len(t) >= 3 and t in v) for v in variants):
            if asserted_mention(view, [t], [by_id[e.section_id]], cues) is not None:
                return e
    return None


def _sentence(text: str, start: int, end: int) -> str:
    a = max((m.end() for m in _SENTENCE.finditer(text, 0, start)), default=0)
    b = next((m.start() for m in _SENTENCE.finditer(text, end)), len(text))
    return text[a:b]


def asserted_mention(view: RecordView, variants: list[str], sections, cues) -> Hit | None:
    """The first mention of a variant that ConText neither negates nor marks uncertain (nor a
    family member's), outside a sentence with a differential-diagnosis cue, with its line."""
    for s in sections:
        text = norm(s.text)
        for v in variants:
            for m in re.finditer(re.escape(v), text):
                a = context.attributes(text, [m.span()])[0]
                if a["negated"] or a["uncertain"] or a["family"]:
                    continue
                if any(norm(c) in _sentence(text, *m.span()) for c in cues):
                    continue
                return Hit(_line_evidence(view, s, v), v)
    return None


def _line_evidence(view: RecordView, s, term: str) -> Evidence:
    doc = view.document(s.document_id)
    if s.line_start is not None and s.line_end is not None:
        for lid in range(s.line_start, s.line_end + 1):
            line = view.lines.get(lid)
            if line is not None and term in norm(line.text):
                return view.evidence(line_id=lid, document=doc.doc_type if doc else None, section=s.name)
    return view.evidence(page_id=s.page_id, text=s.text[:200], document=doc.doc_type if doc else None, section=s.name)


def diagnosis_support(view: RecordView, item: Item, kb: dict) -> Support:
    code = item.code.code or ""
    table = kb["diagnosis_support"]["diagnoses"]
    entry = next((d for d in table if icd_matches(code, d["icd"]) or icd_matches(item.field.code, d["icd"])), None)
    looked = []
    if entry is not None:
        looked += [f"诊断依据表({entry['name']}): " + "；".join(_describe(c) for c in entry["support"])]
        hit = any_condition(view, entry["support"], exclude_field=item.field, skip_diagnosis_text=True)
        if hit:
            return Support(True, hit.what, [hit.evidence], looked)
    variants = _variants(item.field.value, item.code.name, entry["name"] if entry else None,
                         synonyms=kb["drg_support"]["name_synonyms"])
    looked.append(f"病历中肯定的提及(否定、不确定、鉴别诊断不计; 首页与诊断列表除外): {'、'.join(variants)}")
    sections = _clinical_sections(view)
    hit = asserted_mention(view, variants, sections, kb["drg_support"]["differential_cues"])
    if hit:
        return Support(True, hit.what, [hit.evidence], looked)
    looked.append("肯定的疾病实体(DISEASE)")
    e = _entity_hit(view, "DISEASE", variants, sections, kb["drg_support"]["differential_cues"])
    if e is not None:
        return Support(True, e.text, [view.evidence(line_id=e.line_id, page_id=e.page_id, text=e.text)], looked)
    return Support(False, None, [], looked)


def _dice(a: str, b: str) -> float:
    x = {a[i:i + 2] for i in range(len(a) - 1)}
    y = {b[i:i + 2] for i in range(len(b) - 1)}
    return 2 * len(x & y) / (len(x) + len(y)) if x and y else 0.0


def _names_match(variants: list[str], text: str, threshold: float) -> bool:
    t = norm(text)
    return any(v in t or _dice(v, t) >= threshold for v in variants)


def procedure_support(view: RecordView, item: Item, threshold: float, kb: dict) -> Support:
    """An operation record, order, charge or OPERATION entity naming the procedure (substring, or
    character-bigram Dice ≥ ``threshold``)."""
    variants = _variants(item.field.value, item.code.name, synonyms=kb["drg_support"]["name_synonyms"])
    looked = [f"手术记录/麻醉记录中的手术名称: {'、'.join(variants)}", "医嘱", "费用明细", "手术实体(OPERATION)"]
    for d in view.documents:
        if d.doc_type not in kb["drg_support"]["surgical_documents"] or d.line_start is None or d.line_end is None:
            continue
        for lid in range(d.line_start, d.line_end + 1):
            line = view.lines.get(lid)
            if line is not None and _names_match(variants, line.text, threshold):
                return Support(True, d.doc_type, [view.evidence(line_id=lid, document=d.doc_type)], looked)
    for o in view.orders:
        if _names_match(variants, o.content, threshold):
            return Support(True, o.content, [view.evidence(line_id=o.line_id, page_id=o.page_id, text=o.content,
                                                           document="长期医嘱单" if o.kind == "long" else "临时医嘱单")], looked)
    for c in view.billed():
        if _names_match(variants, c.item_name, threshold):
            return Support(True, c.item_name, [view.charge_evidence(c)], looked)
    e = _entity_hit(view, "OPERATION", variants, _clinical_sections(view), kb["drg_support"]["differential_cues"])
    if e is not None:
        return Support(True, e.text, [view.evidence(line_id=e.line_id, page_id=e.page_id, text=e.text)], looked)
    return Support(False, None, [], looked)


def _list_candidates(view: RecordView, scheme: Scheme, coded_main: str | None):
    """The main diagnosis of each of the record's own lists (the first item of the 出院诊断, then of
    the 初步诊断), as a 医保版 code, where it differs from the coded one."""
    for name, source in (("discharge_diagnosis", "出院诊断"), ("admission_diagnosis", "初步诊断")):
        f = view.field(name)
        if f is None:
            continue
        written = _LIST_NOISE.sub("", (f.value or "").strip())
        code = codes_mod.check(scheme, f.code, "diagnosis").code if f.code else None
        code = code or codes_mod.diagnosis_by_name(scheme, written)
        if code and code != coded_main:
            yield f, code, source, written


def _best_main(view: RecordView, scheme: Scheme, kb: dict, coded_main: str | None) -> tuple[dict, Item] | None:
    mains = scheme.main_diagnosis_mdcs
    for f, code, source, written in _list_candidates(view, scheme, coded_main):
        if code not in mains:
            continue
        cand = Item("main", Field(f.name, written, f.seq, f.raw, code, f.at, f.page_id, f.line_id),
                    codes_mod.Code(f.code or written, code, codes_mod.OK, scheme.diagnosis_names.get(code)))
        cand.support = diagnosis_support(view, cand, kb)
        sup = cand.support
        if sup.supported:
            return {"code": code, "name": cand.code.name, "written": written, "source": source,
                    "found": sup.found, "evidence": [view.field_evidence(f).to_dict()] + [e.to_dict() for e in sup.evidence]}, cand
    return None


# --- the assessment ------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4)
def _grouper(scheme: Scheme) -> Grouper:
    return Grouper(scheme, check_codes=True)


def assess(view: RecordView, kb: dict, region_name: str, similarity: float = 0.6) -> Assessment:
    """The record's DRG assessment under a region's parameters (kept on the view per region and
    procedure-name similarity)."""
    memo = view.__dict__.setdefault("_drg_assessments", {})
    key = (region_name, similarity)
    if key not in memo:
        memo[key] = _assess(view, kb, region_name, similarity)
    return memo[key]


def _assess(view: RecordView, kb: dict, region_name: str, similarity: float) -> Assessment:
    region = region_mod.load(region_name)
    scheme = scheme_mod.load(region.scheme)
    items = items_of(view, scheme)
    main = next((i for i in items if i.role == "main"), None)
    if main is None:
        return Assessment(scheme, region, NO_MAIN_CODE, "病案首页未见主要诊断编码", items)
    if main.code.code is None:
        return Assessment(scheme, region, MAIN_NOT_INSURANCE,
                          f"主要诊断编码 {main.code.raw} 不在医保版编码表，也无法由国临版转换", items)
    grouper = _grouper(scheme)
    case = case_of(view, items)
    coded = grouper.group(case)
    a = Assessment(scheme, region, coded.status, coded.message, items, case, coded)
    if not coded.grouped:
        return a
    for i in items:
        if i.code.code is None:
            continue
        if i.role == "procedure":
            i.support = procedure_support(view, i, similarity, kb)
        elif i.role == "main" or i.kind:
            i.support = diagnosis_support(view, i, kb)
    new_main = main.code.code
    if main.support and not main.support.supported:
        best = _best_main(view, scheme, kb, main.code.code)
        if best is not None:
            a.supported_main, a.supported_main_item = best
            new_main = a.supported_main_item.code.code
    keep_dx = [i.code.code for i in items if i.role == "other" and i.code.code
               and (i.support is None or i.support.supported)]
    keep_px = [i.code.code for i in items if i.role == "procedure" and i.code.code and i.support.supported]
    a.supported_case = Case(**{**case.__dict__, "dx": [new_main] + keep_dx, "px": keep_px})
    a.supported = grouper.group(a.supported_case)
    return a
