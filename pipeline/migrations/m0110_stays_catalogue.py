"""Which rule catalogue version scored each stay.

The classifier's rule features are the flags of the current catalogue version; a record scored
under an older version has none, and training on it would teach the model that rules say
nothing. `train classifier` refuses such records, and `run --rescore` scores them again.
"""


def migrate(db):
    db.conn.execute("ALTER TABLE stays ADD COLUMN catalogue_version TEXT")
