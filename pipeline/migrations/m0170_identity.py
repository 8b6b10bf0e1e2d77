"""Where a record's sex and age come from, and where each field value comes from.

``fields.source``: NULL when the value was read from its label; else what it was derived from
(``id_number``: sex and birth date from the ID number; ``birth``: age from the birth date and the
admission; ``text``: an ID number found without a readable label). ``records.sex_source`` and
``records.age_source`` copy it for the record's sex and age (``written`` when read from a label).
Disagreements between what was written and the ID number are ``segment_issues`` of kind
``identity_sex_mismatch``, ``identity_age_mismatch``, ``identity_birth_mismatch`` and
``identity_id_invalid`` (an ID number whose check character is wrong).

``stays.admission_route`` (入院途径 of the 病案首页: 门诊 / 急诊 / 转入) and ``stays.workup`` (JSON:
amount and charge ids of the stay's admission workup, the tests and exams of its first days) let
分解住院 exclude emergency readmissions by the recorded route and put the repeated workup at risk."""


def migrate(db):
    db.conn.execute("ALTER TABLE fields ADD COLUMN source TEXT")
    db.conn.execute("ALTER TABLE records ADD COLUMN sex_source TEXT")
    db.conn.execute("ALTER TABLE records ADD COLUMN age_source TEXT")
    db.conn.execute("ALTER TABLE stays ADD COLUMN admission_route TEXT")
    db.conn.execute("ALTER TABLE stays ADD COLUMN workup TEXT")
