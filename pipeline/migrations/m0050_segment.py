"""Segmentation: installation settings (patient-key salt), claims-vs-bill mismatches, and
record-level segmentation issues (duplicate admission numbers, missing admission number)."""

STATEMENTS = [
    """CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    # One row per disagreement between the hospital's claims CSV and the record's 费用清单.
    """CREATE TABLE charge_mismatches (
        id INTEGER PRIMARY KEY,
        record_id INTEGER NOT NULL REFERENCES records(id),
        kind TEXT NOT NULL,             -- missing_in_bill | missing_in_claims | qty_diff | amount_diff | no_bill | no_claims
        item_key TEXT NOT NULL DEFAULT '',   -- item code, or normalized item name when uncoded
        item_code TEXT, item_name TEXT,
        claims_qty REAL, bill_qty REAL,
        claims_amount REAL, bill_amount REAL,
        claims_charge_ids TEXT,         -- JSON list of charges.id (source=claims)
        bill_charge_ids TEXT,           -- JSON list of charges.id (source=bill)
        created_at TEXT NOT NULL,
        UNIQUE(record_id, kind, item_key)
    )""",
    "CREATE INDEX charge_mismatches_record ON charge_mismatches(record_id)",
    """CREATE TABLE segment_issues (
        id INTEGER PRIMARY KEY,
        record_id INTEGER NOT NULL REFERENCES records(id),
        kind TEXT NOT NULL,             -- duplicate_admission_no | no_admission_no
        detail TEXT,                    -- JSON, no patient text
        created_at TEXT NOT NULL,
        UNIQUE(record_id, kind)
    )""",
]


def migrate(db):
    for sql in STATEMENTS:
        db.conn.execute(sql)
