"""Active learning: order the review queue so the cases the classifier is least sure about
come first — a reviewer's decision there teaches the next model the most."""
from __future__ import annotations

from pipeline import review


def margin(probability: float | None) -> float:
    """Distance from the decision boundary; unscored records count as certain (sorted last)."""
    return abs(probability - 0.5) if probability is not None else 1.0


def least_certain_first(items: list[dict]) -> list[dict]:
    """Stable sort by margin, so equally uncertain cases keep the queue's risk order."""
    return sorted(items, key=lambda i: margin(i.get("probability")))


def uncertain_queue(db, flt: review.QueueFilter | None = None) -> dict:
    """``review.queue`` with its items in least-certain-first order (pending cases by default)."""
    flt = flt or review.QueueFilter(status="pending")
    q = review.queue(db, flt)
    q["items"] = least_certain_first(q["items"])
    return q
