"""What re-scoring a batch with a new model changed: scores of two model versions side by side
(both stay in ``scores``, keyed by record and version) and how well each ranks the records the
reviewers decided (AUC with 'has a confirmed finding' as the label)."""
from __future__ import annotations

from collections import defaultdict

from sklearn.metrics import roc_auc_score

from pipeline import review


def _scores(db, version: str) -> dict[int, float]:
    # Scores may name a version by its registry id (kind@version) or by the bare version.
    bare = version.split("@", 1)[-1]
    return {r[0]: r[1] for r in db.execute(
        "SELECT record_id, probability FROM scores WHERE model_version IN (?, ?) OR model_version LIKE ?",
        (version, bare, f"%@{bare}"))}


def reviewed_labels(db) -> dict[int, int]:
    """Record -> 1 if any flag is confirmed, 0 if every decided flag is rejected (pending excluded)."""
    flags = list(db.query("SELECT id, record_id, source FROM flags"))
    states = review.derive(review.load_events(db), flags)
    by_record: dict[int, list[str]] = defaultdict(list)
    for f in flags:
        st = states[f["id"]].state
        if st != "withdrawn":
            by_record[f["record_id"]].append(st)
    out = {}
    for rid, sts in by_record.items():
        if "confirmed" in sts:
            out[rid] = 1
        elif "pending" not in sts:
            out[rid] = 0
    return out


def _auc(scores: dict[int, float], labels: dict[int, int]) -> tuple[float | None, int]:
    ids = [r for r in labels if r in scores]
    ys = [labels[r] for r in ids]
    if len(set(ys)) < 2:
        return None, len(ids)
    return round(float(roc_auc_score(ys, [scores[r] for r in ids])), 4), len(ids)


def score_changes(db, old: str, new: str, *, threshold: float = 0.5, top: int = 10) -> dict:
    a, b = _scores(db, old), _scores(db, new)
    both = sorted(set(a) & set(b))
    deltas = sorted(((b[r] - a[r], r) for r in both), key=lambda x: -abs(x[0]))
    labels = reviewed_labels(db)
    auc_a, n_a = _auc(a, labels)
    auc_b, n_b = _auc(b, labels)
    return {
        "old": old, "new": new, "scored_old": len(a), "scored_new": len(b), "scored_both": len(both),
        "mean_abs_change": round(sum(abs(d) for d, _ in deltas) / len(deltas), 4) if deltas else None,
        "crossed_up": sum(a[r] < threshold <= b[r] for r in both),
        "crossed_down": sum(b[r] < threshold <= a[r] for r in both),
        "largest": [{"record_id": r, "old": round(a[r], 4), "new": round(b[r], 4), "delta": round(d, 4)}
                    for d, r in deltas[:top]],
        "reviewed_auc": {"old": auc_a, "new": auc_b, "n_old": n_a, "n_new": n_b},
    }
