"""One admission end to end in memory: plan → violations → documents → pages → label and claims."""
from __future__ import annotations

import random
from dataclasses import dataclass

from . import drg_coding, knowledge_cases, styles
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
    style: str = styles.DEFAULT


def record_rng(seed: int, index: int) -> random.Random:
    return random.Random(f"medreview-synth:{seed}:record:{index}")


def build_record(slot: Slot, cat, seed: int, style: str | None = None) -> BuiltRecord:
    rng = record_rng(seed, slot.index)
    builder = build_plan(slot, cat, rng)
    builder.drg_rng = drg_coding.rng_of(seed, slot.index)
    drg_coding.recode(builder.plan)
    violations = inject(builder, slot.violations)
    knowledge_cases.annotate(builder, violations)
    violations = violations + knowledge_cases.inject(builder, slot.knowledge)
    drg_coding.recode(builder.plan)   # the diagnoses the knowledge cases add are 首页 codes too
    plan = builder.plan
    if not violations:
        drg_coding.trap(builder, builder.drg_rng)
    plan.finalize()
    plan.drg = drg_coding.truth(plan, slot)
    for v in violations:
        if v.type == "upcoding":
            v.amount = plan.drg["amount"]
    record = write_record(plan, cat, rng)
    st = styles.get(style)
    # the style's own RNG (corpus passages): the plan and the labels do not depend on the style
    record = styles.apply(record, st, hospital=slot.hospital.name, code=plan.main_dx[1],
                          rng=random.Random(f"medreview-synth:{seed}:style:{slot.index}"))
    layout = paginate(record)
    evidence = []
    for v in violations:
        items = []
        for doc_type, obj in v.evidence:
            text = st.evidence(obj, doc_type) if isinstance(obj, str) else record.line_of[id(obj)]
            items.append({"document": doc_type, "page": find_page(layout, doc_type, text), "text": text})
        evidence.append(items)
    return BuiltRecord(slot, plan, violations, layout, evidence, st.id)
