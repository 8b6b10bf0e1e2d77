"""One admission end to end in memory: plan → violations → documents → pages → label and claims."""
from __future__ import annotations

import random
from dataclasses import dataclass

from . import knowledge_cases
from .content import write_record
from .layout import Layout, find_page, paginate
from .plan import Plan, build_plan
from .slot import Slot
from .violations import Violation, inject


@dataclass
class BuiltRecord:
    slot: Slot
    plan: Plan
    violations: list[Violation]
    layout: Layout
    evidence: list[list[dict]]  # per violation: [{"document", "page", "text"}]


def record_rng(seed: int, index: int) -> random.Random:
    return random.Random(f"medreview-synth:{seed}:record:{index}")


def build_record(slot: Slot, cat, seed: int) -> BuiltRecord:
    rng = record_rng(seed, slot.index)
    builder = build_plan(slot, cat, rng)
    violations = inject(builder, slot.violations)
    knowledge_cases.annotate(builder, violations)
    violations = violations + knowledge_cases.inject(builder, slot.knowledge)
    plan = builder.plan
    plan.finalize()
    record = write_record(plan, cat, rng)
    layout = paginate(record)
    evidence = []
    for v in violations:
        items = []
        for doc_type, obj in v.evidence:
            text = obj if isinstance(obj, str) else record.line_of[id(obj)]
            items.append({"document": doc_type, "page": find_page(layout, doc_type, text), "text": text})
        evidence.append(items)
    return BuiltRecord(slot, plan, violations, layout, evidence)
