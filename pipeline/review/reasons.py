"""Data the review forms offer: reject reason codes (``data/reject_reasons.yaml``) and the legal
basis of each rule (from the rule catalogue; flags do not carry it)."""
from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import yaml

from pipeline.review.errors import ReviewError

log = logging.getLogger("medreview.review")
REJECT_REASONS_PATH = Path(__file__).resolve().parent.parent / "data" / "reject_reasons.yaml"


@lru_cache(maxsize=1)
def reject_reasons() -> tuple[dict, ...]:
    data = yaml.safe_load(REJECT_REASONS_PATH.read_text(encoding="utf-8"))
    reasons = data.get("reasons") if isinstance(data, dict) else None
    if not reasons:
        raise ReviewError(f"{REJECT_REASONS_PATH}: 'reasons' list missing")
    for i, r in enumerate(reasons):
        if not isinstance(r, dict) or not r.get("code") or not r.get("label"):
            raise ReviewError(f"{REJECT_REASONS_PATH}: reason #{i + 1} needs code and label")
    return tuple(reasons)


def reject_reason(code: str | None) -> dict:
    for r in reject_reasons():
        if r["code"] == code:
            return r
    raise ReviewError(f"驳回原因代码无效: {code!r}")


@lru_cache(maxsize=1)
def rule_catalogue():
    """The packaged rule catalogue (``pipeline.rules``), or None while it cannot be loaded."""
    try:
        from pipeline.rules import ruleset

        return ruleset.load_catalogue()
    except (ImportError, ValueError, OSError) as exc:
        log.warning("rule catalogue unavailable, legal basis not shown: %s", exc)
        return None


def legal_basis(rule_id: str) -> str | None:
    """The catalogue's legal basis text for a rule, or None when the catalogue lacks it."""
    cat = rule_catalogue()
    if cat is None:
        return None
    try:
        return cat.get(rule_id).legal_basis
    except KeyError:
        return None

