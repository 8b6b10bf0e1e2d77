"""The national 两库 pack as the sample generator reads it: the shipped national pack alone (a batch
must not depend on the packs a user imported), which points a code or a name falls under, what a
point demands as its published text says it (sex, age, level, visit type, days, interval, unit,
operation group, disease: points whose text does not say it plainly are not drawn), the points
each case kind may draw (``pools``), and the items billed under them (prices drawn once per code).
Parameters and readers are in ``data/knowledge_cases.yaml``; ``knowledge_cases`` injects them."""
from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.packs import codes as pack_codes
from pipeline.packs import store
from pipeline.packs.active import PackSet
from pipeline.packs.schema import KnowledgePoint

from .plan import Charge

DATA = Path(__file__).parent / "data" / "knowledge_cases.yaml"
CN_LEVEL = {"二": 2, "三": 3}


@functools.cache
def config() -> dict:
    with DATA.open(encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh)
    if not isinstance(cfg, dict) or cfg.get("version") != 1:
        raise ValueError(f"{DATA}: expected version 1")
    for cid, c in cfg["cases"].items():
        for key in ("rule_class", "make", "item", "type", "weight"):
            if key not in c:
                raise ValueError(f"{DATA}: case {cid} has no {key}")
        if c["make"] not in READERS:
            raise ValueError(f"{DATA}: case {cid}: unknown make {c['make']}")
    return cfg


@functools.cache
def national() -> PackSet:
    """The shipped national pack alone: a batch must not depend on the packs a user imported."""
    return PackSet((store.national(),))


def name_key(name: str | None) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name or ""))


def _item_names(p: KnowledgePoint) -> list[str]:
    """The names a point gives its items: both sides of a pair ``A×B``, else its item name."""
    sides = (p.item_name or "").split("×")
    return [name_key(s) for s in sides if name_key(s)]


@functools.cache
def _maps() -> tuple[dict, dict, dict]:
    by_code: dict[str, list[KnowledgePoint]] = {}
    by_prefix: dict[str, list[KnowledgePoint]] = {}
    by_name: dict[str, list[KnowledgePoint]] = {}
    for p in sorted(national().points.values(), key=lambda p: p.kp_id):
        for c in p.med_codes:
            by_code.setdefault(c, []).append(p)
        for key in dict.fromkeys(pack_codes.prefix_key(c) for c in p.med_codes):
            if key:
                by_prefix.setdefault(key, []).append(p)
        for n in _item_names(p):
            by_name.setdefault(n, []).append(p)
    return by_code, by_prefix, by_name


@functools.cache
def covering(code: str) -> tuple[KnowledgePoint, ...]:
    """The points a national code falls under: those listing it, and those listing another
    package or maker of the same product (``pipeline.packs.codes.prefix_key``)."""
    by_code, by_prefix, _ = _maps()
    out = {p.kp_id: p for p in by_code.get(code, ())}
    for p in by_prefix.get(pack_codes.prefix_key(code) or "", ()):
        out.setdefault(p.kp_id, p)
    return tuple(out.values())


def points_named(name: str | None) -> list[KnowledgePoint]:
    """The points that list an item by this exact name (after NFKC, without spaces)."""
    return _maps()[2].get(name_key(name), [])


def points_of_line(c: Charge) -> list[KnowledgePoint]:
    """The points a billed line truly falls under: a case's line those of its product (whatever
    code the bill gives it), another line those of its national code, else (a local code) those
    that list its exact name."""
    if c.item.startswith("kp:"):
        return list(covering(c.item[3:]))
    code = pack_codes.normalize(c.code)
    if pack_codes.family(code) is not None:
        return covering(code)
    return points_named(c.name)


def text(p: KnowledgePoint) -> str:
    return (p.constraint or "").strip()


def read_sex(p: KnowledgePoint) -> str | None:
    words = config()["readers"]["sex"]
    t = f"{text(p)} {p.item_name or ''}"
    hits = {s for s, ws in words.items() if any(w in t for w in ws)}
    return hits.pop() if len(hits) == 1 else None


@dataclass(frozen=True)
class AgeRule:
    """Ages a point allows: min_years ≤ age, age < below_years, age ≤ max_years, days ≤ max_days."""

    min_years: int | None = None
    below_years: int | None = None
    max_years: int | None = None
    max_days: int | None = None

    def allows(self, years: int, days: int) -> bool:
        if self.max_days is not None and days > self.max_days:
            return False
        if self.below_years is not None and years >= self.below_years:
            return False
        if self.min_years is not None and years < self.min_years:
            return False
        return self.max_years is None or years <= self.max_years


def read_child(p: KnowledgePoint) -> AgeRule:
    r = config()["readers"]
    said = text(p) if p.rule_class == "医疗服务项目儿童专用" else p.item_name or ""
    base = next(e for e in r["child"] if not e["words"] or any(w in said for w in e["words"]))
    rule = AgeRule(below_years=base.get("below_years"), max_days=base.get("max_days"))
    if p.rule_class != "药品限儿童使用":
        return rule
    ranges = [(int(a), int(b)) for a, b in re.findall(r["age_range"], text(p))]
    if ranges:
        return AgeRule(min(a for a, _ in ranges), rule.below_years, max(b for _, b in ranges), rule.max_days)
    mins = [int(x) for x in re.findall(r["age_min"], text(p))]
    return AgeRule(min(mins), rule.below_years, None, rule.max_days) if mins else rule


def read_level(p: KnowledgePoint) -> int | None:
    m = re.match(config()["readers"]["level"], text(p))
    return CN_LEVEL[m[1]] if m else None


def read_visit(p: KnowledgePoint) -> tuple[str, ...] | None:
    r, t = config()["readers"], text(p)
    if r["inpatient"] not in t:
        return None
    return ("住院", "急诊") if re.search(r["emergency_too"], t) else ("住院",)


def read_days(p: KnowledgePoint) -> int | None:
    m = re.search(config()["readers"]["max_days"], text(p))
    return int(m[1]) if m else None


def read_interval(p: KnowledgePoint) -> int | None:
    r, t = config()["readers"], text(p)
    m = re.search(r["interval"], t)
    if m:
        return int(m[1])
    if re.search(r["weekly"], t):
        return 7
    m = re.search(r["reflects"], t)
    if m:
        return int(m[1]) * (7 if m[2] == "周" else 30)
    return None


def read_frequency(p: KnowledgePoint) -> tuple[str, int] | None:
    t = text(p).strip("。 ")
    per_day = config()["readers"]["frequency"].get(t)
    return ("小时" if t == "小时" else "日", per_day) if per_day else None


def _indication_of(t: str) -> dict | None:
    r = config()["readers"]
    for d in config()["indications"]:
        phrase = d.get("phrase", d["name"])
        if phrase in t and len(re.sub(r["indication_filler"], "", t.replace(phrase, ""))) <= r["indication_rest"]:
            return d
    return None


def read_indication(p: KnowledgePoint) -> dict | None:
    return _indication_of(text(p))


def child_trap_support(p: KnowledgePoint) -> dict | None | bool:
    """What a clean use of a 限儿童使用 point needs beside the age: nothing (True), one of the
    ``indications`` on the record (that entry), or something the generator cannot write (None)."""
    if p.rule_class != "药品限儿童使用":
        return True
    r = config()["readers"]
    rest = re.sub(r["child_words"], "", text(p))
    if len(re.sub(r["indication_filler"], "", rest)) <= r["indication_rest"]:
        return True
    return _indication_of(rest)


# What a point of each kind demands, as the generator reads it (None: not drawn).
READERS = {
    "sex": read_sex,
    "child": read_child,
    "level": read_level,
    "visit": read_visit,
    "insurance": lambda p: True,
    "course": lambda p: (read_days(p), read_interval(p)) if read_days(p) or read_interval(p) else None,
    "frequency": read_frequency,
    "period": read_interval,
    "working_age": lambda p: True,
    "duplicate_pair": lambda p: True if len(p.med_codes) == 2 else None,
    "surgery_discount": lambda p: text(p) or None,
    "herb_single": lambda p: True,
    "herb_excluded": lambda p: True,
    "second_line": lambda p: True,
    "indication": read_indication,
}
COMPANION_READERS = {"sex": read_sex, "course": lambda p: read_days(p)}


@dataclass(frozen=True)
class Pick:
    """A point a case may bill under: its codes that fall under no other class (``codes``; a pair
    lists A and B), what it demands (``demand``), and per code the companion and ``also`` points."""

    point: KnowledgePoint
    codes: tuple[str, ...]
    demand: object
    companions: dict = field(default_factory=dict, hash=False)   # code → {class: companion demand}
    also: dict = field(default_factory=dict, hash=False)         # code → [points of `also` classes]
    by_name: frozenset = frozenset()   # codes whose item name names exactly the points the code falls under


def _code_fits(code: str, case: dict, rc: str, demand) -> tuple[bool, dict, list]:
    """Whether every point the code falls under is of the case's class (with the same demand),
    an ``also`` class or a companion class whose demand can be read; with those demands."""
    also, comps = set(case.get("also") or ()), case.get("companions") or {}
    reader = READERS[case["make"]]
    seen_comp: dict[str, object] = {}
    also_points = []
    for q in covering(code):
        if q.rule_class == rc:
            if reader(q) != demand:
                return False, {}, []
        elif q.rule_class in also:
            also_points.append(q)
        elif q.rule_class in comps:
            d = COMPANION_READERS[comps[q.rule_class]](q)
            if d is None or seen_comp.setdefault(q.rule_class, d) != d:
                return False, {}, []
        else:
            return False, {}, []
    return True, seen_comp, also_points


@functools.cache
def pools() -> dict[str, tuple[Pick, ...]]:
    """Case id → the points it may draw, by kp_id (built once per process)."""
    out = {}
    points = sorted(national().points.values(), key=lambda p: p.kp_id)
    for cid, case in config()["cases"].items():
        rc, reader = case["rule_class"], READERS[case["make"]]
        picks = []
        for p in points:
            if p.rule_class != rc or (case.get("only") and not re.search(case["only"], text(p))):
                continue
            demand = reader(p)
            if demand is None:
                continue
            fits = {c: _code_fits(c, case, rc, demand) for c in p.med_codes}
            if case["make"] == "duplicate_pair":
                if not all(f[0] for f in fits.values()):
                    continue
                good = p.med_codes
            else:
                good = tuple(c for c in p.med_codes if fits[c][0])
            if good:
                named = frozenset(c for c in good if {q.kp_id for q in points_named(side_name(p, c))}
                                  == {q.kp_id for q in covering(c)})
                picks.append(Pick(p, good, demand, {c: fits[c][1] for c in good}, {c: fits[c][2] for c in good}, named))
        out[cid] = tuple(picks)
    return out


def side_name(p: KnowledgePoint, code: str) -> str:
    """The point's name for the item ``code`` stands for (one side of a pair ``A×B``)."""
    name = p.item_name or code
    if "×" in name and len(p.med_codes) == 2 and code in p.med_codes:
        return name.split("×")[p.med_codes.index(code)]
    return name


@functools.cache
def ordinary_herbs() -> tuple[str, ...]:
    """Herbs of a compound prescription that no point lists (nor a name that holds one or is held)."""
    listed = [name_key(p.item_name) for p in national().points.values()
              if p.rule_class in ("中药饮片单方使用不予支付", "中药饮片单复方均不予支付") and p.item_name]
    return tuple(h for h in config()["herbs"] if not any(h in n or n in h for n in listed))


# --- items and lines -------------------------------------------------------------------------

def _fraction(code: str, salt: str) -> float:
    return int(hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()[:12], 16) / 16 ** 12


def _price(code: str, lo: float, hi: float, step: float = 0.01) -> float:
    return max(step, round(round((lo + (hi - lo) * _fraction(code, "price")) / step) * step, 2))


def item_spec(code: str, name: str, kind: str, unit: str | None = None) -> dict:
    """An item billed under its national code: name, category, unit, price (drawn from the code),
    and for a drug the route and frequency its form takes."""
    pr = config()["prices"]
    if kind == "drug":
        form = next(f for f in pr["drug_forms"] if not f["words"] or any(w in name for w in f["words"]))
        return {"code": code, "name": name, "category": pr["drug_categories"].get(code[:1], "西药费"), "unit": form["unit"],
                "price": _price(code, *form["price"]), "route": form["route"], "freq": form["freq"]}
    if kind == "herb":
        h = pr["herb"]
        return {"code": code, "name": name, "category": h["category"], "unit": h["unit"], "price": _price(code, *h["price"])}
    spec = pr["services"][max((k for k in pr["services"] if code.startswith(k)), key=len)]
    lo, hi = pr["hourly"] if unit == "小时" else spec["price"]
    price = _price(code, lo, hi, 1.0 if lo >= 20 else 0.1)   # price lists give services in yuan (jiao below 20)
    return {"code": code, "name": name, "category": spec["category"], "unit": unit or "次", "price": price}


def local_herb(name: str) -> dict:
    code = "HT" + hashlib.sha256(name.encode()).hexdigest()[:8].upper()
    return item_spec(code, name, "herb")


def local_code(code: str) -> str:
    """A hospital-local code for a national item ("H" + 10 hex digits: no national code has this shape)."""
    return "H" + hashlib.sha256(code.encode()).hexdigest()[:10].upper()
