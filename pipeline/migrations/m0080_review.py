"""Review UI: user accounts, server-side sessions, login audit log, case claims.

Reviewer decisions themselves live in the core ``reviews`` table (append-only events).
"""

STATEMENTS = [
    """CREATE TABLE users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('reviewer', 'lead', 'admin')),
        password_hash TEXT NOT NULL,    -- scrypt$n$r$p$salt_hex$hash_hex
        disabled INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    )""",
    # The cookie holds a random token; only its sha256 is stored, so a leaked database
    # does not hand out live sessions.
    """CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        user TEXT NOT NULL REFERENCES users(name),
        csrf TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        expires_at TEXT NOT NULL
    )""",
    "CREATE INDEX sessions_user ON sessions(user)",
    """CREATE TABLE login_audit (
        id INTEGER PRIMARY KEY,
        user TEXT NOT NULL,             -- name as typed (may not exist)
        ip TEXT,
        ok INTEGER NOT NULL,
        reason TEXT,                    -- ok | bad-password | unknown-user | disabled | rate-limited | logout
        at TEXT NOT NULL
    )""",
    "CREATE INDEX login_audit_at ON login_audit(at)",
    # One live claim per record: two reviewers never work on the same case at once.
    """CREATE TABLE case_claims (
        record_id INTEGER PRIMARY KEY REFERENCES records(id),
        user TEXT NOT NULL,
        claimed_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    )""",
    "CREATE INDEX reviews_flag ON reviews(flag_id)",
]


def migrate(db):
    for sql in STATEMENTS:
        db.conn.execute(sql)
