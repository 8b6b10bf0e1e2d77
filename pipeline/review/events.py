"""Reading review events and the rows a decision refers to."""
from __future__ import annotations

from typing import Iterable

from pipeline.review.errors import NotFound
from pipeline.review.state import parse_json
from pipeline.review.values import check_id


def load_events(db, record_ids: Iterable[int] | None = None) -> list[dict]:
    sql = "SELECT * FROM reviews"
    params: list = []
    if record_ids is not None:
        ids = list(record_ids)
        if not ids:
            return []
        sql += f" WHERE record_id IN ({','.join('?' for _ in ids)})"
        params = ids
    rows = list(db.query(sql + " ORDER BY id", params))
    for r in rows:
        r["payload"] = parse_json(r["payload"], {})
    return rows


def record_events(conn, record_id: int) -> list[dict]:
    """A record's events in order, read on ``conn`` (inside the caller's transaction)."""
    cur = conn.execute("SELECT * FROM reviews WHERE record_id = ? ORDER BY id", (record_id,))
    cols = [d[0] for d in cur.description]
    rows = [dict(zip(cols, r)) for r in cur.fetchall()]
    for r in rows:
        r["payload"] = parse_json(r["payload"], {})
    return rows


def flag_row(conn, flag_id: int) -> dict:
    check_id(flag_id, "疑点编号")
    cur = conn.execute("SELECT * FROM flags WHERE id = ?", (flag_id,))
    row = cur.fetchone()
    if row is None:
        raise NotFound(f"疑点不存在: {flag_id}")
    return dict(zip([d[0] for d in cur.description], row))


def score_version(conn, record_id: int) -> str | None:
    """The model version of the record's newest score: what the reviewer was shown."""
    row = conn.execute(
        "SELECT s.model_version FROM scores s LEFT JOIN model_versions m ON m.id = s.model_version"
        " WHERE s.record_id = ? ORDER BY COALESCE(m.created_at, s.created_at) DESC, s.id DESC LIMIT 1",
        (record_id,),
    ).fetchone()
    return row[0] if row else None

