"""Load and check the generator's data files (conditions, charge catalogue, labs, phrases, people)."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

DATA_DIR = Path(__file__).parent / "data"

FREQ_PER_DAY = {"qd": 1, "qn": 1, "bid": 2, "q12h": 2, "tid": 3, "q8h": 3, "st": 1, "prn": 1}


@dataclass(frozen=True)
class Catalog:
    items: dict
    drugs: dict
    panels: dict
    exclusive_pairs: list
    substitutions: list
    supportive: dict
    conditions: list
    conditions_by_id: dict
    comorbidities: dict
    phrases: dict
    people: dict

    def charge_item(self, item_id: str) -> dict:
        """A billable item: service/lab/exam/material or drug, with category filled in."""
        if item_id in self.items:
            return self.items[item_id]
        return self.drugs[item_id]


def _read(name: str) -> dict:
    path = DATA_DIR / name
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at top level")
    return data


def _check(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise ValueError(f"synth data error in {where}: {what}")


def _days(spec) -> list:
    return list(spec) if spec is not None else [0, -1]


@functools.cache
def load() -> Catalog:
    cat = _read("catalogue.yaml")
    labs = _read("labs.yaml")
    cond_file = _read("conditions.yaml")
    phrases = _read("phrases.yaml")
    people = _read("people.yaml")

    items = cat["items"]
    drugs = {k: {"category": "西药费", **v} for k, v in cat["drugs"].items()}
    panels = labs["panels"]
    for iid, item in items.items():
        _check(not (item.get("kind") == "lab" and item.get("panel") not in panels), "catalogue.yaml", f"item {iid}: unknown panel")
    for did, drug in drugs.items():
        _check(drug["freq"] in FREQ_PER_DAY, "catalogue.yaml", f"drug {did}: unknown freq {drug['freq']}")
        _check(drug.get("diluent") is None or drug["diluent"] in drugs, "catalogue.yaml", f"drug {did}: unknown diluent")
    for pair in cat["exclusive_pairs"]:
        _check(pair["a"] in items and pair["b"] in items, "catalogue.yaml", f"exclusive pair {pair}")
    for dept, spec in cat["supportive"].items():
        for d in spec["drugs"]:
            _check(d in drugs and "restriction" not in drugs[d], "catalogue.yaml", f"supportive {dept}: bad drug {d}")
    for sub in cat["substitutions"]:
        _check(sub["performed"] in items and sub["billed"] in items, "catalogue.yaml", f"substitution {sub}")
        _check(items[sub["billed"]]["price"] > items[sub["performed"]]["price"], "catalogue.yaml",
               f"substitution {sub}: the billed item must be the dearer one")

    defaults = cond_file["defaults"]
    comorb = cond_file["comorbidities"]
    conditions = []
    for raw in cond_file["conditions"]:
        c = {**defaults, **raw}
        where = f"conditions.yaml:{c.get('id')}"
        for key in ("id", "name", "code", "dept", "weight", "age", "los", "cost", "symptoms"):
            _check(key in c, where, f"missing {key}")
        c.setdefault("extra", [])
        c.setdefault("negatives", [])
        c.setdefault("signs", ["查体未见明显异常"])
        c.setdefault("abnormal", {})
        c.setdefault("daily", [])
        c.setdefault("drugs", [])
        c.setdefault("discharge_drugs", [])
        c.setdefault("differential", [])
        c.setdefault("uncertain", [])
        c.setdefault("progress", ["症状较前好转"])
        c.setdefault("comorbid", [])
        c.setdefault("other_dx", [])
        c["vitals"] = {**defaults["vitals"], **c.get("vitals", {})}
        for lab in c["labs"]:
            _check(items.get(lab, {}).get("kind") == "lab", where, f"unknown lab {lab}")
        for ex in c["exams"]:
            _check(items.get(ex, {}).get("kind") == "exam", where, f"unknown exam {ex}")
        for d in c["drugs"]:
            _check(d["id"] in drugs, where, f"unknown drug {d['id']}")
            d["days"] = _days(d.get("days"))
        for d in c["discharge_drugs"]:
            _check(d in drugs, where, f"unknown discharge drug {d}")
        for d in c["daily"]:
            _check(d["item"] in items, where, f"unknown daily item {d['item']}")
            d["days"] = _days(d.get("days"))
        for m in c["comorbid"]:
            _check(m in comorb, where, f"unknown comorbidity {m}")
        _check(c["nursing"] in items, where, "unknown nursing item")
        s = c.get("surgery")
        if s:
            for key in ("item", "anesthesia"):
                _check(s[key] in items, where, f"surgery: unknown {key} {s[key]}")
            for m in s.get("materials", []):
                _check(m in items, where, f"surgery: unknown material {m}")
        _check(c["los"][0] >= 2, where, "los must be at least 2 days")
        conditions.append(c)
    ids = [c["id"] for c in conditions]
    _check(len(ids) == len(set(ids)), "conditions.yaml", "duplicate condition ids")
    return Catalog(
        items=items,
        drugs=drugs,
        panels=panels,
        exclusive_pairs=cat["exclusive_pairs"],
        substitutions=cat["substitutions"],
        supportive=cat["supportive"],
        conditions=conditions,
        conditions_by_id={c["id"]: c for c in conditions},
        comorbidities=comorb,
        phrases=phrases,
        people=people,
    )
