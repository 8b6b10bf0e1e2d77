"""Review UI: reviewers' corrections of NLP entities, as append-only events.

The corrected entity set of a section is derived from the model's ``entities`` rows plus these
events (``pipeline.review.entities``); nothing here is ever updated or deleted.
"""

STATEMENTS = [
    """CREATE TABLE entity_corrections (
        id INTEGER PRIMARY KEY,
        record_id INTEGER NOT NULL REFERENCES records(id),
        section_id INTEGER NOT NULL REFERENCES sections(id),
        user TEXT NOT NULL,
        at TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('add', 'remove', 'relabel', 'set-attribute')),
        entity_id INTEGER REFERENCES entities(id),          -- model entity the event refers to
        added_id INTEGER REFERENCES entity_corrections(id), -- or an entity a reviewer added
        start INTEGER, end INTEGER,     -- span in sections.text (end exclusive)
        line_id INTEGER REFERENCES lines(id), page_id INTEGER REFERENCES pages(id),   -- add: where it was marked
        old_label TEXT, new_label TEXT,
        attributes TEXT                 -- JSON {negated|uncertain|historical|family: 0/1} set by the event
    )""",
    "CREATE INDEX entity_corrections_section ON entity_corrections(section_id)",
    "CREATE INDEX entity_corrections_record ON entity_corrections(record_id)",
]


def migrate(db):
    for sql in STATEMENTS:
        db.conn.execute(sql)
