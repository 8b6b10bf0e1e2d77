"""Record-level features for the risk classifier: what a record says about the stay clinically
and financially, and what the rules found, never how the record was printed.

Left out on purpose: counts that follow a hospital's print style or the reading rather than the
stay (documents, table rows, charge lines, orders, entities the NER found in the narrative) and the
diagnosis chapter (the case mix of a batch); trained on some hospitals' styles they let a model
learn the layout, and on another hospital's records it then scores the layout. Base features come
from the record view (computed once, stored in `stays.features`); flag features from the flags, so
cross-record flags found at batch end can update a score without reloading the record.
"""
from __future__ import annotations

import math
import re
from collections import Counter

from pipeline.rules.checks.clinical import is_injection, severity_markers
from pipeline.rules.checks.timeline import NOTE_TYPES, activity_days

# cost groups of the 病案首页 (DOMAIN.md §4.6): what the money went to
COST_GROUPS = {
    "stay": ("床位费", "护理费", "诊查费"),
    "drugs": ("西药费", "中成药费", "中草药费"),
    "tests": ("化验费", "检查费"),
    "treatment": ("治疗费",),
    "surgery": ("手术费", "麻醉费"),
    "materials": ("卫生材料费",),
}


def _vital_max(view, name: str) -> float | None:
    vals = []
    for f in view.fields_named(name):
        m = re.match(r"\s*(\d+(?:\.\d+)?)", f.value or "")
        if m:
            vals.append(float(m.group(1)))
    return max(vals) if vals else None


def base_features(view, kb) -> dict[str, float]:
    billed = view.billed()
    total = sum(c.amount for c in billed) or 0.0
    los = view.los_days() or 0
    f: dict[str, float] = {
        "los_days": float(los),
        "log_total_cost": math.log1p(total),
        "log_cost_per_day": math.log1p(total / los if los else total),
        "age": float(view.age) if view.age is not None else -1.0,
        "has_procedure": 1.0 if view.fields_named("procedure") else 0.0,
        "n_other_diagnoses": float(len(view.fields_named("other_diagnosis"))),
        "uses_injection": 1.0 if is_injection(view, kb) else 0.0,
        "n_severity_markers": float(len(severity_markers(view, kb))),
    }
    by_group = Counter()
    for c in billed:
        for group, cats in COST_GROUPS.items():
            if (c.category or "") in cats:
                by_group[group] += c.amount
    for group in COST_GROUPS:
        f[f"share_{group}"] = by_group[group] / total if total else 0.0
    labs = [lab for lab in view.labs if lab.value]
    abnormal = [lab for lab in labs if lab.flag and lab.flag.strip() not in ("", "-", "正常")]
    f["abnormal_lab_share"] = len(abnormal) / len(labs) if labs else 0.0
    t_max, p_max = _vital_max(view, "vital_T"), _vital_max(view, "vital_P")
    f["fever"] = 1.0 if t_max is not None and t_max >= 37.5 else 0.0
    f["tachycardia"] = 1.0 if p_max is not None and p_max >= 100 else 0.0
    notes = view.documents_of(*NOTE_TYPES)
    f["notes_per_day"] = len(notes) / los if los else float(len(notes))
    active = activity_days(view)
    f["inactive_day_share"] = 1 - min(1.0, len(active) / (los + 1)) if los else 0.0
    return f


def flag_features(flags: list[dict], violation_types: list[str], total_cost: float | None = None) -> dict[str, float]:
    """``flags``: dicts with violation_type, amount, score. ``total_cost``: the stay's, for the
    share of it the flags put at risk."""
    f: dict[str, float] = {}
    for t in violation_types:
        mine = [x for x in flags if x["violation_type"] == t]
        f[f"flags_{t}"] = float(len(mine))
        f[f"amount_{t}"] = math.log1p(sum(x.get("amount") or 0 for x in mine))
    f["flags_manual_check"] = float(sum(1 for x in flags if x["violation_type"] == "manual_check"))
    f["flags_total"] = float(len(flags))
    f["rule_risk"] = rule_risk(flags)
    at_risk = sum(x.get("amount") or 0 for x in flags)
    f["at_risk_share"] = min(1.0, at_risk / total_cost) if total_cost else 0.0
    return f


def rule_risk(flags: list[dict]) -> float:
    """Noisy-OR of the rule weights: the rule-only risk used before a classifier is trained."""
    p = 1.0
    for x in flags:
        p *= 1 - float(x.get("score") or 0)
    return 1 - p


def vector(features: dict[str, float], names: list[str]) -> list[float]:
    return [float(features.get(n, 0.0)) for n in names]
