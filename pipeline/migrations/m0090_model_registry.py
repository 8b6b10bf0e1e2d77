"""Model registry: held-out set identity on model versions, and the promotion history.

Two models' metrics are comparable only when measured on the same held-out part
(``heldout_hash``); every promotion, forced or not, is kept so an auditor can see which model
scored which batch and why it was chosen.
"""

STATEMENTS = [
    "ALTER TABLE model_versions ADD COLUMN heldout_hash TEXT",
    """CREATE TABLE model_promotions (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        model_version TEXT NOT NULL,    -- model_versions.id promoted
        previous TEXT,                  -- model_versions.id it replaced
        forced INTEGER NOT NULL DEFAULT 0,
        reason TEXT,                    -- the guard's verdict (Chinese), e.g. AUC 0.81 >= 0.78
        at TEXT NOT NULL
    )""",
]


def migrate(db):
    for sql in STATEMENTS:
        db.conn.execute(sql)
