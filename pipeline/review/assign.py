"""What a lead gives to whom: a hospital or a case to a reviewer, and the blind second review of a
sampled flag (the second reviewer does not see the first decision). Append-only rows in
``assignments`` (m0160); the newest per (kind, target) is in force and ``user`` NULL ends it.
Every assignment is in the audit trail too."""
from __future__ import annotations

import datetime as _dt

from pipeline.clock import iso, utc
from pipeline.review import audit
from pipeline.review.errors import NotFound, ReviewError
from pipeline.store import insert_one, transaction

KINDS = ("hospital", "record", "second")
KIND_LABELS = {"hospital": "医院", "record": "病例", "second": "二审"}


def assign(db, by: str, kind: str, target, user: str | None, *, ip: str | None = None,
           at: _dt.datetime | None = None) -> dict:
    """Give ``target`` (a hospital id, record id or flag id) to ``user`` (None: take it back)."""
    if kind not in KINDS:
        raise ReviewError(f"分配类型无效: {str(kind)[:20]!r}")
    target = str(target).strip()
    if not target:
        raise ReviewError("分配对象不能为空")
    now = utc(at)
    with transaction(db) as conn:
        if user is not None:
            row = conn.execute("SELECT disabled FROM users WHERE name = ?", (user,)).fetchone()
            if row is None or row[0]:
                raise NotFound(f"用户不存在或已停用: {user}")
        table, col = {"hospital": ("records", "hospital_id"), "record": ("records", "id"),
                      "second": ("flags", "id")}[kind]
        if conn.execute(f"SELECT 1 FROM {table} WHERE {col} = ? LIMIT 1", (target,)).fetchone() is None:
            raise NotFound(f"{KIND_LABELS[kind]}不存在: {target}")
        if kind == "second" and user is not None:
            first = conn.execute("SELECT DISTINCT user FROM reviews WHERE flag_id = ? AND action IN"
                                 " ('confirm', 'reject', 'change')", (target,)).fetchall()
            if [u for (u,) in first] == [user]:
                raise ReviewError(f"{user} 是该疑点的一审人，不能担任二审")
        row = {"kind": kind, "target": target, "user": user, "by": by, "at": iso(now)}
        row["id"] = insert_one(db, "assignments", row)
        audit.record(conn, by, f"assign-{kind}", target, detail={"user": user}, ip=ip, at=now)
    return row


def current(db, kind: str | None = None) -> dict[tuple[str, str], str]:
    """(kind, target) -> user for every assignment in force."""
    out: dict[tuple[str, str], str | None] = {}
    sql, args = "SELECT kind, target, user FROM assignments", []
    if kind:
        sql, args = sql + " WHERE kind = ?", [kind]
    for k, t, u in db.execute(sql + " ORDER BY id", args):
        out[(k, t)] = u
    return {k: u for k, u in out.items() if u}


def case_owner(assigned: dict, record_id: int, hospital_id) -> str | None:
    """Who a case is given to: its own assignment, else its hospital's."""
    return assigned.get(("record", str(record_id))) or assigned.get(("hospital", str(hospital_id)))


def blind_flags(db, user: str, flag_ids) -> set[int]:
    """The flags among ``flag_ids`` that ``user`` reviews blind (assigned as second reviewer)."""
    wanted = {str(f) for f in flag_ids}
    return {int(t) for (k, t), u in current(db, "second").items() if u == user and t in wanted}


def second_tasks(db, user: str) -> list[dict]:
    """The flags given to ``user`` for a blind second review that they have not decided yet."""
    ids = [int(t) for (k, t), u in current(db, "second").items() if u == user]
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    decided = {r[0] for r in db.execute(
        f"SELECT DISTINCT flag_id FROM reviews WHERE user = ? AND flag_id IN ({marks})"
        " AND action IN ('confirm', 'reject', 'change')", [user, *ids])}
    return [dict(r) for r in db.query(
        "SELECT f.id AS flag_id, f.record_id, f.rule_id, r.hospital_id, h.name AS hospital_name, r.admission_no"
        f" FROM flags f JOIN records r ON r.id = f.record_id LEFT JOIN hospitals h ON h.id = r.hospital_id"
        f" WHERE f.id IN ({marks}) ORDER BY f.record_id, f.id", ids) if r["flag_id"] not in decided]
