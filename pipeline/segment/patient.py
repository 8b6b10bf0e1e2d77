"""Patient key: salted sha256 of the ID number (or name + sex + birth), so one patient's
records link across admissions and hospitals without storing the identity twice.

The salt is created once per database (``settings`` table) and never leaves it.
"""
from __future__ import annotations

import hashlib
import re
import secrets

from pipeline import store
from pipeline.dates import normalize_text

SALT_KEY = "patient_salt"


def salt(db) -> str:
    """The database's salt, created on first use (call inside a transaction)."""
    store.insert_one(db, "settings", {"key": SALT_KEY, "value": secrets.token_hex(32),
                                      "created_at": store.now()}, on_conflict="ignore")
    return db.execute("SELECT value FROM settings WHERE key = ?", (SALT_KEY,)).fetchone()[0]


def material(id_number: str | None, name: str | None, sex: str | None, birth: str | None) -> str | None:
    """What identifies the patient: 'id:<ID>' or 'nsb:<name>|<sex>|<birth>'; None if too little."""
    if id_number:
        ident = re.sub(r"\s+", "", normalize_text(id_number)).upper()
        if re.fullmatch(r"\d{17}[\dX]|\d{15}", ident):
            return "id:" + ident
    if name and sex and birth:
        return "nsb:" + "|".join(re.sub(r"\s+", "", normalize_text(x)) for x in (name, sex, birth))
    return None


def patient_key(salt_value: str, id_number=None, name=None, sex=None, birth=None) -> str | None:
    m = material(id_number, name, sex, birth)
    if m is None:
        return None
    return hashlib.sha256((salt_value + "\x00" + m).encode("utf-8")).hexdigest()
