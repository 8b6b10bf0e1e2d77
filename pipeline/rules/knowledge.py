"""Knowledge tables (data/knowledge/*.yaml) and the small matchers the checks share: item
matchers for charges/orders, affirmed-mention search in the record text, and indication /
support conditions. Tables are validated at load with errors naming the file and entry; each has a
``version``, and one digest over the tables and the negation cues lets flags record which
knowledge produced them."""
from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from pipeline.dates import normalize_text
from pipeline.nlp import context
from pipeline.record.view import Charge, Evidence, RecordView
from pipeline.rules.errors import CatalogueError, read_yaml

KNOWLEDGE_DIR = Path(__file__).parent / "data" / "knowledge"

# table file → (top-level list key, required keys of each entry)
TABLES = {
    "exclusive_pairs": ("pairs", ("a", "b", "reason")),
    "daily_caps": ("caps", ("item", "cap")),
    "restricted_drugs": ("drugs", ("drug", "kind", "text")),
    "mild_conditions": ("conditions", ("icd", "name")),
    "routine_tests": ("tests", ("item", "indications")),
    "non_main_diagnoses": ("codes", ("prefix", "name")),
    "substitutions": ("substitutions", ("billed", "performed_terms", "performed_price", "detail")),
    "split_billing": ("bundles", ("name", "components")),
    "diagnosis_support": ("diagnoses", ("icd", "name", "support")),
    "drug_indications": ("drugs", ("drug", "requires_any")),
    "order_support": ("items", ("item", "routes", "terms")),   # + frequencies: {abbrev: doses/day}
    "planned_cycles": (None, ("icd", "terms", "emergency_terms", "transfer_discharge_modes")),
    "item_methods": ("methods", ("words", "tier")),   # + grades, strip_words, prices
    "drg_support": (None, ("differential_cues", "surgical_documents", "name_synonyms")),
}
CONDITION_KEYS = {"icd", "terms", "lab", "orders", "long_orders", "charges"}
# A lab threshold: below, at most, above, at least (≤ and ≥ include the value).
LAB_OPS = {"lt": lambda a, b: a < b, "le": lambda a, b: a <= b, "lte": lambda a, b: a <= b,
           "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b, "gte": lambda a, b: a >= b}
DIAGNOSIS_FIELDS = ("main_diagnosis", "other_diagnosis", "admission_diagnosis", "discharge_diagnosis")
# Documents whose text restates the diagnoses; they cannot support a diagnosis themselves.
DIAGNOSIS_SECTIONS = ("初步诊断", "入院诊断", "出院诊断", "诊断", "修正诊断", "最后诊断", "拟诊讨论")


def _validate_matcher(where: str, m: Any) -> None:
    if not isinstance(m, dict) or not (m.get("names") or m.get("codes")):
        raise CatalogueError(f"{where}: 项目匹配应为 {{names: [...], codes: [...]}}")


def _validate_condition(where: str, c: Any) -> None:
    if not isinstance(c, dict) or not c or set(c) - CONDITION_KEYS:
        raise CatalogueError(f"{where}: 条件只能含 {', '.join(sorted(CONDITION_KEYS))}")
    lab = c.get("lab")
    if lab is not None and (not isinstance(lab, dict) or "item" not in lab
                            or not ("abnormal" in lab or (lab.get("op") in LAB_OPS and "value" in lab))):
        raise CatalogueError(f"{where}.lab: 应为 {{item, op: lt|le|gt|ge, value}} 或 {{item, abnormal: true}}")


def _validate(name: str, path: Path, data: Any) -> None:
    list_key, required = TABLES[name]
    if not isinstance(data, dict):
        raise CatalogueError(f"{path}: 顶层应为映射")
    entries = data.get(list_key) if list_key else [data]
    if not isinstance(entries, list):
        raise CatalogueError(f"{path}: 缺少列表 {list_key}")
    for i, e in enumerate(entries):
        where = f"{path}: {list_key}[{i}]" if list_key else str(path)
        if not isinstance(e, dict):
            raise CatalogueError(f"{where}: 应为映射")
        for k in required:
            if k not in e:
                raise CatalogueError(f"{where}: 缺少 {k}")
        for k in ("a", "b", "item", "drug", "billed", "performed"):
            if k in e:
                _validate_matcher(f"{where}.{k}", e[k])
        for k in ("indications", "support", "requires_any", "unless_any"):
            for j, c in enumerate(e.get(k) or []):
                _validate_condition(f"{where}.{k}[{j}]", c)
        if name == "restricted_drugs" and e["kind"] not in ("sex", "age", "indication", "level"):
            raise CatalogueError(f"{where}.kind: 应为 sex|age|indication|level")
    if name == "item_methods":
        for key, need in (("grades", ("words", "group", "tier")), ("prices", ("names", "price"))):
            for i, e in enumerate(data.get(key) or []):
                if not isinstance(e, dict) or any(k not in e for k in need):
                    raise CatalogueError(f"{path}: {key}[{i}]: 应含 {', '.join(need)}")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, (int, str)) or version == "":
        raise CatalogueError(f"{path}: 缺少 version (知识表版本, 整数或字符串; 修改表内容时递增)")


class Knowledge(dict):
    """Table name → its validated data, with each table's ``versions`` (and the negation cues',
    as ``context_rules``) and a ``digest`` of their names, versions and contents: a table edited
    without a version bump still changes the digest."""

    packs = None   # the knowledge packs in force (``pipeline.packs.active.PackSet``), for the national checks

    def __init__(self, tables: dict[str, Any], versions: dict[str, str], content_hashes: dict[str, str]):
        super().__init__(tables)
        self.versions = versions
        listing = "".join(f"{n}\t{versions[n]}\t{content_hashes[n]}\n" for n in sorted(versions))
        self.digest = hashlib.sha256(listing.encode()).hexdigest()[:8]

    def with_packs(self, packs) -> Knowledge:
        """The same tables with the knowledge packs beside them: what every check receives, so the
        national checks read the packs through the same argument the others read the tables."""
        out = Knowledge.__new__(Knowledge)
        dict.update(out, self)
        out.__dict__.update(self.__dict__, packs=packs)
        return out


def _content_hash(data: Any) -> str:
    # Of the parsed data, so comments and layout do not count as a change.
    return hashlib.sha256(json.dumps(data, ensure_ascii=False, sort_keys=True, default=str).encode()).hexdigest()


@functools.lru_cache(maxsize=4)
def load(directory: str | None = None) -> Knowledge:
    """All knowledge tables, validated; cached per directory (the checks use them for every record).
    The ConText cue file is loaded too: it decides which term mentions are negated."""
    base = Path(directory) if directory else KNOWLEDGE_DIR
    tables, versions, hashes = {}, {}, {}
    for name in TABLES:
        path = base / f"{name}.yaml"
        data = read_yaml(path, "知识表不存在")
        _validate(name, path, data)
        tables[name], versions[name], hashes[name] = data, str(data["version"]), _content_hash(data)
    cues = read_yaml(context.RULES_PATH, "否定用语文件不存在")
    if not isinstance(cues, dict):
        raise CatalogueError(f"{context.RULES_PATH}: 顶层应为映射")
    try:
        context.load_rules()
    except context.ContextRulesError as exc:
        raise CatalogueError(str(exc)) from None
    versions["context_rules"], hashes["context_rules"] = str(cues.get("version", "")), _content_hash(cues)
    return Knowledge(tables, versions, hashes)


# ----------------------------------------------------------------------------------------------
# Matching helpers.

def norm(s: str | None) -> str:
    """Text as the matchers compare it: NFKC (full-width → ASCII), no spaces."""
    return normalize_text(s or "").replace(" ", "")


def matches_item(m: dict, name: str | None, code: str | None = None) -> bool:
    """Whether an item matcher (``{names, codes, not_names}``) matches a charge or order."""
    if code and code in (m.get("codes") or ()):
        return True
    n = norm(name)
    if not n:
        return False
    if any(norm(x) in n for x in m.get("not_names") or ()):
        return False
    return any(norm(x) in n for x in m.get("names") or ())


def charges_matching(view: RecordView, m: dict, charges: list[Charge] | None = None) -> list[Charge]:
    """The billed charges (or ``charges``) an item matcher matches."""
    return [c for c in (charges if charges is not None else view.billed()) if matches_item(m, c.item_name, c.item_code)]


def icd_matches(code: str | None, prefixes) -> bool:
    """Whether an ICD-10 code starts with any of ``prefixes`` (case and width ignored)."""
    c = norm(code).upper()
    return bool(c) and any(c.startswith(norm(p).upper()) for p in prefixes)


def diagnosis_fields(view: RecordView, exclude=None):
    """The record's diagnosis fields, less ``exclude`` (a diagnosis cannot support itself)."""
    return [f for f in view.fields if f.name in DIAGNOSIS_FIELDS and f is not exclude]


@dataclass
class Hit:
    """Where a term or condition was found (for evidence)."""
    evidence: Evidence
    what: str


def affirmed_term(text: str, terms, mask=()) -> str | None:
    """The first term with a mention in ``text`` that the ConText cues (``pipeline.nlp.context``,
    the detector entities use) do not negate; ``mask`` strings are blanked first (an item's own
    name must not count as its indication). Uncertain, historical and family mentions count."""
    text = norm(text)
    for m in mask:
        if m:
            text = text.replace(norm(m), "□" * len(norm(m)))
    for t in terms:
        t = norm(t)
        for m in re.finditer(re.escape(t), text):
            if not context.attributes(text, [m.span()])[0]["negated"]:
                return t
    return None


def find_terms(view: RecordView, terms, *, skip_diagnosis_text: bool = False, sections=None, mask=()) -> Hit | None:
    """First affirmed mention of any term in the record's sections (negated mentions skipped)."""
    if not terms:
        return None
    wanted = [norm(t) for t in terms]
    skip_docs = {d.id for d in view.documents if d.doc_type == "住院病案首页"} if skip_diagnosis_text else set()
    for s in view.sections if sections is None else sections:
        if skip_diagnosis_text and (s.document_id in skip_docs or any(k in (s.name or "") for k in DIAGNOSIS_SECTIONS)):
            continue
        t = affirmed_term(s.text, wanted, mask)
        if t:
            return Hit(_section_evidence(view, s, t), t)
    return None


def _section_evidence(view: RecordView, s, term: str) -> Evidence:
    doc = view.document(s.document_id)
    dname = doc.doc_type if doc else None
    if s.line_start is not None and s.line_end is not None:
        for lid in range(s.line_start, s.line_end + 1):
            line = view.lines.get(lid)
            if line and term in norm(line.text):
                return view.evidence(line_id=lid, document=dname, section=s.name)
        if s.line_start in view.lines:
            return view.evidence(line_id=s.line_start, document=dname, section=s.name)
    return view.evidence(page_id=s.page_id, text=s.text[:200], document=dname, section=s.name)


def lab_matches(lab_item: str | None, wanted: str) -> bool:
    """Exact analyte match on the name or its abbreviation: 白蛋白 / 白蛋白(ALB) / ALB / 血钾, but
    not 前白蛋白 or 白蛋白/球蛋白比值."""
    n = norm(lab_item)
    core = re.sub(r"[(（][^)）]*[)）]", "", n)
    abbr = re.findall(r"[(（]([^)）]*)[)）]", n)
    w = norm(wanted)
    return w in (core, "血" + core, *abbr) or core == "血" + w


def _lab_hit(view: RecordView, spec: dict) -> Hit | None:
    item = spec["item"]
    for lab in view.labs:
        if not lab_matches(lab.item, item):
            continue
        ok = False
        if spec.get("abnormal"):
            ok = bool(lab.flag and norm(lab.flag) not in ("", "-", "正常", "N"))
        else:
            v = lab.number()
            op = LAB_OPS.get(spec.get("op"))
            if v is not None and op is not None:
                ok = op(v, spec["value"])
        if ok:
            return Hit(view.evidence(line_id=lab.line_id, page_id=lab.page_id, document="检验报告",
                                     text=f"{lab.item} {lab.value or ''}{lab.unit or ''} {lab.flag or ''}".strip()),
                       f"{lab.item} {lab.value}")
    return None


def condition_hit(view: RecordView, cond: dict, *, exclude_field=None,
                  skip_diagnosis_text: bool = False, mask=(), diagnoses=DIAGNOSIS_FIELDS) -> Hit | None:
    """Evidence that ``cond`` holds on the record, or None. ``diagnoses``: which diagnosis
    fields an ``icd`` condition looks at."""
    if "icd" in cond:
        for f in diagnosis_fields(view, exclude_field):
            if f.name not in diagnoses:
                continue
            if icd_matches(f.code, cond["icd"]):
                return Hit(view.field_evidence(f), f"{f.value}({f.code})")
    if "lab" in cond:
        hit = _lab_hit(view, cond["lab"])
        if hit:
            return hit
    if "orders" in cond:
        for o in view.orders:
            if any(norm(t) in norm(o.content) for t in cond["orders"]):
                return Hit(view.evidence(line_id=o.line_id, page_id=o.page_id, text=o.content,
                                         document="长期医嘱单" if o.kind == "long" else "临时医嘱单"), o.content)
    if "long_orders" in cond:
        for o in view.orders:
            if o.kind == "long" and any(norm(t) in norm(o.content) for t in cond["long_orders"]):
                return Hit(view.evidence(line_id=o.line_id, page_id=o.page_id, text=o.content, document="长期医嘱单"),
                           o.content)
    if "charges" in cond:
        for c in view.billed():
            if any(norm(t) in norm(c.item_name) for t in cond["charges"]):
                return Hit(view.charge_evidence(c), c.item_name)
    if "terms" in cond:
        hit = find_terms(view, cond["terms"], skip_diagnosis_text=skip_diagnosis_text, mask=mask)
        if hit:
            return hit
    return None


def any_condition(view: RecordView, conds, **kw) -> Hit | None:
    """Evidence of the first of ``conds`` that holds (see ``condition_hit``), or None."""
    for c in conds or ():
        hit = condition_hit(view, c, **kw)
        if hit:
            return hit
    return None
