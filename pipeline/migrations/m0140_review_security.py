"""Review UI accounts and their audit trail: forced password changes, where a session logged in
from, and ``audit_log`` for what admins and leads do (accounts, sessions, locks, unmasked exports).

``login_audit`` keeps the login attempts themselves; a row with reason ``checking`` is an attempt
whose password is being checked (it counts as a failure until it is settled)."""

STATEMENTS = [
    "ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE users ADD COLUMN password_changed_at TEXT",
    "ALTER TABLE sessions ADD COLUMN ip TEXT",
    """CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,            -- user name, or cli:<os user> for the command line
        action TEXT NOT NULL,           -- user-add | user-disable | user-enable | password-reset | ...
        target TEXT,                    -- the user, session or record acted on
        detail TEXT,                    -- JSON, never patient data
        ip TEXT
    )""",
    "CREATE INDEX audit_log_at ON audit_log(at)",
    "CREATE INDEX login_audit_user_at ON login_audit(user, at)",
]


def migrate(db):
    for sql in STATEMENTS:
        db.conn.execute(sql)
