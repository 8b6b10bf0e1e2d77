"""The review queue: flagged records by risk (or least certain first), with counts (of flags and of
cases), coverage and the filter choices; ``lock_next`` takes the next pending case nobody else
holds, the cases a lead gave the reviewer first and none given to someone else.

A row's amount is what its flags still at stake add up to (pending and confirmed, each charge
line once, never more than the admission billed: ``money``); rejected flags add nothing."""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

import logging

from pipeline.clock import utc
from pipeline.review import assign, money
from pipeline.review.errors import LockConflict, ReviewError
from pipeline.review.events import load_events
from pipeline.review.locks import LOCK_TTL_S, live_locks, take_lock
from pipeline.review.reasons import rule_name
from pipeline.review.state import STATUSES, derive
from pipeline.review.values import stored_number
from pipeline.store import transaction

log = logging.getLogger("medreview.review")


@dataclass
class QueueFilter:
    hospital: str | None = None
    rule: str | None = None
    status: str | None = None
    reviewer: str | None = None
    date_from: str | None = None        # discharge date, ISO prefix compare
    date_to: str | None = None
    order: str | None = None            # None/"risk": riskiest first; "uncertain": active learning

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v}


ORDERS = (None, "risk", "uncertain")


def margin(probability: float | None) -> float:
    """Distance from the decision boundary; unscored records count as certain (sorted last)."""
    return abs(probability - 0.5) if probability is not None else 1.0


def least_certain_first(items: list[dict]) -> list[dict]:
    """Active learning: the cases the classifier is least sure about first — a decision there
    teaches the next model the most. Stable, so equally uncertain cases keep the risk order."""
    return sorted(items, key=lambda i: margin(i.get("probability")))


def _latest_scores(db) -> dict[int, dict]:
    """Newest score per record (newest model version wins)."""
    out: dict[int, dict] = {}
    for r in db.query(
        "SELECT s.record_id, s.probability, s.model_version, s.explanation FROM scores s"
        " LEFT JOIN model_versions m ON m.id = s.model_version"
        " ORDER BY s.record_id, COALESCE(m.created_at, s.created_at) DESC, s.id DESC"
    ):
        out.setdefault(r["record_id"], r)
    return out


def queue(db, flt: QueueFilter | None = None, *, at: _dt.datetime | None = None) -> dict:
    """Flagged records by risk, with counts and the batch's coverage figure."""
    flt = flt or QueueFilter()
    if flt.status and flt.status not in STATUSES:
        raise ReviewError(f"状态无效: {flt.status!r}")
    if flt.order not in ORDERS:
        raise ReviewError(f"排序无效: {flt.order!r}")
    flags = list(db.query("SELECT id, record_id, rule_id, rule_name, severity, score, amount, charge_ids, source"
                          " FROM flags"))
    by_record: dict[int, list[dict]] = {}
    for f in flags:
        by_record.setdefault(f["record_id"], []).append(f)
    events = load_events(db)
    states = derive(events, flags)
    counted = money.counted(db, flags, states, states_counted=("pending", "confirmed"))
    assigned = assign.current(db)
    reviewers_of: dict[int, set] = {}
    for e in events:
        reviewers_of.setdefault(e["record_id"], set()).add(e["user"])
    scores = _latest_scores(db)
    locks = live_locks(db, at)
    records = {
        r["id"]: r
        for r in db.query(
            "SELECT r.id, r.hospital_id, h.name AS hospital_name, r.admission_no, r.sex, r.age,"
            " r.department, r.admit_at, r.discharge_at FROM records r"
            " LEFT JOIN hospitals h ON h.id = r.hospital_id"
        )
    }
    items, counts = [], {s: 0 for s in STATUSES}
    flag_counts = {s: 0 for s in STATUSES}
    for rid, rflags in by_record.items():
        rec = records.get(rid)
        if rec is None:
            continue
        try:
            item = _item(rec, rflags, states, counted, scores.get(rid), locks.get(rid), reviewers_of.get(rid, set()),
                         flt, counts, flag_counts, assign.case_owner(assigned, rid, rec["hospital_id"]))
        except Exception as exc:   # one unreadable record must not take the queue down for everyone
            log.warning("queue: record %s left out: %s", rid, type(exc).__name__)
            continue
        if item is not None:
            items.append(item)
    # Risk order: classifier probability, then strongest flag, then severity; id breaks ties.
    items.sort(
        key=lambda i: (
            -(i["probability"] if i["probability"] is not None else -1),
            -i["_max_flag_score"],
            i["max_severity"] != "明确违规",
            i["id"],
        )
    )
    if flt.order == "uncertain":
        items = least_certain_first(items)
    for i in items:
        del i["_max_flag_score"]
    return _summary(db, items, counts, flag_counts, flt)


def _item(rec: dict, rflags: list[dict], states: dict, counted: dict, sc: dict | None, held: dict | None, reviewers,
          flt: QueueFilter, counts: dict, flag_counts: dict, owner: str | None) -> dict | None:
    """The queue row of one record (None when it has no active flag or is filtered out); its
    status and its flags' states are counted whether filtered out or not."""
    by_state = {"pending": 0, "confirmed": 0, "rejected": 0}
    active, names, amount, hard, top = [], {}, 0.0, False, 0.0
    for f in rflags:   # one pass: this runs for every flagged record of the batch on each queue view
        st = states[f["id"]].state
        if st == "withdrawn":
            continue
        active.append(f)
        by_state[st] = by_state.get(st, 0) + 1
        names.setdefault(f["rule_id"], f["rule_name"])
        c = counted.get(f["id"])
        amount += c.counted if c else 0.0
        hard = hard or f["severity"] == "明确违规"
        top = max(top, stored_number(f["score"]) or 0)
    if not active:
        return None
    status = "pending" if by_state["pending"] else "confirmed" if by_state["confirmed"] else "rejected"
    rules = sorted(str(r) for r in names)
    item = {
        **rec,
        "probability": stored_number(sc["probability"]) if sc else None,
        "model_version": sc["model_version"] if sc else None,
        "n_flags": len(active),
        "n_pending": by_state["pending"], "n_confirmed": by_state["confirmed"], "n_rejected": by_state["rejected"],
        "max_severity": "明确违规" if hard else "可疑",
        "amount": round(amount, 2),
        "rules": rules,
        "rule_names": [rule_name(r, names.get(r)) or r for r in rules],
        "status": status,
        "claimed_by": held["user"] if held else None,
        "assigned_to": owner,
        "reviewers": sorted(reviewers),
        "_max_flag_score": top,
    }
    counts[status] += 1
    for k in flag_counts:
        flag_counts[k] += by_state[k]
    if flt.hospital and rec["hospital_id"] != flt.hospital:
        return None
    if flt.rule and not any(f["rule_id"] == flt.rule for f in active):
        return None
    if flt.status and status != flt.status:
        return None
    if flt.reviewer and flt.reviewer not in reviewers:
        return None
    day = str(rec["discharge_at"] or rec["admit_at"] or "")[:10]
    if flt.date_from and (not day or day < flt.date_from):
        return None
    if flt.date_to and (not day or day > flt.date_to):
        return None
    return item


def _summary(db, items: list[dict], counts: dict, flag_counts: dict, flt: QueueFilter) -> dict:
    """The queue answer: its rows with the counts (cases by status, flags by state), the batch's
    coverage and the filter choices (hospitals and rules with their names)."""
    total = db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    scored = db.execute(
        "SELECT COUNT(*) FROM records WHERE stage = 'scored' OR id IN (SELECT record_id FROM scores)"
    ).fetchone()[0]
    hospitals = [{"id": r[0], "name": r[1] or r[0]} for r in db.execute(
        "SELECT DISTINCT r.hospital_id, h.name FROM records r LEFT JOIN hospitals h ON h.id = r.hospital_id"
        " WHERE r.hospital_id IS NOT NULL ORDER BY 1")]
    rules = sorted(({"id": r[0], "name": rule_name(r[0], r[1]) or r[0]} for r in db.execute(
        "SELECT rule_id, MAX(rule_name) FROM flags GROUP BY rule_id")), key=lambda r: (r["name"], r["id"]))
    reviewers = [r[0] for r in db.execute("SELECT DISTINCT user FROM reviews ORDER BY 1")]
    return {
        "items": items,
        "counts": counts,
        "flag_counts": flag_counts,
        "coverage": {
            "records": total,
            "scored": scored,
            "flagged": sum(counts.values()),
            "rate": round(scored / total, 4) if total else None,
        },
        "filter": flt.as_dict(),
        "choices": {"hospitals": hospitals, "rules": rules, "reviewers": reviewers, "statuses": list(STATUSES)},
    }


def lock_next(
    db, user: str, flt: QueueFilter | None = None, *, after: int | None = None,
    ttl: int = LOCK_TTL_S, at: _dt.datetime | None = None,
) -> int | None:
    """Lock the first pending case in queue order (riskiest, or least certain) that nobody else
    holds: first those a lead gave ``user`` (the case or its hospital), then those given to nobody;
    cases given to another reviewer are theirs. ``after`` starts behind that case."""
    flt = QueueFilter(**{**(flt or QueueFilter()).__dict__, "status": "pending"})
    items = queue(db, flt, at=at)["items"]
    ids = [i["id"] for i in items if i["assigned_to"] == user] + [i["id"] for i in items if i["assigned_to"] is None]
    if after in ids:
        k = ids.index(after)
        ids = ids[k + 1:] + ids[:k]
    now = utc(at)
    with transaction(db) as conn:
        for rid in ids:
            try:
                take_lock(conn, rid, user, now, ttl)
            except LockConflict:
                continue
            return rid
    return None

