"""A simulated reviewer for demos and benchmarks: the generator's ground truth decides.

Each system flag is confirmed when the record truly has the flag's violation type (per the
rule catalogue) and rejected otherwise, through ``pipeline.review.decide`` — the same
append-only events a human reviewer leaves in the UI.
"""
from __future__ import annotations

from pipeline import review

REJECT_CODE = "rule_not_applicable"


def simulate_reviewer(db, truth: dict[int, set[str]], rule_types: dict[str, str], n: int, *,
                      user: str = "simulated", records: list[int] | None = None) -> int:
    """Decide up to ``n`` pending system flags in review-queue order (riskiest first); returns how many.

    ``truth``: record id -> violation types it really has; ``rule_types``: rule id -> violation
    type; ``records``: limit to these records (default: every record in ``truth``).
    """
    pool = set(truth) if records is None else {r for r in records if r in truth}
    order = [i["id"] for i in review.queue(db)["items"] if i["id"] in pool]   # the reviewers' queue order
    flags = list(db.query("SELECT id, record_id, rule_id, source FROM flags WHERE source = 'system' ORDER BY id"))
    states = review.derive(review.load_events(db), flags)
    by_record: dict[int, list[dict]] = {}
    for f in flags:
        if states[f["id"]].state == "pending":
            by_record.setdefault(f["record_id"], []).append(f)
    made = 0
    for rid in order:
        for f in by_record.get(rid, []):
            if made >= n:
                return made
            if rule_types.get(f["rule_id"]) in truth[rid]:
                review.decide(db, user, f["id"], "confirm")
            else:
                review.decide(db, user, f["id"], "reject", reason_code=REJECT_CODE)
            made += 1
    return made
