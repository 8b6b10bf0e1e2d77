"""Points per rule class: how many are loaded, and, given a verdict per point from the checks,
how many are executable and how many can only be shown as text (with the reasons)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from pipeline.packs.schema import KnowledgePoint

# A point's verdict: True when a check can execute it; False, or the reason as text, when it can
# only be shown to the auditor as text.
Verdict = Callable[[KnowledgePoint], "bool | str"]


@dataclass(frozen=True)
class ClassCoverage:
    rule_class: str
    tier1: str | None
    gz_code: str | None
    has_kp_detail: bool | None
    loaded: int
    executable: int | None = None        # None: no verdict given
    text_only: int | None = None
    reasons: dict[str, int] = field(default_factory=dict)


def by_class(packset, executable: Verdict | None = None) -> list[ClassCoverage]:
    """One row per rule class with points in force (in the catalogue's order, then unknown classes by
    name), then the classes the catalogue says have knowledge points but none is loaded."""
    meta = packset.rule_classes
    groups: dict[str, list[KnowledgePoint]] = {}
    for p in packset.points.values():
        groups.setdefault(p.rule_class, []).append(p)
    order = {name: i for i, name in enumerate(meta)}
    rows = []
    for name in sorted(groups, key=lambda n: (order.get(n, len(order)), n)):
        m = meta.get(name, {})
        pts = groups[name]
        ex = text = None
        reasons: Counter = Counter()
        if executable is not None:
            ex = text = 0
            for p in pts:
                v = executable(p)
                if v is True:
                    ex += 1
                else:
                    text += 1
                    reasons[v if isinstance(v, str) and v else "未说明"] += 1
        rows.append(ClassCoverage(name, m.get("tier1"), m.get("gz_code"), m.get("has_kp_detail"), len(pts), ex, text,
                                  dict(reasons.most_common())))
    for name, m in meta.items():
        if name not in groups and m.get("has_kp_detail"):
            rows.append(ClassCoverage(name, m.get("tier1"), m.get("gz_code"), True, 0,
                                      0 if executable else None, 0 if executable else None))
    return rows
