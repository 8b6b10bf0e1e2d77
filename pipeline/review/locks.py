"""Case locks: one reviewer works on a record at a time.

``case_locks`` holds at most one live lock per record, taken and checked inside a write
transaction, so two reviewers never get the same case; a lock expires after ``LOCK_TTL_S`` and
each action refreshes it. (The web API calls taking a case "claim"; it is this lock.)"""
from __future__ import annotations

import datetime as _dt

from pipeline.clock import iso, utc
from pipeline.review.errors import LockConflict, NotFound
from pipeline.store import transaction

LOCK_TTL_S = 15 * 60


def live_locks(db, at: _dt.datetime | None = None) -> dict[int, dict]:
    """record id → its live lock row."""
    return {r["record_id"]: r for r in db.query("SELECT * FROM case_locks WHERE expires_at > ?", [iso(utc(at))])}


def lock(db, record_id: int, user: str, *, ttl: int = LOCK_TTL_S, at: _dt.datetime | None = None) -> dict:
    """Take (or refresh) the lock on a record; LockConflict if someone else holds a live one."""
    now = utc(at)
    with transaction(db) as conn:
        lock_existing(conn, record_id, user, now, ttl)
    return {"record_id": record_id, "user": user, "expires_at": iso(now + _dt.timedelta(seconds=ttl))}


def lock_existing(conn, record_id: int, user: str, now: _dt.datetime, ttl: int) -> None:
    """Lock a record that must exist (NotFound otherwise), inside the caller's transaction."""
    if conn.execute("SELECT 1 FROM records WHERE id = ?", (record_id,)).fetchone() is None:
        raise NotFound(f"病例不存在: {record_id}")
    take_lock(conn, record_id, user, now, ttl)


def take_lock(conn, record_id: int, user: str, now: _dt.datetime, ttl: int) -> None:
    """Lock ``record_id`` for ``user`` inside the caller's transaction; LockConflict if another
    reviewer holds a live lock on it."""
    row = conn.execute("SELECT user, expires_at FROM case_locks WHERE record_id = ?", (record_id,)).fetchone()
    if row and row[0] != user and row[1] > iso(now):
        raise LockConflict(f"该病例正由 {row[0]} 审核中（至 {row[1]}）")
    # One case at a time per reviewer: taking a new case frees the previous one.
    conn.execute("DELETE FROM case_locks WHERE user = ? AND record_id != ?", (user, record_id))
    conn.execute(
        "INSERT OR REPLACE INTO case_locks (record_id, user, locked_at, expires_at) VALUES (?, ?, ?, ?)",
        (record_id, user, iso(now), iso(now + _dt.timedelta(seconds=ttl))),
    )


def release(db, record_id: int, user: str) -> None:
    with transaction(db) as conn:
        conn.execute("DELETE FROM case_locks WHERE record_id = ? AND user = ?", (record_id, user))


def lock_holder(db, record_id: int, at: _dt.datetime | None = None) -> str | None:
    row = db.execute(
        "SELECT user FROM case_locks WHERE record_id = ? AND expires_at > ?", (record_id, iso(utc(at)))
    ).fetchone()
    return row[0] if row else None
