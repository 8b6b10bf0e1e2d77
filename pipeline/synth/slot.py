"""One admission's place in the batch: who, where, when, which violations (cohort.py draws them;
the plan and the record are built from it)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .people import Hospital, Person


@dataclass
class Slot:
    index: int
    hospital: Hospital
    person: Person
    condition_id: str
    admit_at: datetime
    discharge_at: datetime
    violations: list[str]
    bed: str
    admission_no: str = ""
    id_missing: bool = False
    readmission: dict | None = None  # {"of_index", "kind", "gap_days", ...}
    planned_readmission: str | None = None  # 31天内再住院计划 text when planned
    chemo_cycle: int = 0
    knowledge: list[dict] = field(default_factory=list)  # national 两库 cases: {"case", "violate"} (knowledge_cases)

    @property
    def los(self) -> int:
        return (self.discharge_at.date() - self.admit_at.date()).days
