"""The rule checks, one module per family: ``timeline``, ``charges``, ``clinical`` and ``national``
(the 两库 knowledge points, read from ``kb.packs``) and ``drg`` (the record's DRG grouping,
``pipeline/rules/drg_assess.py``) judge one record (``fn(view, params, kb) ->
list[Flag]``), ``cross_record`` judges all stays together (``fn(stays, params, kb)``). Each
module's ``CHECKS`` maps check names to functions; the catalogue says which rule runs which check
with which parameters, so a new rule of an existing kind is a catalogue entry, not code.
"""
from __future__ import annotations

from pipeline.rules.checks import charges, clinical, cross_record, drg, national, timeline

FAMILIES = {"cross_record": cross_record.CHECKS, "timeline": timeline.CHECKS, "charges": charges.CHECKS,
            "clinical": clinical.CHECKS, "national": national.CHECKS, "drg": drg.CHECKS}
PER_RECORD = ("timeline", "charges", "clinical", "national", "drg")


def known_checks() -> dict[str, set[str]]:
    """family → the names of its checks (what a catalogue entry may name)."""
    return {family: set(checks) for family, checks in FAMILIES.items()}
