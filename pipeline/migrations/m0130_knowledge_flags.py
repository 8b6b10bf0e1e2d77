"""Flags of national rules carry their knowledge point; records carry the insurance and visit type.

``flags.knowledge`` (JSON): the point behind a national rule's flag (id, rule class, GZ code,
constraint, detect logic, source, pack), how each charge line matched it and each condition found
or not. ``records.insurance_type`` (职工 / 居民 / 工伤 / 生育 …) and ``records.visit_type`` (住院 /
门诊 …) come from the claims export's optional columns, kept per row in ``charges`` until
segmentation links the rows to their record."""


def migrate(db):
    db.conn.execute("ALTER TABLE flags ADD COLUMN knowledge TEXT")
    for table in ("records", "charges"):
        db.conn.execute(f"ALTER TABLE {table} ADD COLUMN insurance_type TEXT")
        db.conn.execute(f"ALTER TABLE {table} ADD COLUMN visit_type TEXT")
