"""The restriction text of a knowledge point ("限…患者", lab thresholds, gene tests, earlier
treatment, severity) turned into conditions a check can look for in a record. The words and the
vocabularies are data (``data/indications.yaml``); this module only reads the text's structure:

- sentences and whole-restriction terms: the payment days, 住院方可支付, 限二级及以上医疗机构, a
  nutrition screening; what says who prescribes or how soon is kept as a note (``unparsed``);
- alternatives: numbered items (``1.…；2.…``, with a header that applies to all), clauses joined by
  ``；``, and a clause-level ``或`` between requirements of different kinds (头孢菌素耐药或重症感染);
- within an alternative, one condition per requirement, all of which must hold: a diagnosis (the
  diseases named together, any of them; ``伴有X的Y`` / ``X引起的Y`` are two), age bounds, sex,
  insurance, a lab threshold, a named test, a treatment given before, one given with the drug,
  the disease's severity, signs the notes must show.

A condition is a dict the rule checks read (``pipeline/rules/conditions.py``): ``kind`` and
``label`` (the requirement in the text's words) and the keys that are looked for (``icd`` and
``terms`` for a diagnosis; ``age``; ``lab``; ``test``; ``prior_treatment``; ``orders``/``charges``/
``terms`` for a treatment given with it; ``terms`` for severity and signs)."""
from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DATA_PATH = Path(__file__).parent / "data" / "indications.yaml"
_CN = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
UNIT_DAYS = {"天": 1, "日": 1, "周": 7, "个月": 30, "月": 30, "年": 365}
_YEAR_DAYS = {"岁": 365.25, "月": 30.44, "日": 1.0}
_MASK = "\u0000"
_NUM = r"\d+(?:\.\d+)?"
_CJK = re.compile(r"[\u4e00-\u9fff]")


def norm(s: str | None) -> str:
    """Text as the parser reads it: NFKC (full-width punctuation, Roman numerals), no spaces or quotes."""
    t = unicodedata.normalize("NFKC", s or "")
    return re.sub(r"[\s\"“”‘’']", "", t)


def number(s: str) -> int | float:
    """An Arabic (3, 2.5) or Chinese (一 … 十二) numeral; whole values as int."""
    if re.fullmatch(_NUM, s):
        v = float(s)
        return int(v) if v.is_integer() else v
    if s.startswith("十"):
        return 10 + _CN.get(s[1:], 0)
    if "十" in s:
        a, _, b = s.partition("十")
        return _CN[a] * 10 + _CN.get(b, 0)
    return _CN[s]


@dataclass
class Restriction:
    """A point's restriction as conditions: ``alternatives`` (any one enough; each a list of
    conditions that must all hold), ``common`` (conditions every alternative needs), the
    whole-restriction terms, and ``unparsed``: the parts no condition stands for."""

    alternatives: list[list[dict]] = field(default_factory=list)
    common: list[dict] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)
    max_days: int | None = None
    min_level: str | None = None
    inpatient: bool | None = None

    @property
    def parsed(self) -> bool:
        return bool(self.alternatives or self.common or self.inpatient or self.min_level)

    def to_dict(self) -> dict:
        d = {"parsed": self.parsed, "alternatives": self.alternatives, "common": self.common, "unparsed": self.unparsed}
        for k in ("max_days", "min_level", "inpatient"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        return d


class VocabularyError(ValueError):
    """The parser's data file does not validate (the message names the file and the key)."""


@dataclass(frozen=True)
class Disease:
    icd: tuple[str, ...]
    names: tuple[str, ...]


class Vocabulary:
    """The data file, compiled."""

    def __init__(self, data: dict, path: Path):
        def need(key, kind):
            v = data.get(key)
            if not isinstance(v, kind):
                raise VocabularyError(f"{path}: {key} 应为 {kind.__name__}")
            return v
        self.version = str(data.get("version", ""))
        self.classes = tuple(need("classes", list))
        self.age_groups = {norm(k): (float(v[0]), None if v[1] is None else float(v[1])) for k, v in need("age_groups", dict).items()}
        self.age_units = {norm(k): v for k, v in need("age_units", dict).items()}
        self.sex_words = {norm(k): v for k, v in need("sex_words", dict).items()}
        self.insurance_words = {norm(k): v for k, v in need("insurance_words", dict).items()}
        self.severity = {}
        for g, spec in need("severity", dict).items():
            self.severity[g] = ([norm(c) for c in spec["cues"]], [norm(t) for t in spec["terms"]])
        self.severity_cues = sorted(((c, g) for g, (cs, _) in self.severity.items() for c in cs), key=lambda x: -len(x[0]))
        self.severity_not_before = [norm(x) for x in need("severity_not_before", list)]
        self.severity_not_after = [norm(x) for x in need("severity_not_after", list)]
        self.prior_start = sorted((norm(x) for x in need("prior_start", list)), key=len, reverse=True)
        self.prior_start_with_end = [norm(x) for x in need("prior_start_with_end", list)]
        self.prior_negative = sorted((norm(x) for x in need("prior_negative", list)), key=len, reverse=True)
        self.prior_end = sorted((norm(x) for x in need("prior_end", list)), key=len, reverse=True)
        self.prior_or_not = [norm(x) for x in need("prior_or_not", list)]
        self.prior_end_weak = [norm(x) for x in need("prior_end_weak", list)]
        self.treatment_ends = sorted((norm(x) for x in need("treatment_ends", list)), key=len, reverse=True)
        self.fillers = [re.compile(f) for f in need("treatment_fillers", list)]
        self.treatment_suffixes = sorted((norm(x) for x in need("treatment_suffixes", list)), key=len, reverse=True)
        self.vague = {norm(x) for x in need("vague_treatments", list)}
        self.with_optional = [re.compile(p) for p in need("with_patterns", list)]
        self.with_cues = [re.compile(p) for p in need("with_cues", list)]
        self.procedures = {}
        for k, val in need("procedures", dict).items():
            spec = val if isinstance(val, dict) else {"label": k, "search": val}
            self.procedures[norm(k)] = (norm(spec.get("label") or k), [norm(x) for x in spec["search"]])
        self.procedure_not_after = [norm(x) for x in need("procedure_not_after", list)]
        self.treatments = {norm(k): [norm(x) for x in v] for k, v in need("treatments", dict).items()}
        self.treatment_keys = sorted(self.treatments, key=len, reverse=True)
        self.treatment_aliases = {norm(k): norm(v) for k, v in need("treatment_aliases", dict).items()}
        self.drug_suffixes = tuple(norm(x) for x in need("drug_suffixes", list))
        self.dosage_forms = tuple(sorted((norm(x) for x in need("dosage_forms", list)), key=len, reverse=True))
        self.tests = []
        for row in need("tests", list):
            names = [norm(x) for x in row]
            self.tests.append((names[0], names))
        self.test_names = sorted(((n, canon) for canon, names in self.tests for n in names), key=lambda x: -len(x[0]))
        self.test_aliases = {canon: names for canon, names in self.tests}
        self.test_results = [norm(x) for x in need("test_results", list)]
        self.test_not_before = [norm(x) for x in need("test_not_before", list)]
        self.tests_self = {norm(x) for x in need("tests_self", list)}
        self.labs = {}
        for row in need("labs", list):
            self.labs[norm(row["name"])] = row.get("unit") or ""
            for a in [row["name"], *row.get("aliases", [])]:
                self.labs.setdefault(("alias", norm(a)), norm(row["name"]))
        self.lab_names = sorted((k[1] for k in self.labs if isinstance(k, tuple)), key=len, reverse=True)
        self.lab_ops = sorted(((norm(k), v) for k, v in need("lab_ops", dict).items()), key=lambda x: -len(x[0]))
        self.lab_abnormal = [norm(x) for x in need("lab_abnormal", list)]
        self.relations = sorted((norm(x) for x in need("relations", list)), key=len, reverse=True)
        self.list_marks = [norm(x) for x in need("list_marks", list)]
        self.or_after = [norm(x) for x in need("or_after", list)]
        self.standalone = {norm(k): str(val) for k, val in need("standalone", dict).items()}
        bad = sorted(k for k, val in self.standalone.items() if val not in ("treatment", "severity")
                     or (val == "severity" and k not in dict(self.severity_cues)))
        if bad:
            raise VocabularyError(f"{path}: standalone 的类型应为 treatment 或 severity(且为病情用词): {'、'.join(bad)}")
        self._standalone_re = re.compile("^((?:{w})(?:、(?:{w}))*)或(?=.)".format(
            w="|".join(re.escape(k) for k in sorted(self.standalone, key=len, reverse=True)))) if self.standalone else None
        self.drops = [re.compile(p) for p in need("drop_patterns", list)]
        self.uses = sorted((norm(x) for x in need("use_words", list)), key=len, reverse=True)
        self.notes = [re.compile(p) for p in need("note_patterns", list)]
        self.days = re.compile(need("days_pattern", str))
        self.inpatient = re.compile(need("inpatient_pattern", str))
        self.level = re.compile(need("level_pattern", str))
        self.screening = re.compile(need("screening_pattern", str))
        self.diseases: dict[str, Disease] = {}
        for i, row in enumerate(need("diseases", list)):
            if not isinstance(row, dict) or not row.get("names"):
                raise VocabularyError(f"{path}: diseases[{i}] 应有 names")
            d = Disease(tuple(str(c) for c in row.get("icd") or ()), tuple(norm(n) for n in row["names"]))
            for n in d.names:
                self.diseases.setdefault(n, d)
        self.disease_names = sorted(self.diseases, key=len, reverse=True)
        self._disease_re = re.compile("|".join(re.escape(n) for n in self.disease_names))
        self._test_re = re.compile("|".join(re.escape(n) for n, _ in self.test_names))
        self._lab_re = re.compile("(" + "|".join(re.escape(n) for n in self.lab_names) + r")(\([^()]*\))?(?:水平)?")

    def lab(self, name: str) -> str:
        return self.labs[("alias", name)]


@functools.lru_cache(maxsize=4)
def vocabulary(path: str | None = None) -> Vocabulary:
    p = Path(path) if path else DATA_PATH
    data = yaml.safe_load(p.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise VocabularyError(f"{p}: 顶层应为映射")
    return Vocabulary(data, p)


# --- the text's structure -----------------------------------------------------------------------

def parse(constraint: str | None, item_name: str | None = None, rule_class: str | None = None,
          vocab: Vocabulary | None = None) -> Restriction | None:
    """The restriction of one point, or None when its rule class is not one the parser reads
    (``classes`` in the data) or it has no text."""
    v = vocab or vocabulary()
    if not constraint or (rule_class is not None and rule_class not in v.classes):
        return None
    r = Restriction()
    t = norm(constraint)
    m = v.days.search(t)
    if m:
        r.max_days = int(number(m["n"]) * UNIT_DAYS[m["u"]])
    if v.inpatient.search(t):
        r.inpatient = True
    m = v.level.search(t)
    if m:
        r.min_level = f"{m['l']}级"
    for p in (v.days, v.inpatient, v.level):
        t = p.sub("", t)
    for p in v.notes:
        for m in p.finditer(t):
            r.unparsed.append(m.group(0).strip(",;"))
        t = p.sub("", t)
    main = []
    for s in re.split(r"[。\n]+", t):
        s = s.strip(",;: ")
        if not s:
            continue
        if v.screening.search(s):
            r.common.append(_test_condition(v, "营养风险筛查"))
            continue
        main.append(s)
    for i, s in enumerate(main):
        alts = _alternatives(v, s, r.unparsed)
        if i == 0:
            r.alternatives = alts
        else:   # a later sentence adds to every alternative (既往的化疗方案应包含…)
            for a in alts:
                r.common += [c for c in a if c not in r.common]
    r.alternatives = _minimal([a for a in r.alternatives if a])
    if item_name:
        name = norm(item_name)
        r.unparsed = [u for u in r.unparsed if u and u != name]
    r.unparsed = list(dict.fromkeys(u for u in r.unparsed if u))
    return r


def with_conditions(points) -> list:
    """The points, each of a class the parser reads and without conditions of its own given its
    parsed restriction (a region's pack imported as rows of text)."""
    out = []
    for p in points:
        if p.conditions is None and not p.disabled:
            r = parse(p.constraint, item_name=p.item_name, rule_class=p.rule_class)
            if r is not None:
                p = dataclasses.replace(p, conditions=r.to_dict())
        out.append(p)
    return out


def _minimal(alts: list[list[dict]]) -> list[list[dict]]:
    """Alternatives without repeats and without one that holds more than another (then the
    smaller one is enough)."""
    out: list[list[dict]] = []
    for a in alts:
        if a not in out:
            out.append(a)
    return [a for a in out if not any(b is not a and all(c in a for c in b) and len(b) < len(a) for b in out)]


def _strip_lead(s: str) -> str:
    return re.sub(r"^(?:或|限:?|适用于|用于|限以下情况方可支付:?|以下情况方可支付:?)+", "", s).strip(",;: ")


def _numbered(s: str) -> tuple[str, list[str]] | None:
    """(header, items) of a numbered list ``header:1.…;2.…``, or None."""
    pos, k, i = [], 1, 0
    while True:
        m = re.compile(rf"(?:^|(?<=[:;,。)\s]))\s*{k}[.、](?!\d)").search(s, i)
        if not m and k == 1:   # 1.1月龄及以上: the first item's number right before a number
            m = re.compile(r"(?:^|(?<=[:]))\s*1[.、](?=\d+(?:月龄|岁|日龄))").search(s, i)
        if not m:
            break
        pos.append((m.start(), m.end()))
        i, k = m.end(), k + 1
    if len(pos) < 2:
        return None
    items = [s[a[1]:b[0]] for a, b in zip(pos, pos[1:] + [(len(s), len(s))])]
    return s[:pos[0][0]], [x.strip(",;: ") for x in items]


def _alternatives(v: Vocabulary, s: str, notes: list[str]) -> list[list[dict]]:
    s = _strip_lead(s)
    num = _numbered(s)
    if num:
        header, items = num
        head = _clause(v, _strip_lead(header).rstrip(":"), notes) if header.strip(":,; ") else []
        out = []
        for item in items:
            item = _strip_lead(item)
            for alt in _subitems(v, item, notes):
                out.append(_merge(head, alt))
        return out
    head, colon, rest = s.partition(":")
    if colon and ";" in rest and ";" not in head:
        return _subitems(v, s, notes)
    out = []
    for part in _split_top(s, ";"):
        alts = _subitems(v, _strip_lead(part), notes)
        if not any(alts):
            notes.append(part)   # an alternative no condition stands for
        out += alts
    return out


def _subitems(v: Vocabulary, item: str, notes: list[str]) -> list[list[dict]]:
    """An item ``head:a;b`` is the head with a, or with b; else its clause-level 或 parts."""
    head, colon, rest = item.partition(":")
    if colon and ";" in rest:
        h = _clause(v, head, notes)
        return [_merge(h, c) for part in _split_top(rest, ";") for c in _or_parts(v, part, notes)]
    return _or_parts(v, item, notes)


def _merge(head: list[dict], item: list[dict]) -> list[dict]:
    """An item with its header: the item's own diagnosis, age and sex win; the rest add up."""
    own = {c["kind"] for c in item if c["kind"] in ("diagnosis", "age", "sex")}
    return item + [c for c in head if c["kind"] not in own and c not in item]


def _split_top(s: str, sep: str) -> list[str]:
    """``s`` split on ``sep`` outside brackets."""
    out, depth, cur = [], 0, []
    for ch in s:
        depth += ch in "([" 
        depth -= ch in ")]" and depth > 0
        if ch == sep and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [x.strip(",;: ") for x in out if x.strip(",;: ")]


def _or_parts(v: Vocabulary, s: str, notes: list[str]) -> list[list[dict]]:
    """A clause, or its parts where a clause-level 或 joins requirements of different kinds
    (子宫肌瘤患者或生育保险; 头孢菌素耐药或重症感染患者; …患者,或…患者), a 或与 joins two
    regimens (与A和B联合或与C联合治疗…: the rest of the clause holds for both), or a 和 joins two
    uses (晚期肾细胞癌患者的一线治疗和曾经接受过…的治疗)."""
    lead = _standalone(v, s, notes)
    if lead:
        return lead
    whole = _clause(v, s, notes)
    depth, cuts = 0, []   # (position, why)
    uses = tuple(v.uses) + ("的治疗",)
    for i, ch in enumerate(s):
        depth += ch in "(["
        depth -= ch in ")]" and depth > 0
        if depth or i == 0:
            continue
        left = s[:i]
        if ch == "或" and s.startswith("或与", i):
            cuts.append((i, "with"))
        elif ch == "或" and (left.endswith(",") or any(left.endswith(w) for w in v.or_after)):
            cuts.append((i, "or"))
        elif ch == "和" and left.endswith(uses):
            cuts.append((i, "use"))
    if not cuts:
        return [whole]
    pieces, last = [], 0
    for c, _ in cuts + [(len(s), "")]:
        pieces.append(s[last:c].strip(",;或和 "))
        last = c + 1
    parts = [_clause(v, p, []) for p in pieces]
    if any(not p for p in parts):
        return [whole]
    whys = {w for _, w in cuts}
    kinds = [{c["kind"] for c in p} for p in parts]
    if whys == {"or"}:
        comma = any(s[c - 1] == "," for c, _ in cuts)
        if comma and not all("diagnosis" in k for k in kinds) or all(k == {"diagnosis"} for k in kinds):
            return [whole]
    notes_seen = []
    parts = [_clause(v, p, notes_seen) for p in pieces]
    notes += [n for n in notes_seen if n not in notes]
    if "with" in whys:   # the regimen is the only thing the parts differ in
        rest = [c for c in parts[-1] if c["kind"] != "treatment"]
        parts = [p + [c for c in rest if c not in p] for p in parts[:-1]] + [parts[-1]]
    age = next((c for c in parts[-1] if c["kind"] == "age"), None)
    if age and re.search(r"(?:" + "|".join(map(re.escape, v.age_groups)) + r")(?:患者)?$", pieces[-1]):
        parts = [p if any(c["kind"] == "age" for c in p) else p + [age] for p in parts]   # 耐药或重症感染儿童患者
    return parts


def _standalone(v: Vocabulary, s: str, notes: list[str]) -> list[list[dict]] | None:
    """A clause opening with situations each enough by itself (抢救、重症或…): one alternative per
    situation and the rest's; a closing ``,且…`` holds for every one of them."""
    m = v._standalone_re.match(s) if v._standalone_re else None
    if not m:
        return None
    rest = s[m.end():]
    k = rest.find(",且")
    tail = _clause(v, rest[k + 1:], []) if k >= 0 else []
    out = []
    for w in m[1].split("、"):
        if v.standalone[w] == "treatment":
            c = _treatment_condition(v, [w], "treatment")
        else:
            g = dict(v.severity_cues)[w]
            c = {"kind": "severity", "label": g, "terms": v.severity[g][1]}
        out.append([c] + [x for x in tail if x != c])
    return out + _or_parts(v, rest, notes)


# --- one alternative --------------------------------------------------------------------------

class _Text:
    """A clause with the spans already read masked out."""

    def __init__(self, s: str):
        self.s = s
        self.m = list(s)

    def text(self) -> str:
        return "".join(self.m)

    def mask(self, a: int, b: int) -> None:
        for i in range(a, b):
            self.m[i] = _MASK

    def free(self, a: int, b: int) -> bool:
        return all(ch != _MASK for ch in self.m[a:b])


def _clause(v: Vocabulary, s: str, notes: list[str]) -> list[dict]:
    """The conditions of one alternative's text."""
    for p in v.drops:
        s = p.sub("", s)
    for p in v.with_optional:
        s = p.sub("", s)
    s = re.sub(r"\((?:\d{1,2}|[a-z])\)", "", s).replace("和/或", "或")   # (1)(2) sub-numbering
    s = _mask_outcome(s)
    t = _Text(s)
    for u in v.uses:   # the drug's own use (一线治疗, 维持治疗) is no condition; 接受过一线化疗 is one
        for m in re.finditer(re.escape(u), s):
            if t.free(m.start(), m.end()) and not any(w in s[max(0, m.start() - 8):m.start()] for w in v.prior_start):
                t.mask(m.start(), m.end())
    conds: list[dict] = []
    conds += _with(v, t)
    conds += _priors(v, t, notes)
    conds += _labs(v, t)
    conds += _tests(v, t)
    conds += _words(v, t)
    conds += _procedures(v, t)
    conds += _signs(v, t)
    dx = _diseases(v, t)
    conds += dx
    conds += _severity(v, t)
    age = _age(v, t)
    if age:
        conds.append(age)
    out = []
    for c in conds:
        if c not in out:
            out.append(c)
    return out


def _mask_outcome(s: str) -> str:
    """降低…患者的X风险 / X水平: X is what the drug lowers, not a condition."""
    def cut(m):
        head = m.group(1)
        k = max(head.rfind("的"), head.rfind("患者"))
        return "降低" + (head[:k] if k >= 0 else head)
    return re.sub(r"降低([^,;:]*?)(?:风险|水平)", cut, s)


def _with(v: Vocabulary, t: _Text) -> list[dict]:
    out = []
    s = t.text()
    for p in v.with_cues:
        for m in p.finditer(s):
            g = next(x for x in m.groups() if x)
            a, b = m.span()
            if not t.free(a, b) or re.search(r"(?:不宜|不适合|不能|无法)(?:接受)?(?:本)?$", s[:a]):
                continue
            t.mask(a, b)
            for names in _treatment_groups(v, g, strict=False):
                out.append(_treatment_condition(v, names, "treatment"))
    return out


def _priors(v: Vocabulary, t: _Text, notes: list[str]) -> list[dict]:
    """Treatments given before: a start word (既往, 接受过 …) and/or an end word (失败, 控制不佳 …);
    one that must not have been given (未接受过) is a note."""
    s = t.text()
    for neg in v.prior_negative:
        for m in re.finditer(re.escape(neg), s):
            end = _phrase_end(s, m.end())
            if t.free(m.start(), end):
                notes.append(s[m.start():end])
                t.mask(m.start(), end)
    s = t.text()
    ends = []   # end words, leftmost first, the longest at each place
    end_re = re.compile("(" + "|".join(re.escape(w) for w in v.prior_end + v.prior_end_weak) + r")"
                        r"(?:或(?:复发|进展|疾病进展|不可耐受|不耐受|无法耐受))*")
    for m in end_re.finditer(s):
        if t.free(m.start(), m.end()):
            ends.append(m)
    bodies = []
    for m in ends:
        s = t.text()
        a, body_start = _prior_start(v, s, m.start())
        body = s[body_start:m.start()]
        if not body.replace(_MASK, "").strip(",;、或和及"):
            continue
        if m.group(1) in v.prior_end_weak and not (re.search(r"(?:\)|" + "|".join(map(re.escape, v.treatment_ends)) + ")$", body)
                                                   and _treatment_groups(v, body)):
            continue
        if any(s.startswith("或" + w, m.end()) for w in v.prior_or_not):   # 不耐受或禁忌使用: either way
            notes.append(s[a:m.end()].replace(_MASK, ""))
        else:
            bodies.append((a, body))
        t.mask(a, m.end())
    s = t.text()
    for start in v.prior_start:
        for m in re.finditer(re.escape(start), s):
            if not t.free(m.start(), m.end()):
                continue
            end = _treatment_end(v, s, m.end())
            if end <= m.end():
                continue
            bodies.append((m.start(), s[m.end():end]))
            t.mask(m.start(), end)
            s = t.text()
    out = []
    for _, body in sorted(bodies):
        groups = _treatment_groups(v, body)
        if not groups:
            notes.append(body.replace(_MASK, ""))
        for names in groups:
            out.append(_treatment_condition(v, names, "prior_treatment"))
    return out


_BOUNDS = (",", ";", ":", "的", "患者", "者", "且", _MASK, "用于", "、")


def _prior_start(v: Vocabulary, s: str, end: int) -> tuple[int, int]:
    """(where the span starts, where the treatment starts) for an end word at ``end``: the
    nearest start word before it (a 的 between them is allowed: 在接受中等剂量…的他汀类), else
    the nearest boundary (a comma, 的, 患者 …)."""
    off = max(0, end - 40)
    window = s[off:end]
    bound = max((window.rfind(x) + len(x) for x in _BOUNDS if x in window), default=0)
    best = None
    for w in v.prior_start + v.prior_start_with_end:
        k = window.rfind(w)
        if k >= 0 and (best is None or k > best[0] or (k == best[0] and len(w) > best[1] - best[0])):
            best = (k, k + len(w))
    if best and (best[1] >= bound or not re.search(r"[,;:]|患者|者|" + _MASK, window[best[1]:])):
        return off + best[0], off + best[1]
    return off + bound, off + bound


def _treatment_end(v: Vocabulary, s: str, start: int) -> int:
    """The end of a treatment phrase after a start word: its last treatment word before any
    disease or marker, a comma or a span already read."""
    stop = len(s)
    for x in (",", ";", ":", "患者", "且", _MASK):
        k = s.find(x, start)
        if k >= 0:
            stop = min(stop, k)
    seg = s[start:stop]
    first = [m.start() for m in (v._disease_re.search(seg), v._test_re.search(seg)) if m]
    if first:
        seg = seg[:min(first)]
    best = 0
    for w in v.treatment_ends:
        k = seg.rfind(w)
        if k >= 0:
            best = max(best, k + len(w))
    if best == 0:
        return start
    end = start + best
    if s[start:end].count("(") > s[start:end].count(")"):   # inside (包括…): to its end
        k = s.find(")", end)
        return k + 1 if k >= 0 else end
    m = re.match(r"\([^()]*\)", s[end:])   # (含…) right after it belongs to it
    return end + (m.end() if m else 0)


def _phrase_end(s: str, start: int) -> int:
    ends = [k for x in ("的", ",", ";", ":", "患者") if (k := s.find(x, start)) >= 0]
    return min(ends) if ends else len(s)


def _treatment_groups(v: Vocabulary, body: str, strict: bool = True) -> list[list[str]]:
    """The treatments a phrase names: groups that must all have been given, each a list of
    names any of which is enough. A bracket (含X) names the treatment; one listing choices
    (他莫昔芬或芳香化酶抑制剂) adds them; one spelling out a regimen (R-CHOP(…和…)) is left out."""
    body = re.sub(r"\[[^\[\]]*\]", "", body.replace(_MASK, "")).strip(",;:的、")
    inner: list[str] = []
    for m in list(re.finditer(r"\(([^()]*)\)", body))[::-1]:
        content = m.group(1)
        body = body[:m.start()] + body[m.end():]
        if re.match(r"含|包括", content):
            inner = [x for x in re.split(r"或|、|/|和", _clean_treatment(v, content[2:] if content.startswith("包括") else content[1:])) if x]
            body = ""
        elif "或" in content and not re.search(r"和|及", content):
            inner = [x for x in re.split(r"或|/|、", _clean_treatment(v, content)) if x]
    body = re.sub(r"含([^和及与、,]+?)的?(?:标准)?(?:化疗|方案)", lambda m: m.group(0) if m.group(0) in v.treatments else m.group(1), body)
    body = re.sub(r"(.+?)为基础的?(?:化疗|治疗|方案)", r"\1", body)
    body = _clean_treatment(v, body).replace("和/或", "或")
    and_sep = r"和|及|以及|联合|与|并"
    has_and = re.search(and_sep, body) is not None
    parts = [p for p in re.split(and_sep + ("|、" if has_and else ""), body) if p] or ([""] if inner else [])
    groups = []
    for i, part in enumerate(parts):
        names = [_treatment_name(v, x, strict) for x in re.split(r"或|/|等|、", part)]
        if inner and i == 0:
            names = [n for n in names if n and n not in v.vague] + [_treatment_name(v, x, strict) for x in inner]
        if any(n in v.vague for n in names):
            continue
        names = [n for n in names if n]
        if names:
            groups.append(list(dict.fromkeys(names)))
    return groups


def _clean_treatment(v: Vocabulary, s: str) -> str:
    for p in v.fillers:
        s = p.sub("", s)
    return s


def _treatment_name(v: Vocabulary, s: str, strict: bool = True) -> str:
    """A treatment's name as the conditions show it ("" when it names none); vague ones stay as
    they are so the caller can drop their group."""
    s = re.sub(r"\([^()]*\)|\[[^\[\]]*\]", "", s).strip(",;:的在为了 ")
    if s in v.treatments:
        return s
    s = re.sub(r"^(?:含|包括|使用|应用|用)", "", s)
    for form in v.dosage_forms:
        if s.endswith(form) and len(s) > len(form) + 1:
            s = s[:-len(form)]
        if s.startswith(form) and len(s) > len(form) + 1:
            s = s[len(form):]
    if not s:
        return ""
    s = v.treatment_aliases.get(s, s)
    if s in v.vague or s + "治疗" in v.vague:
        return s if s in v.vague else s + "治疗"
    if s + "治疗" in v.treatments:
        return s + "治疗"
    alias = next((b for a, b in v.treatment_aliases.items() if a in s), None)
    if alias:
        return alias
    known = next((k for k in v.treatment_keys if k in s and k not in ("化疗", "铂")), None)
    if known:
        return known
    if s.endswith("治疗") and s not in v.procedures and len(s) > 3:
        s = s[:-2].rstrip("的")
    for suf in ("药物", "药品", "方案"):
        if s.endswith(suf) and len(s) > len(suf) + 1:
            s = s[:-len(suf)]
    if s.endswith("类药"):
        s = s[:-1]
    if s in v.treatments or s in v.procedures or s in ("化疗", "放疗", "手术"):
        return s
    if len(s) < 2:
        return ""
    if strict and not (s.endswith(v.drug_suffixes) or re.fullmatch(r"[A-Za-z0-9-]{2,}", s)) \
            or re.search(r"有|禁忌|不|无|患者|的|时|需|者|应", s):
        return ""   # not a treatment's name (有禁忌, 复发性)
    return s


def _treatment_condition(v: Vocabulary, names: list[str], kind: str) -> dict:
    search = []
    for n in names:
        search += v.treatments.get(n) or (v.procedures[n][1] if n in v.procedures else [n])
    search = list(dict.fromkeys(search))
    label = "/".join(v.procedures[n][0] if n in v.procedures else n for n in names)
    if kind == "prior_treatment":
        return {"kind": kind, "label": label, "prior_treatment": search}
    return {"kind": kind, "label": label, "orders": search, "charges": search, "terms": search}


def _labs(v: Vocabulary, t: _Text) -> list[dict]:
    out = []
    s = t.text()
    ops = "|".join(re.escape(o) for o, _ in v.lab_ops)
    names = [(m.start(), m.end()) for m in v._disease_re.finditer(s)]
    for m in v._lab_re.finditer(s):
        if not t.free(m.start(), m.end()) or any(a <= m.start() and m.end(1) <= b and b - a > m.end(1) - m.start()
                                                  for a, b in names):
            continue   # 血小板减少性紫癜 is a disease
        item = v.lab(m.group(1))
        rest = s[m.end():]
        mo = re.match(rf"(?:为|达到?)?({ops})({_NUM})(%|g/L|个|[a-zA-Z/μ0-9^.]+)?", rest)
        if mo:
            op = dict(v.lab_ops)[mo.group(1)]
            val = number(mo.group(2))
            unit = v.labs.get(item, "")
            label = f"{item}{mo.group(1)}{mo.group(2)}{mo.group(3) or ''}"
            out.append({"kind": "lab", "label": label, "lab": {"item": item, "op": op, "value": val, "unit": unit}})
            t.mask(m.start(), m.end() + mo.end())
            continue
        ma = re.match("|".join(re.escape(x) for x in v.lab_abnormal), rest)
        if ma:
            out.append({"kind": "lab", "label": f"{item}{ma.group(0)}", "lab": {"item": item, "abnormal": True}})
            t.mask(m.start(), m.end() + ma.end())
    # a threshold on an item also said to be raised or lowered: the threshold says it
    items = {c["lab"]["item"] for c in out if "op" in c["lab"]}
    return [c for c in out if "op" in c["lab"] or c["lab"]["item"] not in items]


def _test_condition(v: Vocabulary, canon: str) -> dict:
    return {"kind": "test", "label": canon, "test": list(v.test_aliases.get(canon, [canon]))}


def _tests(v: Vocabulary, t: _Text) -> list[dict]:
    """Named tests and markers, one condition each; markers joined by / (PIK3CA/AKT1/PTEN) are
    one. A marker that names a drug's target (EGFR-TKI, 抗HER2治疗) is none."""
    s = t.text()
    results = "|".join(map(re.escape, v.test_results))
    found = []   # (start, end, canonical)
    for m in v._test_re.finditer(s):
        if not t.free(m.start(), m.end()):
            continue
        canon = dict(v.test_names)[m.group(0)]
        after = re.sub(r"^\([^()]*\)", "", t.s[m.end():m.end() + 14])
        if any(after.startswith(w) for w in v.test_not_before):
            continue
        if m.start() > 0 and t.s[m.start() - 1] == "抗" and not m.group(0).endswith("抗体"):
            continue
        abbr = re.match(r"\(([^()]*)\)", t.s[m.end():])
        if abbr and abbr.group(1) in dict(v.test_names) and dict(v.test_names)[abbr.group(1)] != canon:
            canon = dict(v.test_names)[abbr.group(1)]   # 人表皮生长因子受体(HER2): the abbreviation says which
        said = m.group(0).endswith(("抗体", "试验", "筛查", "检测", "造影")) or canon in v.tests_self
        if not said and not re.match(rf"(?:[^,;:]{{0,8}}?)(?:{results})", after):
            continue
        found.append((m.start(), m.end(), canon))
        t.mask(m.start(), m.end())
    groups: list[list[str]] = []
    last_end = None
    for a, b, canon in found:
        gap = s[last_end:a] if last_end is not None else None
        if gap == "/" and groups and canon not in groups[-1]:
            groups[-1].append(canon)
        elif not any(canon in g for g in groups):
            groups.append([canon])
        last_end = b
    out = []
    for g in groups:
        if len(g) == 1:
            out.append(_test_condition(v, g[0]))
        else:
            out.append({"kind": "test", "label": "/".join(g), "test": [n for x in g for n in v.test_aliases.get(x, [x])]})
    return out


def _words(v: Vocabulary, t: _Text) -> list[dict]:
    out = []
    s = t.text()
    for w, val in v.insurance_words.items():
        k = s.find(w)
        if k >= 0 and t.free(k, k + len(w)):
            out.append({"kind": "insurance", "label": w, "insurance": val})
            t.mask(k, k + len(w))
    for w, val in v.sex_words.items():
        k = s.find(w)
        if k >= 0 and t.free(k, k + len(w)):
            out.append({"kind": "sex", "label": w, "sex": val})
            t.mask(k, k + len(w))
    return out


def _procedures(v: Vocabulary, t: _Text) -> list[dict]:
    """A treatment the restriction itself requires (限放化疗, 介入治疗, 透析患者); not one the
    patient cannot have (不能手术或放疗)."""
    s = t.text()
    out = []
    for name in sorted(v.procedures, key=len, reverse=True):
        for m in re.finditer(re.escape(name), s):
            if not t.free(m.start(), m.end()):
                continue
            before = s[max(0, m.start() - 8):m.start()]
            if re.search(r"[一二三]线$", before) or any(
                    re.search(re.escape(w) + r"(?:手术|放疗|化疗|或|、|和)*$", before) for w in v.procedure_not_after):
                continue
            out.append(_treatment_condition(v, [name], "treatment"))
            t.mask(m.start(), m.end())
            s = t.text()
    return out


def _signs(v: Vocabulary, t: _Text) -> list[dict]:
    """有明确的溃疡、间歇性跛行及严重疼痛体征 → signs the notes must show (not a diagnosis: 有…诊断证据)."""
    out = []
    s = t.text()
    for m in re.finditer(r"有(?:明确的?)?([^,;:有]+?)(?:的)?(?:临床)?(?:证据|体征|表现)", s):
        body = m.group(1)
        if _MASK in body or body.endswith("诊断") or v._disease_re.search(body):
            continue
        names = [re.sub(r"^(?:严重|明显|重度)", "", x) for x in re.split(r"、|及|和|或|以及", body)]
        names = [n for n in names if len(n) >= 2]
        if names:
            out.append({"kind": "signs", "label": "/".join(names), "terms": names})
            t.mask(m.start(), m.end())
    return out


_DX_SUFFIX = re.compile(r"(?:综合征|综合症|白血病|淋巴瘤|骨髓瘤|排斥反应|排异反应|感染|衰竭|不全|出血|贫血|中毒|损伤|结石|溃疡|"
                        r"梗死|梗塞|缺乏症|缺乏|减少症|增多症|增生症|硬化|高压|低下|亢进|水肿|积液|肉瘤|癌|瘤|病|症|炎)")
_FALLBACK_STOP = {"疾病", "病情", "症状", "并发症", "炎症", "病", "症", "癌", "瘤", "炎", "感染症"}
_FALLBACK_VERBS = re.compile(r"可能|导致|切除|手术|发生|接受|使用|治疗|需要|出现|存在|无法|不能|携带|具有|伴有|引起")


def _diseases(v: Vocabulary, t: _Text) -> list[dict]:
    """Disease mentions grouped into diagnosis conditions: names in one list (、或和及) are one
    condition (any of them); a relation word (伴有, 引起的, 相关) or other words between them make
    separate conditions; a name restated in brackets (NSCLC) is the same one."""
    s = t.text()
    mentions = []   # (start, end, name, Disease | None)
    holes = {}      # start → the severity word a stretched name skips
    # names are matched with bracketed abbreviations left out (丙型肝炎病毒(HCV)感染, NSCLC)
    abbr = _abbreviations(s)
    keep = [i for i in range(len(s)) if i not in abbr]
    bare = "".join(s[i] for i in keep)
    for m in v._disease_re.finditer(bare):
        a, b = keep[m.start()], keep[m.end() - 1] + 1
        if not all(s[keep[k]] != _MASK for k in range(m.start(), m.end())):
            continue
        if m.group(0).isascii() and (m.start() > 0 and re.match(r"[A-Za-z0-9-]", bare[m.start() - 1])
                                     or m.end() < len(bare) and re.match(r"[A-Za-z0-9-]", bare[m.end()])):
            continue
        x, hole = _stretch(v, s, a, b, m.group(0))
        if not x[3].icd:
            x = _widen(v, t, x, mentions)
        mentions.append(x)
        if hole:
            holes[x[0]] = hole
    known = [(x[0], x[1]) for x in mentions]
    mentions += [x for x in _fallback(v, t, known) if not known or _head_noun(s, x[1])]
    mentions.sort(key=lambda x: x[0])
    mentions = _elaborated(v, s, mentions)
    groups: list[list[tuple]] = []
    for x in mentions:
        if groups:
            gap = s[groups[-1][-1][1]:x[0]]
            bare = gap.replace(_MASK, "")
            rel = any(r in gap for r in v.relations)
            lst = any(mk in bare for mk in v.list_marks) and len(bare) <= 12
            if re.fullmatch(r"[()\[\]]*", bare) or (not rel and lst):
                groups[-1].append(x)
                continue
        groups.append([x])
    out = []
    for g in groups:
        icd, terms, labels = [], [], []
        for _, _, name, d in g:
            if d is not None and d.icd and name.isascii():
                name = next((n for n in d.names if _CJK.search(n)), name)
            labels.append(name)
            if d is not None:
                icd += [c for c in d.icd if c not in icd]
                terms += [n for n in (name, *d.names) if (_CJK.search(n) and len(n) >= 2 or n == name) and n not in terms]
            elif name not in terms:
                terms.append(name)
        c = {"kind": "diagnosis", "label": "/".join(dict.fromkeys(labels))}
        if icd:
            c["icd"] = icd
        c["terms"] = terms[:16]
        same = next((o for o in out if o.get("icd") and o.get("icd") == c.get("icd")), None)
        if same is None:
            out.append(c)
    for a, b, _, _ in mentions:
        hole = holes.get(a)
        for k in range(a, b):   # a severity word inside a stretched name stays to be read
            if not (hole and hole[0] <= k < hole[1]):
                t.mask(k, k + 1)
    return out


def _abbreviations(s: str) -> set[int]:
    """Positions of bracketed abbreviations ((NSCLC), brackets included)."""
    return {i for m in re.finditer(r"\([A-Za-z0-9 .+/\-]+\)", s) for i in range(m.start(), m.end())}


def _head_noun(s: str, end: int) -> bool:
    """A phrase ending at ``end`` that the clause ends on, or its patients (…瘤患者, …瘤的治疗)."""
    return re.match(r"(?:\([^()]*\))?(?:患者|者|的|$|,|;|:|。)", s[end:]) is not None


def _widen(v: Vocabulary, t: _Text, x: tuple, known: list) -> tuple:
    """A generic name (感染, 出血) with what the text puts before it (肺部铜绿假单胞菌感染), its
    leading qualifiers (severity, age) cut off so they are read apart."""
    a, b, _, d = x
    s = t.text()
    start = a
    while start > 0 and _CJK.match(s[start - 1]) and s[start - 1] not in _STOPS and t.free(start - 1, start) \
            and not any(ka < start <= kb for ka, kb, *_ in known):
        start -= 1
    start = _cut_qualifiers(v, s, start, a)
    return (start, b, s[start:b], d) if start < a else x


def _cut_qualifiers(v: Vocabulary, s: str, start: int, limit: int) -> int:
    words = [c for c, _ in v.severity_cues] + list(v.age_groups) + list(v.relations) + [
        "急性期", "新发的", "新发", "临床确诊的", "确诊的", "明确的", "诊断为", "患有", "下列", "如下", "以下", "上述"]
    changed = True
    while changed and start < limit:
        changed = False
        for w in sorted(words, key=len, reverse=True):
            if s.startswith(w, start) and start + len(w) <= limit:
                start, changed = start + len(w), True
                break
    return start


_STOPS = "的有为及和或与伴且在于对用限、"


def _stretch(v: Vocabulary, s: str, a: int, b: int, name: str) -> tuple[tuple, tuple | None]:
    """A name a severity word interrupts (消化道严重出血 → 消化道出血, the severity read apart):
    the mention and the span of the severity word."""
    for cue, _ in v.severity_cues:
        if s[:a].endswith(cue):
            head_end = a - len(cue)
            for k in range(6, 0, -1):
                whole = s[head_end - k:head_end] + name
                if head_end - k >= 0 and whole in v.diseases:
                    return (head_end - k, b, whole, v.diseases[whole]), (head_end, a)
    return (a, b, name, v.diseases[name]), None


def _elaborated(v: Vocabulary, s: str, mentions: list) -> list:
    """下列快速性心律失常:心房纤颤、心房扑动 → the diseases the list names, not the heading."""
    if ":" not in s:
        return mentions
    colon = s.index(":")
    after = [x for x in mentions if x[0] > colon]
    if not after:
        return mentions
    codes_after = {c for x in after if x[3] for c in x[3].icd}
    out = []
    for x in mentions:
        if x[1] <= colon:
            heading = re.search(r"(?:下列|如下|以下)$", s[max(0, x[0] - 8):x[0]].rstrip("的"))
            shared = x[3] is not None and codes_after & set(x[3].icd)
            if heading or shared or "下列" in s[max(0, x[0] - 12):x[0]]:
                continue
        out.append(x)
    return out


def _fallback(v: Vocabulary, t: _Text, known) -> list[tuple]:
    """A disease the vocabulary does not hold: a phrase ending like a disease (…病, …综合征),
    its leading qualifiers (age, severity, 相关) cut off; one that is a known name once severity
    words are left out takes that one's codes."""
    s = t.text()
    out = []
    for m in _DX_SUFFIX.finditer(s):
        end = m.end()
        if not t.free(m.start(), end) or (end < len(s) and _DX_SUFFIX.match(s, end)) \
                or any(a <= m.start() < b for a, b in known):
            continue
        start = end
        while start > 0 and _CJK.match(s[start - 1]) and s[start - 1] not in _STOPS and t.free(start - 1, start) \
                and not any(a < start <= b for a, b in known):
            start -= 1
        start = _cut_qualifiers(v, s, start, m.start())
        name = s[start:end]
        bare = name
        for c, _ in v.severity_cues:
            bare = bare.replace(c, "")
        if len(name) < 2 or len(name) > 12 or name in _FALLBACK_STOP or name in v.vague or _FALLBACK_VERBS.search(name):
            continue
        out.append((start, end, bare if bare in v.diseases else name, v.diseases.get(bare)))
    return out


def _severity(v: Vocabulary, t: _Text) -> list[dict]:
    """The disease's severity or stage, where the text gives it for the disease (局部晚期或转移性,
    复发或难治性, 中重度, 重症); a list in which some item names no severity (持续、复发或转移性)
    leaves it open."""
    s = t.text()
    cue_re = re.compile("|".join(re.escape(c) for c, _ in v.severity_cues))
    groups_of = dict(v.severity_cues)
    out, seen = [], set()
    for m in cue_re.finditer(s):
        if m.start() in seen or not t.free(m.start(), m.end()):
            continue
        if any(s.startswith(w, m.end()) for w in v.severity_not_before):
            continue
        if any(s[:m.start()].endswith(w) for w in v.severity_not_after):
            continue
        a, b = m.start(), m.end()
        while a > 0 and s[a - 1] not in ",;:的(且" + _MASK and "患者" not in s[a - 1:a + 1]:
            a -= 1
        while b < len(s) and s[b] not in ",;:的(且" + _MASK:
            b += 1
        run = s[a:b].strip("、或/和及")
        a = s.index(run, a) if run else a
        for x in cue_re.finditer(run):
            seen.add(a + x.start())
        conds = _severity_run(v, run, cue_re, groups_of)
        for g in conds:
            c = {"kind": "severity", "label": "/".join(g), "terms": [x for grp in g for x in v.severity[grp][1]]}
            if c not in out:
                out.append(c)
    return out


def _severity_run(v, run: str, cue_re, groups_of) -> list[list[str]]:
    tokens = re.split(r"(、|或|/)", run)
    items, seps = tokens[::2], tokens[1::2]

    def groups(tok):
        return sorted({groups_of[x.group(0)] for x in cue_re.finditer(tok)
                       if not any(tok.startswith(w, x.end()) for w in v.severity_not_before)})
    if not seps:
        g = groups(run)
        return [g] if g else []
    or_list = all(x == "或" for x in seps) or (seps.count("或") == 1 and seps[-1] == "或") or all(x == "/" for x in seps)
    if or_list:
        gs = [groups(x) for x in items]
        if any(not g for g in gs):
            return []
        return [sorted({x for g in gs for x in g})]
    out, cur = [], [items[0]]
    for sep, tok in zip(seps, items[1:]):
        if sep == "、":
            out.append(cur)
            cur = [tok]
        else:
            cur.append(tok)
    out.append(cur)
    res = []
    for item in out:
        gs = [groups(x) for x in item]
        if gs and all(gs):
            res.append(sorted({x for g in gs for x in g}))
    return res


def _age(v: Vocabulary, t: _Text) -> dict | None:
    """The ages the alternative allows: each age named (3岁及以上儿童, 成人, 1月龄至18岁) is an
    interval; ages named together are joined."""
    s = t.text()
    unit = "(" + "|".join(sorted(map(re.escape, v.age_units), key=len, reverse=True)) + ")"
    unit_nc = "(?:" + unit[1:]
    groups_re = "|".join(sorted(map(re.escape, v.age_groups), key=len, reverse=True))
    forms = [   # (pattern, reader) in order; each match is masked before the next form
        (rf"({_NUM}){unit}?(?:至|到|-|~)(<)?({_NUM}){unit}(以下)?",
         lambda m: (float(m[1]), m[2] or m[5], "ge", float(m[4]), m[5], "lt" if m[3] or m[6] else "le")),
        (rf"(≥|>=|>)({_NUM}){unit}?(?:及以上)?",
         lambda m: (float(m[2]), m[3] or "岁", "gt" if m[1] == ">" else "ge", None, None, None)),
        (rf"(<|≤|<=)({_NUM}){unit}?",
         lambda m: (None, None, None, float(m[2]), m[3] or "岁", "lt" if m[1] == "<" else "le")),
        (rf"({_NUM}){unit}(?:及(?:{_NUM}){unit_nc}?)?(及以上|以上|以下|及以下)",
         lambda m: (float(m[1]), m[2], "ge", None, None, None) if m[3] in ("及以上", "以上")
         else (None, None, None, float(m[1]), m[2], "lt" if m[3] == "以下" else "le")),
    ]
    found = []   # (start, end, interval)
    for pat, read in forms:
        for m in re.finditer(pat, s):
            if not t.free(m.start(), m.end()):
                continue
            lo, lu, lo_op, hi, hu, hi_op = read(m)
            lu = v.age_units.get(lu or "", "岁") if lu else None
            hu = v.age_units.get(hu or "", "岁") if hu else None
            if "个月" in m.group(0) and not re.search(r"儿童|婴|患者|受者", s[m.end():m.end() + 12]):
                continue   # 治疗3-6个月: a duration, not an age
            if not any(u in m.group(0) for u in v.age_units) and not re.match(r"(?:的)?(?:" + groups_re + ")", s[m.end():]):
                continue   # a bare number is an age only next to an age word
            found.append((m.start(), m.end(), _interval(lo, lu or hu or "岁", lo_op, hi, hu or lu or "岁", hi_op)))
            t.mask(m.start(), m.end())
            s = t.text()
    items = []   # (start, end, interval)
    for a, b, iv in found:
        items.append((a, b, iv))
    s = t.text()
    for m in re.finditer(groups_re, s):
        items.append((m.start(), m.end(), _group_interval(v.age_groups[m.group(0)])))
        t.mask(m.start(), m.end())
    if not items:
        return None
    items.sort(key=lambda x: x[0])
    # Ages side by side (3岁及以上儿童, 成人(≥18周岁)) narrow each other; ages joined by a list
    # word (成人和5岁及以上儿童) are either; apart in the text, both hold.
    runs = [[[items[0][2]]]]
    for (_, prev_end, _), (a, _, iv) in zip(items, items[1:]):
        gap = t.s[prev_end:a]
        if re.fullmatch(r"[的()]*", gap):
            runs[-1][-1].append(iv)
        elif re.fullmatch(r"(?:和|及|以及|、|或|与|,)", gap):
            runs[-1].append([iv])
        else:
            runs.append([[iv]])
    result = None
    for run in runs:
        members = [functools.reduce(_intersect, m) for m in run]
        lo = min(members, key=lambda x: x[0])
        hi = max(members, key=lambda x: float("inf") if x[1] is None else x[1])
        joined = (lo[0], hi[1], lo[2], hi[3])
        result = joined if result is None else _intersect(result, joined)
    bounds = ([result[2]] if result[0] > 0 and result[2] else []) + ([result[3]] if result[1] is not None and result[3] else [])
    if not bounds:
        return None
    return {"kind": "age", "label": "、".join(_bound_text(b) for b in bounds), "age": bounds}


def _bound(op: str, value: float, unit: str) -> dict:
    value = int(value) if float(value).is_integer() else value
    return {"op": op, "value": value, **({"unit": unit} if unit != "岁" else {})}


def _interval(lo, lu, lo_op, hi, hu, hi_op) -> tuple:
    lo_d = (lo * _YEAR_DAYS[lu]) if lo is not None else 0.0
    hi_d = (hi * _YEAR_DAYS[hu]) if hi is not None else None
    return (lo_d, hi_d, _bound(lo_op, lo, lu) if lo is not None else None, _bound(hi_op, hi, hu) if hi is not None else None)


def _group_interval(g: tuple) -> tuple:
    lo, hi = g
    if hi is not None and hi < 1:
        days = round(hi * 365.25)
        return (0.0, float(days), None, _bound("le", days, "日"))
    return (lo * 365.25, None if hi is None else hi * 365.25, _bound("ge", lo, "岁") if lo else None,
            _bound("lt", hi, "岁") if hi is not None else None)


def _intersect(a: tuple, b: tuple) -> tuple:
    lo = a if a[0] >= b[0] else b
    if a[1] is None:
        hi = b
    elif b[1] is None:
        hi = a
    else:
        hi = a if a[1] <= b[1] else b
    return (lo[0], hi[1], lo[2], hi[3])


def _bound_text(b: dict) -> str:
    op = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}[b["op"]]
    return f"{op}{b['value']}{b.get('unit', '岁')}"
