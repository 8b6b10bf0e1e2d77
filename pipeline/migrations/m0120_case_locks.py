"""Reviewer case locks get their own name: ``case_claims`` → ``case_locks``.

"Claims" is kept for insurance claims (``claims_files``, ``charges.source = 'claims'``); the row
that says which reviewer works on a record is a lock."""


def migrate(db):
    db.conn.execute("ALTER TABLE case_claims RENAME TO case_locks")
    db.conn.execute("ALTER TABLE case_locks RENAME COLUMN claimed_at TO locked_at")
