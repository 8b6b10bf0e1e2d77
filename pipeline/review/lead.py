"""The lead auditor's checks: agreement between reviewers on the flags two or more decided, and
a stable sample of single-reviewer decisions for a second review."""
from __future__ import annotations

import hashlib

from pipeline.review.events import load_events
from pipeline.review.state import derive


def agreement(db) -> dict:
    """Pairwise agreement between reviewers on flags that two or more of them decided."""
    flags = list(db.query("SELECT id, record_id, rule_id, source FROM flags"))
    states = derive(load_events(db), flags)
    pairs: dict[tuple[str, str], list[int]] = {}
    disagreements = []
    agree = total = 0
    for f in flags:
        by = states[f["id"]].by_user
        users = sorted(by)
        for i in range(len(users)):
            for j in range(i + 1, len(users)):
                same = by[users[i]] == by[users[j]]
                p = pairs.setdefault((users[i], users[j]), [0, 0])
                p[0] += same
                p[1] += 1
                agree += same
                total += 1
        if len(set(by.values())) > 1:
            disagreements.append({"flag_id": f["id"], "record_id": f["record_id"], "rule_id": f["rule_id"],
                                  "by_user": by, "state": states[f["id"]].state})
    return {
        "rate": round(agree / total, 4) if total else None,
        "pairs_compared": total,
        "by_pair": [{"a": a, "b": b, "agree": v[0], "n": v[1], "rate": round(v[0] / v[1], 4)}
                    for (a, b), v in sorted(pairs.items())],
        "disagreements": disagreements,
    }


def second_review_sample(db, *, rate: float = 0.1, seed: str = "medreview") -> list[dict]:
    """Flags decided by exactly one reviewer, chosen by a stable hash so the sample never shifts."""
    flags = list(db.query("SELECT id, record_id, rule_id, source FROM flags"))
    states = derive(load_events(db), flags)
    out = []
    for f in flags:
        st = states[f["id"]]
        if len(st.by_user) != 1 or st.state == "withdrawn":
            continue
        h = int(hashlib.sha256(f"{seed}:{f['id']}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        if h < rate:
            out.append({"flag_id": f["id"], "record_id": f["record_id"], "rule_id": f["rule_id"],
                        "state": st.state, "by": st.by})
    return out

