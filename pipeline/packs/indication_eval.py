"""How well the restriction parser reads a point, against a hand-checked answer: the gold file's
short form (``tests/data/indications_gold.yaml``, its header describes it) and the parser's
conditions both reduce to the same comparable signatures. Used by ``bench/indications.py`` and
the tests; a point is right when every alternative has the same conditions (diagnoses on their
ICD-10 categories, treatments on their names' stems), partly right by the share of conditions."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.packs import indications

_OPS = {">=": "ge", ">": "gt", "<=": "le", "<": "lt"}
_STEM_HEAD = ("含", "一线", "二线", "新辅助", "辅助", "系统性", "系统", "全身", "标准", "单药", "至少")
_STEM_TAIL = ("治疗", "药物", "药品", "方案")


@dataclass(frozen=True)
class Sig:
    """One condition in comparable form: ``kind`` and ``value`` (a frozenset, or for a diagnosis
    without codes its names, which match when they share one)."""

    kind: str
    value: object

    def same(self, other: "Sig") -> bool:
        if self.kind != other.kind:
            return False
        if self.kind == "dxname":   # names the text writes longer or shorter (胃肠胰神经内分泌瘤)
            return any(a in b or b in a for a in self.value for b in other.value)
        return self.value == other.value


def stem(name: str) -> frozenset:
    """A treatment name's comparable stems (含铂化疗 and 铂类 are 铂; 放化疗 is 放疗 and 化疗)."""
    n = indications.norm(name)
    if "铂" in n:
        return frozenset({"铂"})
    if n.endswith("放化疗"):
        return frozenset({"放疗", "化疗"})
    changed = True
    while changed:
        changed = False
        for h in _STEM_HEAD:
            if n.startswith(h) and len(n) > len(h) + 1:
                n, changed = n[len(h):], True
        for tl in _STEM_TAIL:
            if n.endswith(tl) and len(n) > len(tl) + 1:
                n, changed = n[:-len(tl)], True
    if n.endswith("类药物"):
        n = n[:-2]
    return frozenset({n})


def _names(label: str) -> list[str]:
    return [x for x in indications.norm(label).split("/") if x]


def _stems(label: str) -> frozenset:
    out = set()
    for n in _names(label):
        out |= stem(n)
    return frozenset(out)


def _codes(icd) -> frozenset:
    return frozenset(indications.norm(c).upper()[:3] for c in icd)


def signature(cond: dict) -> Sig:
    """A parsed condition (``pipeline.packs.indications``) in comparable form."""
    k = cond.get("kind")
    if k == "diagnosis":
        if cond.get("icd"):
            return Sig("dx", _codes(cond["icd"]))
        return Sig("dxname", frozenset(_names(cond.get("label", ""))))
    if k == "age":
        return Sig("age", frozenset((b["op"], float(b["value"]), b.get("unit", "岁")) for b in cond["age"]))
    if k == "lab":
        lab = cond["lab"]
        return Sig("lab", (lab["item"], "abnormal") if lab.get("abnormal") else (lab["item"], lab["op"], float(lab["value"])))
    if k in ("prior_treatment", "treatment"):
        return Sig("prior" if k == "prior_treatment" else "treat", _stems(cond["label"]))
    if k == "test":
        return Sig("test", frozenset(_names(cond["label"])))
    if k == "severity":
        return Sig("sev", frozenset(_names(cond["label"])))
    if k == "signs":
        return Sig("terms", frozenset(_names(cond["label"])))
    if k == "sex":
        return Sig("sex", cond["sex"])
    if k == "insurance":
        return Sig("ins", cond["insurance"])
    return Sig(str(k), str(cond))


def gold_part(text: str) -> Sig:
    """One condition of the gold file's short form (``dx E11 2型糖尿病``, ``age >=3,<18`` …)."""
    kind, _, rest = text.strip().partition(" ")
    rest = rest.strip()
    if kind == "dx":
        codes, _, names = rest.partition(" ")
        if codes == "-":
            return Sig("dxname", frozenset(_names(names)))
        return Sig("dx", _codes(codes.split(",")))
    if kind == "age":
        bounds = []
        for b in rest.split(","):
            m = re.fullmatch(r"(>=|<=|>|<)(\d+(?:\.\d+)?)(岁|月|日)?", b.strip())
            if not m:
                raise ValueError(f"age: {text}")
            bounds.append((_OPS[m[1]], float(m[2]), m[3] or "岁"))
        return Sig("age", frozenset(bounds))
    if kind == "lab":
        parts = rest.split()
        if parts[-1] == "abnormal":
            return Sig("lab", (parts[0], "abnormal"))
        return Sig("lab", (parts[0], _OPS[parts[1]], float(parts[2])))
    if kind in ("prior", "treat"):
        return Sig(kind, _stems(rest))
    if kind in ("test", "sev", "terms"):
        return Sig(kind, frozenset(_names(rest)))
    if kind in ("sex", "ins"):
        return Sig(kind, rest)
    raise ValueError(f"unknown condition kind: {text}")


def gold_condition(text: str) -> tuple[Sig, ...]:
    """A condition of the short form; ``a | b`` are parts any one of which is enough."""
    return tuple(sorted((gold_part(p) for p in text.split("|")), key=repr))


@dataclass
class Answer:
    """A point's expected (or parsed) restriction: alternatives of conditions and the scalars."""

    alternatives: list[list[tuple[Sig, ...]]]
    scalars: frozenset


def gold_answer(entry: dict) -> Answer:
    common, scalars = [], set()
    for part in filter(None, (entry.get("common") or "").split("&")):
        p = part.strip()
        if p == "inpatient":
            scalars.add(("inpatient", True))
        elif p.startswith("days "):
            scalars.add(("max_days", int(p.split()[1])))
        elif p.startswith("level "):
            scalars.add(("min_level", p.split()[1]))
        else:
            common.append(gold_condition(p))
    alts = [[gold_condition(c) for c in a.split("&")] + common for a in entry.get("alts") or []]
    if not alts and common:
        alts = [common]
    return Answer(alts, frozenset(scalars))


def parsed_answer(r: indications.Restriction | None) -> Answer:
    if r is None:
        return Answer([], frozenset())
    common = [(signature(c),) for c in r.common]
    alts = [[(signature(c),) for c in a] + common for a in r.alternatives]
    if not alts and common:
        alts = [common]
    scalars = {(k, getattr(r, k)) for k in ("max_days", "min_level", "inpatient") if getattr(r, k) is not None}
    return Answer(alts, frozenset(scalars))


def _cond_same(a: tuple[Sig, ...], b: tuple[Sig, ...]) -> bool:
    return len(a) == len(b) and all(x.same(y) for x, y in zip(a, b))


def _match_count(xs: list, ys: list) -> int:
    left, n = list(ys), 0
    for x in xs:
        for i, y in enumerate(left):
            if _cond_same(x, y):
                n += 1
                del left[i]
                break
    return n


def _alt_same(a: list, b: list) -> bool:
    ua, ub = _unique(a), _unique(b)
    return len(ua) == len(ub) == _match_count(ua, ub)


def _unique(conds: list) -> list:
    out = []
    for c in conds:
        if not any(_cond_same(c, d) for d in out):
            out.append(c)
    return out


def _minimal(alts: list) -> list:
    """Alternatives less those that hold more than another (the smaller one is enough)."""
    alts = _unique_alts(alts)
    return [a for a in alts if not any(b is not a and len(_unique(b)) < len(_unique(a))
                                       and _match_count(_unique(b), _unique(a)) == len(_unique(b)) for b in alts)]


def exact(gold: Answer, got: Answer) -> bool:
    """Every alternative the same, none missing or extra, the same scalars (alternatives that
    only add to another are left out on both sides: they change nothing)."""
    if gold.scalars != got.scalars:
        return False
    ga, pa = _minimal(gold.alternatives), _minimal(got.alternatives)
    if len(ga) != len(pa):
        return False
    left = list(pa)
    for a in ga:
        k = next((i for i, b in enumerate(left) if _alt_same(a, b)), None)
        if k is None:
            return False
        del left[k]
    return True


def _unique_alts(alts: list) -> list:
    out = []
    for a in alts:
        if not any(_alt_same(a, b) for b in out):
            out.append(a)
    return out


def f1(gold: Answer, got: Answer) -> float:
    """The share of conditions right: F1 over the distinct conditions of all alternatives and
    the scalars (1.0 when both are empty)."""
    g = _unique([c for a in gold.alternatives for c in a]) + [(Sig("scalar", s),) for s in gold.scalars]
    p = _unique([c for a in got.alternatives for c in a]) + [(Sig("scalar", s),) for s in got.scalars]
    if not g and not p:
        return 1.0
    tp = _match_count(g, p)
    if tp == 0:
        return 0.0
    prec, rec = tp / len(p), tp / len(g)
    return 2 * prec * rec / (prec + rec)


def load_gold(path: Path) -> list[dict]:
    entries = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    for i, e in enumerate(entries):
        for k in ("id", "split", "constraint"):
            if k not in e:
                raise ValueError(f"{path}: entry {i} lacks {k}")
        gold_answer(e)   # fails on a malformed condition, naming it
    return entries


def score(entries: list[dict], vocab=None) -> dict:
    """Per split: points, exact share, mean condition F1, and the entries parsed wrong."""
    out: dict = {}
    for e in entries:
        r = indications.parse(e["constraint"], item_name=e.get("item"), rule_class="药品限适应症", vocab=vocab)
        g, p = gold_answer(e), parsed_answer(r)
        s = out.setdefault(e["split"], {"points": 0, "exact": 0, "f1": 0.0, "wrong": []})
        s["points"] += 1
        ok = exact(g, p)
        s["exact"] += ok
        s["f1"] += f1(g, p)
        if not ok:
            s["wrong"].append(e["id"])
    for s in out.values():
        s["exact_share"] = s["exact"] / s["points"]
        s["f1_mean"] = s["f1"] / s["points"]
    return out
