"""Engine kinds and the per-record evaluation loop.

Each engine module exposes ``CHECKS = {check_name: fn}``; a per-record check is
``fn(view, params, kb) -> list[Flag]``; cross-record checks take a list of stays instead (see
``cross_record``). The catalogue says which rule uses which check with which parameters, so a new
rule of an existing kind is a catalogue entry, not code.
"""
from __future__ import annotations

import logging

from pipeline.rules.flags import Flag

log = logging.getLogger(__name__)
PER_RECORD = ("timeline", "charges", "clinical")


def _modules():
    from pipeline.rules.engines import charges, clinical, cross_record, timeline

    return {"cross_record": cross_record, "timeline": timeline, "charges": charges, "clinical": clinical}


def known_checks() -> dict[str, set[str]]:
    return {name: set(mod.CHECKS) for name, mod in _modules().items()}


def check_fn(engine: str, check: str):
    return _modules()[engine].CHECKS[check]


def stamp(flag: Flag, rule, version: str) -> Flag:
    flag.rule_name, flag.category, flag.severity = rule.name, rule.category, rule.severity
    flag.violation_type, flag.score, flag.catalogue_version = rule.violation_type, rule.score, version
    return flag


def evaluate(view, catalogue, kb) -> list[Flag]:
    """All enabled per-record rules over one record view."""
    out: list[Flag] = []
    for rule in catalogue.rules:
        if not rule.enabled or rule.engine not in PER_RECORD:
            continue
        for flag in check_fn(rule.engine, rule.check)(view, rule.params, kb):
            flag.rule_id = rule.id
            out.append(stamp(flag, rule, catalogue.version))
    return out
