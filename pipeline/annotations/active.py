"""Active learning: the review queue with the cases the classifier is least sure about first
(the ordering itself lives in ``pipeline.review``, where the UI's queue uses it too)."""
from __future__ import annotations

from pipeline import review


def uncertain_queue(db, flt: review.QueueFilter | None = None) -> dict:
    """``review.queue`` in least-certain-first order (pending cases by default)."""
    flt = flt or review.QueueFilter(status="pending")
    return review.queue(db, review.QueueFilter(**{**flt.__dict__, "order": "uncertain"}))
