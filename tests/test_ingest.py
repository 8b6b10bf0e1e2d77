import os

import pytest

from pipeline import ingest, store

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
JPG_BYTES = b"\xff\xd8\xff\xe0" + b"\x00" * 64
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def batch(tmp_path):
    root = tmp_path / "batch"
    h1 = root / "H01"
    h2 = root / "H02"
    h1.mkdir(parents=True)
    h2.mkdir()
    (h1 / "ZY001.pdf").write_bytes(PDF_BYTES)
    (h1 / "ZY002.pdf").write_bytes(PDF_BYTES + b"% second\n")
    pages = h1 / "ZY003"
    pages.mkdir()
    (pages / "page-2.jpg").write_bytes(JPG_BYTES + b"2")
    (pages / "page-10.jpg").write_bytes(JPG_BYTES + b"10")
    (pages / "page-1.png").write_bytes(PNG_BYTES)
    (h2 / "ZY101.jpg").write_bytes(JPG_BYTES)
    (h2 / "empty.pdf").write_bytes(b"")
    (h2 / "fake.pdf").write_text("this is a word document, honestly", encoding="utf-8")
    (h2 / "notes.docx").write_bytes(b"PK\x03\x04")
    (h2 / "copy-of-ZY001.pdf").write_bytes(PDF_BYTES)
    (h2 / "no-pages").mkdir()
    return root


def _sources(db):
    return {os.path.basename(r["path"]): r for r in db.query("SELECT * FROM sources")}


def test_every_input_ends_in_a_known_state(batch, db_path):
    db = store.connect(db_path)
    summary = ingest.ingest(db, batch)
    src = _sources(db)
    assert {k: v["state"] for k, v in src.items()} == {
        "ZY001.pdf": "accepted", "ZY002.pdf": "accepted", "ZY003": "accepted", "ZY101.jpg": "accepted",
        "empty.pdf": "rejected", "fake.pdf": "rejected", "notes.docx": "rejected",
        "copy-of-ZY001.pdf": "duplicate", "no-pages": "rejected",
    }
    assert "0 bytes" in src["empty.pdf"]["reason"]
    assert "%PDF" in src["fake.pdf"]["reason"]
    assert ".docx" in src["notes.docx"]["reason"]
    assert "no page images" in src["no-pages"]["reason"]
    assert src["copy-of-ZY001.pdf"]["record_id"] == src["ZY001.pdf"]["record_id"]
    assert (summary.accepted, summary.duplicates, summary.rejected) == (4, 1, 4)
    records = {os.path.basename(r["source_path"]): r for r in db.query("SELECT * FROM records")}
    assert records["ZY003"]["kind"] == "image-folder" and records["ZY003"]["n_pages"] == 3
    assert records["ZY101.jpg"]["hospital_id"] == "H02"
    assert {r["id"] for r in db.query("SELECT id FROM hospitals")} == {"H01", "H02"}


def test_stray_files_are_listed_and_skipped_without_failing(batch, db_path):
    (batch / "truth.jsonl").write_text('{"x": 1}\n', encoding="utf-8")   # left by the sender at the root
    (batch / "readme.docx").write_bytes(b"PK\x03\x04")
    (batch / "H01" / "index.json").write_text("{}", encoding="utf-8")
    db = store.connect(db_path)
    summary = ingest.ingest(db, batch)
    src = _sources(db)
    assert {k: src[k]["state"] for k in ("truth.jsonl", "readme.docx", "index.json")} == dict.fromkeys(
        ("truth.jsonl", "readme.docx", "index.json"), "skipped")
    assert summary.skipped == 3 and summary.rejected == 4   # the hospital folder's notes.docx stays rejected
    assert {os.path.basename(p) for p, _ in summary.skipped_paths} == {"truth.jsonl", "readme.docx", "index.json"}
    again = ingest.ingest(db, batch)
    assert again.skipped == 0 and again.accepted == 0


def test_cli_ingest_exit_code_ignores_skipped_files(tmp_path, db_path):
    from typer.testing import CliRunner

    import cli

    root = tmp_path / "batch"
    (root / "H01").mkdir(parents=True)
    (root / "H01" / "ZY001.pdf").write_bytes(PDF_BYTES)
    (root / "truth.jsonl").write_text("{}\n", encoding="utf-8")
    res = CliRunner().invoke(cli.app, ["ingest", str(root), "--db", str(db_path)])
    assert res.exit_code == 0, res.output
    assert "truth.jsonl" in res.output and "skipped 1" in res.output


def test_reingest_changes_nothing(batch, db_path):
    db = store.connect(db_path)
    ingest.ingest(db, batch)
    before = list(db.query("SELECT * FROM records ORDER BY id")), list(db.query("SELECT path, state, reason, record_id FROM sources ORDER BY path"))
    again = ingest.ingest(db, batch)
    after = list(db.query("SELECT * FROM records ORDER BY id")), list(db.query("SELECT path, state, reason, record_id FROM sources ORDER BY path"))
    assert before == after
    assert again.accepted == 0 and again.unchanged == 9


def test_folder_page_order_is_natural(batch, db_path):
    db = store.connect(db_path)
    ingest.ingest(db, batch)
    sha_a = db.execute("SELECT sha256 FROM records WHERE kind = 'image-folder'").fetchone()[0]
    # Renaming a page changes the record's identity: page names are part of the key.
    folder = batch / "H01" / "ZY003"
    (folder / "page-10.jpg").rename(folder / "page-11.jpg")
    db2 = store.connect(db_path.with_name("other.db"))
    ingest.ingest(db2, batch)
    sha_b = db2.execute("SELECT sha256 FROM records WHERE kind = 'image-folder'").fetchone()[0]
    assert sha_a != sha_b


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any folder")
def test_unreadable_folder_is_rejected(batch, db_path):
    folder = batch / "H01" / "ZY003"
    folder.chmod(0)
    try:
        db = store.connect(db_path)
        ingest.ingest(db, batch)
        src = _sources(db)
        assert src["ZY003"]["state"] == "rejected"
        assert "cannot read" in src["ZY003"]["reason"]
    finally:
        folder.chmod(0o755)


def test_unreadable_folder_reason_via_oserror(batch, db_path, monkeypatch):
    """Simulates an unreadable page folder even as root by making scandir fail for it."""
    real = os.scandir
    target = str(batch / "H01" / "ZY003")

    def fake_scandir(path):
        if str(path) == target:
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(ingest.os, "scandir", fake_scandir)
    db = store.connect(db_path)
    ingest.ingest(db, batch)
    src = _sources(db)
    assert src["ZY003"]["state"] == "rejected"
    assert "Permission denied" in src["ZY003"]["reason"]
    # the rest of the batch went on
    assert src["ZY101.jpg"]["state"] == "accepted"


def test_hospital_names_from_batch_manifest(batch, db_path):
    (batch / "hospitals.csv").write_text("id,name,level\nH01,青山县人民医院,二级\n", encoding="utf-8-sig")
    db = store.connect(db_path)
    ingest.ingest(db, batch)
    row = db.execute("SELECT name, level FROM hospitals WHERE id = 'H01'").fetchone()
    assert row == ("青山县人民医院", "二级")
