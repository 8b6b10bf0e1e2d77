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
    # Filled from the catalogue rule that raised it (stamp):
    rule_name: str = ""
    category: str = ""
    severity: str = ""
    violation_type: str = ""
    score: float = 0.0
    catalogue_version: str = ""

    def stamp(self, rule, version: str) -> Flag:
        """Fill in the raising catalogue rule's id and metadata and the version of the rules."""
        self.rule_id, self.rule_name, self.category, self.severity = rule.id, rule.name, rule.category, rule.severity
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
            "source": "system",
            "created_at": created_at,
        }
