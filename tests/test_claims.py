from pipeline import claims, ingest, store

HEADER = "住院号,费用发生时间,医保项目编码,项目名称,费用类别,数量,单价,金额\n"


def _write(path, text, encoding="utf-8-sig"):
    path.write_bytes(text.encode(encoding))
    return path


def _errors(db):
    return {r[0]: r[1] for r in db.execute("SELECT row_no, reason FROM claims_errors ORDER BY row_no")}


def test_utf8_bom_claims_import(tmp_path, db_path):
    p = _write(tmp_path / "claims.csv", HEADER +
               "ZY001,2024-03-05 09:30:00,001102000010000,床位费,床位费,1,30.00,30.00\n"
               "ZY001,2024/3/6 10:00,250101001,血常规,化验费,1,20,20\n")
    db = store.connect(db_path)
    res = claims.import_claims(db, p, "H01")
    assert (res.state, res.rows, res.bad_rows, res.encoding) == ("imported", 2, 0, "utf-8-sig")
    rows = list(db.query("SELECT admission_no, at, item_name, qty, amount FROM charges ORDER BY seq"))
    assert rows[1] == {"admission_no": "ZY001", "at": "2024-03-06 10:00", "item_name": "血常规", "qty": 1.0, "amount": 20.0}


def test_gbk_export_is_decoded(tmp_path, db_path):
    p = _write(tmp_path / "claims.csv", HEADER + "ZY002,2024-03-05,250101001,血常规,化验费,1,20,20\n", encoding="gbk")
    db = store.connect(db_path)
    res = claims.import_claims(db, p, "H01")
    assert res.encoding == "gb18030" and res.rows == 1
    assert db.execute("SELECT item_name FROM charges").fetchone()[0] == "血常规"


def test_the_national_platform_field_names_are_read(tmp_path, db_path):
    p = _write(tmp_path / "claims.csv", "住院/门诊号,费用发生时间,医疗目录编码,医药机构目录名称,医疗收费项目类别,数量,单价,明细项目费用总额\n"
               "ZY003,2024-3-5 9:30,250101001,全血细胞计数(五分类),化验费,1,20,20\n", encoding="utf-8")
    db = store.connect(db_path)
    res = claims.import_claims(db, p, "H01")
    assert (res.state, res.rows, res.encoding) == ("imported", 1, "utf-8")
    row = db.execute("SELECT admission_no, item_code, item_name, category, amount FROM charges").fetchone()
    assert tuple(row) == ("ZY003", "250101001", "全血细胞计数(五分类)", "化验费", 20.0)


def test_bad_rows_are_recorded_with_row_numbers_and_the_rest_imported(tmp_path, db_path):
    p = _write(tmp_path / "claims.csv", HEADER +
               "ZY001,2024-03-05,1,床位费,床位费,1,30,30\n"        # row 2 ok
               ",2024-03-05,1,床位费,床位费,1,30,30\n"              # row 3 no admission no.
               "ZY001,2024-03-05,1,退费,床位费,1,30,-30\n"          # row 4 negative
               "ZY001,yesterday,1,床位费,床位费,1,30,30\n"          # row 5 bad date
               "ZY001,2024-03-05,1,床位费,床位费,two,30,30\n"        # row 6 not a number
               "ZY001,2024-03-05,1,床位费,床位费,2,30,30\n"          # row 7 amount mismatch
               "ZY001,2024-03-06,1,护理费,护理费,1,10,10\n")         # row 8 ok
    db = store.connect(db_path)
    res = claims.import_claims(db, p, "H01")
    assert (res.rows, res.bad_rows) == (2, 5)
    errors = _errors(db)
    assert set(errors) == {3, 4, 5, 6, 7}
    assert "住院号" in errors[3] and "负数" in errors[4] and "日期" in errors[5]
    assert "数字" in errors[6] and "数量×单价" in errors[7]
    assert [r[0] for r in db.execute("SELECT seq FROM charges ORDER BY seq")] == [2, 8]


def test_missing_columns_reject_the_file(tmp_path, db_path):
    p = _write(tmp_path / "claims.csv", "住院号,项目名称\nZY1,床位费\n")
    db = store.connect(db_path)
    res = claims.import_claims(db, p, "H01")
    assert res.state == "rejected" and "amount" in res.reason
    assert db.execute("SELECT state FROM claims_files").fetchone()[0] == "rejected"


def test_undecodable_file_rejected(tmp_path, db_path):
    p = tmp_path / "claims.csv"
    p.write_bytes(HEADER.encode("utf-8") + b"\xff\xfe\xfa\x80\x81\xfe\xff" * 3)
    db = store.connect(db_path)
    res = claims.import_claims(db, p, "H01")
    assert res.state == "rejected" and "编码" in res.reason


def test_reimport_is_idempotent_and_changed_file_replaces_rows(tmp_path, db_path):
    p = _write(tmp_path / "claims.csv", HEADER + "ZY001,2024-03-05,1,床位费,床位费,1,30,30\n")
    db = store.connect(db_path)
    claims.import_claims(db, p, "H01")
    assert claims.import_claims(db, p, "H01").state == "unchanged"
    assert db.execute("SELECT COUNT(*) FROM charges").fetchone()[0] == 1
    _write(p, HEADER + "ZY001,2024-03-05,1,床位费,床位费,1,30,30\nZY001,2024-03-06,1,床位费,床位费,1,30,30\n")
    assert claims.import_claims(db, p, "H01").rows == 2
    assert db.execute("SELECT COUNT(*) FROM charges").fetchone()[0] == 2


def test_claims_file_found_by_ingest(tmp_path, db_path):
    h = tmp_path / "batch" / "H01"
    h.mkdir(parents=True)
    _write(h / "claims.csv", HEADER + "ZY001,2024-03-05,1,床位费,床位费,1,30,30\n")
    db = store.connect(db_path)
    summary = ingest.ingest(db, tmp_path / "batch")
    assert summary.claims_files == 1 and summary.claims_rows == 1
    assert db.execute("SELECT hospital_id FROM charges").fetchone()[0] == "H01"
