"""The Flag a rule raises: what, why (in Chinese, with the record's values), where, how much."""
from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.record.view import Evidence


@dataclass
class Flag:
    rule_id: str
    key: str                      # distinguishes two flags of one rule on one record
    reason: str                   # Chinese, filled with the record's values
    evidence: list[Evidence] = field(default_factory=list)
    charge_ids: list[int] = field(default_factory=list)
    amount: float = 0.0           # amount at risk, 元
    record_id: int | None = None  # set by cross-record rules (which flag one of many records)
    # Set by the national checks: the knowledge point behind the flag (``flags.knowledge``), and the
    # severity the point decides (政策类 → 明确违规; 医疗类, a restriction not parsed or a value the
    # record does not give → 可疑), which then replaces the rule's default.
    knowledge: dict | None = None
    point_severity: str | None = None
    # Set by the DRG checks: both groups, weights, what was unsupported and what was looked at
    # (``flags.details``, migration m0150).
    details: dict | None = None
    # Filled from the catalogue rule that raised it (stamp):
    rule_name: str = ""
    category: str = ""
    severity: str = ""
    violation_type: str = ""
    score: float = 0.0
    catalogue_version: str = ""

    def stamp(self, rule, version: str) -> Flag:
        """Fill in the raising catalogue rule's id and metadata and the version of the rules (the
        severity a knowledge point decided stays)."""
        self.rule_id, self.rule_name, self.category = rule.id, rule.name, rule.category
        self.severity = self.point_severity or rule.severity
        self.violation_type, self.score, self.catalogue_version = rule.violation_type, rule.score, version
        return self

    def row(self, record_id: int, created_at: str, dumps) -> dict:
        """The `flags` table row (see m0001_core)."""
        return {
            "record_id": record_id,
            "rule_id": self.rule_id,
            "rule_name": self.rule_name,
            "catalogue_version": self.catalogue_version,
            "key": self.key,
            "category": self.category,
            "severity": self.severity,
            "score": self.score,
            "reason": self.reason,
            "amount": round(float(self.amount), 2),
            "evidence": dumps([e.to_dict() for e in self.evidence]),
            "charge_ids": dumps(sorted(set(self.charge_ids))),
            "knowledge": dumps(self.knowledge) if self.knowledge is not None else None,
            "details": dumps(self.details) if self.details is not None else None,
            "source": "system",
            "created_at": created_at,
        }


def rule_class(knowledge: dict | None, category: str | None) -> str:
    """What the report and the case page group a flag by: a national rule's 两库 rule class, else
    the catalogue category of its rule."""
    return (knowledge or {}).get("rule_class") or category or "未分类"
