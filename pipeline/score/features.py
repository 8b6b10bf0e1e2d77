"""Record-level features for the risk classifier: costs and charge mix, length of stay, care
activity, extracted entities, diagnosis chapter, and the rule outputs (flags per violation type).

Base features come from the record view (computed once, stored in `stays.features`); flag
features come from the flags, so cross-record flags found at batch end can update a score
without reloading the record.
"""
from __future__ import annotations

import math
from collections import Counter

from pipeline.rules.checks.clinical import is_injection
from pipeline.rules.checks.timeline import NOTE_TYPES, activity_days

CATEGORIES = ("床位费", "护理费", "诊查费", "西药费", "中成药费", "中草药费", "化验费", "检查费", "治疗费",
              "手术费", "麻醉费", "卫生材料费", "其他费")
ENTITY_LABELS = ("DISEASE", "SYMPTOM", "DRUG", "LAB", "IMAGING", "OPERATION")
CHAPTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def base_features(view, kb) -> dict[str, float]:
    billed = view.billed()
    total = sum(c.amount for c in billed) or 0.0
    los = view.los_days() or 0
    f: dict[str, float] = {
        "los_days": float(los),
        "log_total_cost": math.log1p(total),
        "cost_per_day": total / los if los else total,
        "n_charge_lines": float(len(billed)),
        "age": float(view.age) if view.age is not None else -1.0,
        "sex_male": 1.0 if view.sex == "男" else 0.0,
        "has_procedure": 1.0 if view.fields_named("procedure") else 0.0,
        "n_other_diagnoses": float(len(view.fields_named("other_diagnosis"))),
        "uses_injection": 1.0 if is_injection(view, kb) else 0.0,
        "n_orders": float(len(view.orders)),
        "n_labs": float(len(view.labs)),
        "n_abnormal_labs": float(sum(1 for lab in view.labs if lab.flag and lab.flag.strip() not in ("", "-", "正常"))),
        "n_documents": float(len(view.documents)),
    }
    by_cat = Counter()
    for c in billed:
        by_cat[c.category if c.category in CATEGORIES else "其他费"] += c.amount
    for cat in CATEGORIES:
        f[f"share_{cat}"] = by_cat[cat] / total if total else 0.0
    notes = view.documents_of(*NOTE_TYPES)
    f["notes_per_day"] = len(notes) / los if los else float(len(notes))
    active = activity_days(view)
    f["inactive_day_share"] = 1 - min(1.0, len(active) / (los + 1)) if los else 0.0
    ents = Counter(e.label for e in view.entities)
    for label in ENTITY_LABELS:
        f[f"n_ent_{label}"] = float(ents[label])
    f["n_ent_negated"] = float(sum(1 for e in view.entities if e.negated))
    main = view.field("main_diagnosis")
    letter = (main.code or " ")[0].upper() if main and main.code else ""
    for ch in CHAPTERS:
        f[f"icd_{ch}"] = 1.0 if letter == ch else 0.0
    return f


def flag_features(flags: list[dict], violation_types: list[str]) -> dict[str, float]:
    """``flags``: dicts with violation_type, amount, score."""
    f: dict[str, float] = {}
    for t in violation_types:
        mine = [x for x in flags if x["violation_type"] == t]
        f[f"flags_{t}"] = float(len(mine))
        f[f"amount_{t}"] = math.log1p(sum(x.get("amount") or 0 for x in mine))
    f["flags_total"] = float(len(flags))
    f["rule_risk"] = rule_risk(flags)
    return f


def rule_risk(flags: list[dict]) -> float:
    """Noisy-OR of the rule weights: the rule-only risk used before a classifier is trained."""
    p = 1.0
    for x in flags:
        p *= 1 - float(x.get("score") or 0)
    return 1 - p


def vector(features: dict[str, float], names: list[str]) -> list[float]:
    return [float(features.get(n, 0.0)) for n in names]
