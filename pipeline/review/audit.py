"""The audit trail of what admins and leads do to accounts, sessions, case locks and exports
(``audit_log``); login attempts have their own table (``login_audit``). Details are ids and
settings, never patient data."""
from __future__ import annotations

import datetime as _dt
import getpass

from pipeline.clock import iso, utc
from pipeline.store import dumps, transaction
from pipeline.review.state import parse_json


def record(conn, actor: str, action: str, target: str | int | None = None, *, detail: dict | None = None,
           ip: str | None = None, at: _dt.datetime | None = None) -> None:
    """One audit row, inside the caller's transaction (the change and its record commit together)."""
    conn.execute(
        "INSERT INTO audit_log (at, actor, action, target, detail, ip) VALUES (?, ?, ?, ?, ?, ?)",
        (iso(utc(at)), actor[:80], action, None if target is None else str(target)[:200],
         dumps(detail) if detail else None, ip),
    )


def record_now(db, actor: str, action: str, target: str | int | None = None, *, detail: dict | None = None) -> None:
    """One audit row in its own transaction (a command that changes nothing else)."""
    with transaction(db) as conn:
        record(conn, actor, action, target, detail=detail)


def cli_actor() -> str:
    """Who acts from the command line: the operating-system user."""
    try:
        return "cli:" + getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def entries(db, limit: int = 200) -> list[dict]:
    rows = list(db.query("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?", [limit]))
    for r in rows:
        r["detail"] = parse_json(r["detail"], None)
    return rows
