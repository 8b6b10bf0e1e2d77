import sqlite3

import pytest

from pipeline import store


def test_migrations_from_empty_create_every_table(db_path):
    db = store.connect(db_path)
    tables = set(db.table_names())
    for t in ("hospitals", "sources", "records", "pages", "lines", "sections", "entities", "charges",
              "orders", "flags", "reviews", "model_versions", "runs"):
        assert t in tables
    n = len(store._migration_modules())
    assert store.schema_version(db) == n
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reconnect_applies_nothing_twice(db_path):
    store.connect(db_path)
    db = store.connect(db_path)
    assert store.apply_migrations(db) == []
    names = [r[0] for r in db.execute("SELECT name FROM _migrations")]
    assert len(names) == len(set(names))


def test_database_from_newer_version_is_refused(db_path):
    db = store.connect(db_path)
    db.execute("INSERT INTO _migrations VALUES ('m9999_future', '2030-01-01')")
    with pytest.raises(store.StoreError, match="m9999_future"):
        store.connect(db_path)


def test_transaction_rolls_back_on_error(db_path):
    db = store.connect(db_path)
    with pytest.raises(ZeroDivisionError):
        with store.transaction(db):
            store.insert_one(db, "hospitals", {"id": "H1", "name": "x", "created_at": store.now()})
            1 / 0
    assert db.execute("SELECT COUNT(*) FROM hospitals").fetchone()[0] == 0


def test_insert_many_ignore_is_idempotent(db_path):
    db = store.connect(db_path)
    row = {"id": "H1", "name": "青山县人民医院", "created_at": store.now()}
    with store.transaction(db):
        store.insert_many(db, "hospitals", [row], on_conflict="ignore")
    with store.transaction(db):
        store.insert_many(db, "hospitals", [row], on_conflict="ignore")
    assert db.execute("SELECT COUNT(*) FROM hospitals").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError):
        with store.transaction(db):
            store.insert_many(db, "hospitals", [row])


def test_write_to_read_only_database_raises_store_error(db_path):
    db = store.connect(db_path)
    db.execute("PRAGMA query_only = 1")  # as root, file permissions cannot make it read-only
    with pytest.raises(store.StoreError, match="只读"):
        with store.transaction(db):
            store.insert_one(db, "hospitals", {"id": "H", "name": "h", "created_at": store.now()})


def test_disk_full_is_reported_as_store_error():
    exc = sqlite3.OperationalError("database or disk is full")
    assert "磁盘已满" in str(store.as_store_error(exc, "x.db"))
    assert store.as_store_error(sqlite3.OperationalError("no such table: x"), "x.db") is None
