"""Per-record stay summaries for cross-record rules (分解住院, 同时住院), written by the scoring
stage with each record's flags so batch-end rules and rescoring need not reload every record."""


def migrate(db):
    db.conn.execute(
        """CREATE TABLE stays (
            record_id INTEGER PRIMARY KEY REFERENCES records(id),
            patient_key TEXT, hospital_id TEXT,
            admit_at TEXT, discharge_at TEXT,
            main_code TEXT, main_name TEXT,
            total_cost REAL,
            planned_cycle TEXT, emergency TEXT, transfer TEXT, readmission_plan TEXT,
            evidence TEXT,
            features TEXT             -- JSON record-level features (pipeline/score/features.py)
        )"""
    )
    db.conn.execute("CREATE INDEX stays_patient ON stays(patient_key)")
