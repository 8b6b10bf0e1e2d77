"""Case locks: one reviewer works on a record at a time.

``case_locks`` holds at most one live lock per record, taken and checked inside a write
transaction, so two reviewers never get the same case; a lock expires after ``LOCK_TTL_S`` and
each action refreshes it. A reviewer releases only their own lock; a lead may release anyone's or
hand the case to another reviewer, and that is audited. (The web API calls taking a case
"claim"; it is this lock.)"""
from __future__ import annotations

import datetime as _dt

from pipeline.clock import iso, utc
from pipeline.review import audit
from pipeline.review.errors import LockConflict, NotFound
from pipeline.review.values import check_id
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
    check_id(record_id, "病例编号")
    if conn.execute("SELECT 1 FROM records WHERE id = ?", (record_id,)).fetchone() is None:
        raise NotFound(f"病例不存在: {record_id}")
    take_lock(conn, record_id, user, now, ttl)


def take_lock(conn, record_id: int, user: str, now: _dt.datetime, ttl: int) -> None:
    """Lock ``record_id`` for ``user`` inside the caller's transaction; LockConflict if another
    reviewer holds a live lock on it."""
    check_id(record_id, "病例编号")
    row = conn.execute("SELECT user, expires_at FROM case_locks WHERE record_id = ?", (record_id,)).fetchone()
    if row and row[0] != user and row[1] > iso(now):
        raise LockConflict(f"该病例正由 {row[0]} 审核中（至 {row[1]}）")
    # One case at a time per reviewer: taking a new case frees the previous one.
    conn.execute("DELETE FROM case_locks WHERE user = ? AND record_id != ?", (user, record_id))
    conn.execute(
        "INSERT OR REPLACE INTO case_locks (record_id, user, locked_at, expires_at) VALUES (?, ?, ?, ?)",
        (record_id, user, iso(now), iso(now + _dt.timedelta(seconds=ttl))),
    )


def release(db, record_id: int, user: str, *, at: _dt.datetime | None = None) -> bool:
    """Release the user's own lock (True if there was one). Another reviewer's live lock is not
    theirs to release: LockConflict (a lead uses ``force_release``)."""
    check_id(record_id, "病例编号")
    now = utc(at)
    with transaction(db) as conn:
        row = conn.execute("SELECT user, expires_at FROM case_locks WHERE record_id = ?", (record_id,)).fetchone()
        if row and row[0] != user and row[1] > iso(now):
            raise LockConflict(f"该病例由 {row[0]} 领取，只有本人或主审可以释放")
        return conn.execute("DELETE FROM case_locks WHERE record_id = ? AND user = ?", (record_id, user)).rowcount > 0


def force_release(db, record_id: int, by: str, *, ip: str | None = None, at: _dt.datetime | None = None) -> str | None:
    """A lead frees a case whoever holds it; returns the previous holder (None when it was free)."""
    check_id(record_id, "病例编号")
    now = utc(at)
    with transaction(db) as conn:
        row = conn.execute("SELECT user FROM case_locks WHERE record_id = ? AND expires_at > ?",
                           (record_id, iso(now))).fetchone()
        conn.execute("DELETE FROM case_locks WHERE record_id = ?", (record_id,))
        if row:
            audit.record(conn, by, "lock-release", record_id, detail={"holder": row[0]}, ip=ip, at=now)
    return row[0] if row else None


def reassign(db, record_id: int, to_user: str, by: str, *, ttl: int = LOCK_TTL_S, ip: str | None = None,
             at: _dt.datetime | None = None) -> dict:
    """A lead hands a case to ``to_user`` (an active account), whoever held it."""
    check_id(record_id, "病例编号")
    now = utc(at)
    with transaction(db) as conn:
        target = conn.execute("SELECT disabled FROM users WHERE name = ?", (to_user,)).fetchone()
        if target is None or target[0]:
            raise NotFound(f"用户不存在或已停用: {to_user}")
        row = conn.execute("SELECT user FROM case_locks WHERE record_id = ? AND expires_at > ?",
                           (record_id, iso(now))).fetchone()
        conn.execute("DELETE FROM case_locks WHERE record_id = ?", (record_id,))
        lock_existing(conn, record_id, to_user, now, ttl)
        audit.record(conn, by, "lock-reassign", record_id, detail={"from": row[0] if row else None, "to": to_user},
                     ip=ip, at=now)
    return {"record_id": record_id, "user": to_user, "previous": row[0] if row else None,
            "expires_at": iso(now + _dt.timedelta(seconds=ttl))}


def release_user(conn, user: str) -> int:
    """Free every lock a user holds (their account was disabled), inside the caller's transaction."""
    return conn.execute("DELETE FROM case_locks WHERE user = ?", (user,)).rowcount


def lock_holder(db, record_id: int, at: _dt.datetime | None = None) -> str | None:
    row = db.execute(
        "SELECT user FROM case_locks WHERE record_id = ? AND expires_at > ?", (record_id, iso(utc(at)))
    ).fetchone()
    return row[0] if row else None
