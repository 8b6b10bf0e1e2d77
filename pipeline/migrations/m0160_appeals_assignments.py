"""Appeals and assignments.

``appeals``: a hospital's appeal (申诉) against a confirmed finding and its outcome, append-only
events (``pipeline/review/appeals.py``); the newest event of a flag decides.
``assignments``: which reviewer a lead gave a hospital, a case or a second (blind) review of a
flag to, append-only; the newest row per (kind, target) is in force, ``user`` NULL ends it
(``pipeline/review/assign.py``)."""

STATEMENTS = [
    """CREATE TABLE appeals (
        id INTEGER PRIMARY KEY,
        flag_id INTEGER NOT NULL REFERENCES flags(id),
        record_id INTEGER NOT NULL REFERENCES records(id),
        action TEXT NOT NULL,           -- filed | upheld | partly | dismissed
        amount REAL,                    -- partly: the amount that stands, 元
        text TEXT,                      -- filed: the hospital's grounds; an outcome: its reasons
        by TEXT NOT NULL,               -- who recorded it (user, or cli:<os user>)
        at TEXT NOT NULL
    )""",
    "CREATE INDEX appeals_flag ON appeals(flag_id)",
    """CREATE TABLE assignments (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,             -- hospital | record | second (blind second review of a flag)
        target TEXT NOT NULL,           -- hospital id, record id or flag id
        user TEXT,                      -- the reviewer; NULL ends the assignment
        by TEXT NOT NULL,
        at TEXT NOT NULL
    )""",
    "CREATE INDEX assignments_target ON assignments(kind, target)",
]


def migrate(db):
    for sql in STATEMENTS:
        db.conn.execute(sql)
