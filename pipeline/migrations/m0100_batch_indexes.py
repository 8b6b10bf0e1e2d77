"""Indexes the batch writer needs as a batch grows (measured on 1,000 text records).

- Claims rows by hospital and normalized admission number: segmentation links each record to its
  claims rows by that key; without the index every record scanned all claims rows of the batch
  (47 ms per record at 1,000 records, growing with the batch; 0.1 ms with it).
  ``pipeline/segment/claims_link.py`` names the index in its UPDATE, since SQLite's planner prefers
  the UNIQUE index on ``source`` when no ANALYZE statistics exist.
- Foreign-key children: deleting a record's sections or documents (re-segmentation) makes SQLite
  look up every referencing row; without these indexes each deleted row scanned the whole
  entities or sections table (a re-segmentation of 1,000 records: 158 ms per record).
"""

STATEMENTS = [
    "CREATE INDEX charges_claims_admission ON charges("
    "UPPER(REPLACE(TRIM(admission_no), ' ', '')), hospital_id) WHERE source = 'claims'",
    "CREATE INDEX sections_document ON sections(document_id)",
    "CREATE INDEX entities_section ON entities(section_id)",
    "CREATE INDEX entity_corrections_entity ON entity_corrections(entity_id)",
]


def migrate(db):
    for sql in STATEMENTS:
        db.conn.execute(sql)
