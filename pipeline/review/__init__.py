"""Review: reviewers' decisions on flags and corrections of entities, and what they add up to.

Modules, one concern each: ``state`` (the pure core: a flag's state derived from its events),
``events`` (reading them), ``locks`` (one reviewer per case), ``decisions`` (confirm, reject,
change, undo, add), ``queue`` (flagged records by risk), ``case`` (the case view as data),
``entities`` (entity corrections), ``lead`` (progress, agreement, second review), ``export``
(confirmed findings), ``money`` (amounts counted once), ``appeals`` (hospitals' appeals),
``assign`` (leads' assignments), ``reasons`` (reject reasons, the rules a reviewer may name,
legal basis and policy text), ``values`` (what input must be to be
stored, and reading stored values defensively), ``audit`` (the trail of admins' and leads' actions). The names below are the public surface the
web app, the report and the annotations export use.
"""
from pipeline.review import appeals, audit
from pipeline.review.case import case_view, next_flag_id
from pipeline.review.decisions import add_flag, decide, undo_last
from pipeline.review.errors import LockConflict, NotFound, ReviewError
from pipeline.review.events import load_events
from pipeline.review.export import EXPORT_COLUMNS, confirmed_findings, decided_states, findings_csv
from pipeline.review.lead import agreement, second_review_sample
from pipeline.review.locks import LOCK_TTL_S, force_release, live_locks, lock, lock_holder, reassign, release
from pipeline.review.queue import ORDERS, QueueFilter, least_certain_first, lock_next, margin, queue
from pipeline.review.reasons import (check_rule, legal_basis, policy_text, reject_reason, reject_reasons,
                                     rule_catalogue, rule_choices, rule_info, rule_name)
from pipeline.review.state import (DECISIONS, STATUSES, FlagState, derive, effective_amount, effective_events,
                                   record_status)

__all__ = [
    "appeals", "audit",
    "DECISIONS", "EXPORT_COLUMNS", "check_rule", "decided_states", "policy_text", "rule_choices", "rule_info",
    "rule_name", "LOCK_TTL_S", "ORDERS", "STATUSES", "FlagState", "LockConflict", "NotFound",
    "QueueFilter", "ReviewError", "add_flag", "agreement", "case_view", "confirmed_findings", "decide", "derive",
    "effective_amount", "effective_events", "findings_csv", "force_release", "least_certain_first", "legal_basis", "live_locks",
    "load_events", "lock", "lock_holder", "lock_next", "margin", "next_flag_id", "queue", "reassign",
    "record_status", "reject_reason", "reject_reasons", "release", "rule_catalogue", "second_review_sample", "undo_last",
]
