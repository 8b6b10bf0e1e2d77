"""The SQLite record of truth: connection, migrations, and idempotent write helpers.

Every stage reads its inputs from and writes its outputs to this database. Writes are keyed by
natural keys (file sha256, record + page number, ...) so that a re-run changes nothing.
Schema changes are migrations in ``pipeline/migrations/`` (``mNNNN_name.py`` with a
``migrate(db)`` function), applied in order and recorded in ``_migrations``.
"""
from __future__ import annotations

import importlib
import json
import pkgutil
import sqlite3
from pathlib import Path
from typing import Any, Iterable

import sqlite_utils

from pipeline import clock
from pipeline import migrations as _migrations_pkg

# Stages a record moves through, in order. A record's ``stage`` is the last one it completed.
STAGES = ("ingested", "read", "segmented", "extracted", "scored")


class StoreError(RuntimeError):
    """A database problem the user must fix (read-only file, disk full, newer schema)."""


def as_store_error(exc: sqlite3.OperationalError, path) -> StoreError | None:
    """Translate the database errors a user must act on; None for programming errors."""
    msg = str(exc)
    if "readonly" in msg or "read-only" in msg:
        return StoreError(f"{path}: 数据库只读，无法写入 (database is read-only)")
    if "disk" in msg and "full" in msg:
        return StoreError(f"{path}: 磁盘已满 (disk full)")
    if "unable to open" in msg:
        return StoreError(f"{path}: 无法打开数据库 (cannot open database)")
    return None


now = clock.now


def _migration_modules() -> list[tuple[str, Any]]:
    names = sorted(
        m.name for m in pkgutil.iter_modules(_migrations_pkg.__path__) if m.name.startswith("m")
    )
    return [(n, importlib.import_module(f"pipeline.migrations.{n}")) for n in names]


def connect(path: str | Path, *, migrate: bool = True) -> sqlite_utils.Database:
    """Open (and create or upgrade) the database at ``path`` in WAL mode."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 30000")
        db = sqlite_utils.Database(conn)
        if migrate:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if mode != "wal":
                conn.execute("PRAGMA journal_mode = wal")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            apply_migrations(db)
        else:
            conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.OperationalError as exc:
        raise (as_store_error(exc, path) or StoreError(f"{path}: {exc}")) from exc
    return db


def apply_migrations(db: sqlite_utils.Database) -> list[str]:
    """Apply pending migrations; return the names applied now."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = {r[0] for r in db.execute("SELECT name FROM _migrations").fetchall()}
    modules = _migration_modules()
    known = {n for n, _ in modules}
    unknown = done - known
    if unknown:
        raise StoreError(
            "数据库由更新版本的 medreview 创建 (database has migrations this version does not know: "
            + ", ".join(sorted(unknown))
            + ")"
        )
    applied = []
    for name, module in modules:
        if name in done:
            continue
        with db.conn:  # one transaction per migration: all or nothing
            db.conn.execute("BEGIN")
            module.migrate(db)
            db.conn.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, now())
            )
        applied.append(name)
    version = len(modules)
    if db.execute("PRAGMA user_version").fetchone()[0] != version:
        db.execute(f"PRAGMA user_version = {version}")
    return applied


def schema_version(db: sqlite_utils.Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class transaction:
    """``with transaction(db): ...`` — BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error.

    The connection runs in autocommit mode (isolation_level=None), so a stage groups all
    writes for one record or page into one of these: a kill leaves either all or none.
    """

    def __init__(self, db: sqlite_utils.Database):
        self.conn = db.conn

    @property
    def path(self) -> str:  # only needed for error messages
        return next((r[2] for r in self.conn.execute("PRAGMA database_list") if r[1] == "main"), "?")

    def __enter__(self):
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise (as_store_error(exc, self.path) or exc) from exc
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.OperationalError as error:
                self.conn.execute("ROLLBACK")
                raise (as_store_error(error, self.path) or error) from error
            return False
        self.conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.OperationalError):
            translated = as_store_error(exc, self.path)
            if translated:
                raise translated from exc
        return False


# ---------------------------------------------------------------------------------------------
# Record state helpers shared by the stages and the runner.


def set_stage(db: sqlite_utils.Database, record_id: int, stage: str) -> None:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    db.execute(
        "UPDATE records SET stage = ?, status = 'ok', error = NULL, error_stage = NULL,"
        " updated_at = ? WHERE id = ?",
        (stage, now(), record_id),
    )


def fail_record(db: sqlite_utils.Database, record_id: int, stage: str, reason: str) -> None:
    """Mark a record failed at ``stage`` with a reason shown to the user (no patient text)."""
    db.execute(
        "UPDATE records SET status = 'failed', error = ?, error_stage = ?, updated_at = ?"
        " WHERE id = ?",
        (reason[:2000], stage, now(), record_id),
    )


def rewind(db: sqlite_utils.Database, done: str, to: str) -> int:
    """Send records that completed ``done`` back to ``to`` (an earlier stage), so the stages
    after ``to`` run on them again. Returns how many records moved."""
    if STAGES.index(to) >= STAGES.index(done):
        raise ValueError(f"cannot rewind {done!r} to {to!r}")
    with transaction(db):
        return db.execute("UPDATE records SET stage = ?, updated_at = ? WHERE stage = ? AND status = 'ok'",
                          (to, now(), done)).rowcount


def records_ready_for(db: sqlite_utils.Database, stage: str, *, retry_failed: bool = False) -> list[dict]:
    """Records whose last completed stage is the one before ``stage`` (skipping failed ones
    unless retrying), in id order."""
    idx = STAGES.index(stage)
    if idx == 0:
        raise ValueError("'ingested' is reached by ingest, not by a stage")
    sql = "SELECT * FROM records WHERE stage = ?"
    if not retry_failed:
        sql += " AND status != 'failed'"
    return list(db.query(sql + " ORDER BY id", [STAGES[idx - 1]]))


def insert_many(
    db: sqlite_utils.Database, table: str, rows: Iterable[dict], *, on_conflict: str | None = None
) -> int:
    """INSERT rows with one executemany; safe inside ``transaction`` (no implicit commit).

    sqlite-utils' own insert_all wraps each chunk in ``with conn:``, which would commit an
    enclosing transaction early, so stage writes go through this instead.
    ``on_conflict``: None (raise), "ignore" (keep existing: idempotent re-runs) or "replace".
    """
    rows = list(rows)
    if not rows:
        return 0
    cols = list(rows[0].keys())
    verb = {None: "INSERT", "ignore": "INSERT OR IGNORE", "replace": "INSERT OR REPLACE"}[on_conflict]
    sql = (
        f"{verb} INTO [{table}] ({', '.join(f'[{c}]' for c in cols)}) "
        f"VALUES ({', '.join('?' for _ in cols)})"
    )
    values = [
        [dumps(r[c]) if isinstance(r[c], (dict, list)) else r[c] for c in cols] for r in rows
    ]
    cur = db.conn.executemany(sql, values)
    return cur.rowcount


def insert_one(db: sqlite_utils.Database, table: str, row: dict, *, on_conflict: str | None = None) -> int:
    """Insert one row and return its rowid (the existing row's id is not looked up)."""
    cols = list(row.keys())
    verb = {None: "INSERT", "ignore": "INSERT OR IGNORE", "replace": "INSERT OR REPLACE"}[on_conflict]
    sql = (
        f"{verb} INTO [{table}] ({', '.join(f'[{c}]' for c in cols)}) "
        f"VALUES ({', '.join('?' for _ in cols)})"
    )
    vals = [dumps(row[c]) if isinstance(row[c], (dict, list)) else row[c] for c in cols]
    return db.conn.execute(sql, vals).lastrowid
