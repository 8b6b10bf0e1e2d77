import json

from pipeline import store
from pipeline.run import run_stage
from pipeline.segment import patient
from pipeline.segment.stage import SegmentStage
from segment_helpers import load_record

FRONT = """住院病案首页
住院号：ZY001  姓名：张三  性别：男  年龄：65岁
出生日期：1955-02-01  身份证号：11010119550201001x
入院科别：呼吸内科
入院时间：2020-03-05 14:30  出院时间：2020-03-08 09:00
主要诊断：肺炎 J18.900"""
ADMIT = "入院记录\n主诉：咳嗽3天\n现病史：受凉后咳嗽。"


def bill_page():
    """A 费用清单 page read as one line per cell (row_no, boxes), as OCR gives it."""
    xs = [(40, 110), (120, 230), (240, 360), (370, 420), (430, 480), (490, 540)]
    rows = [["费用日期", "项目编码", "项目名称", "数量", "单价", "金额"],
            ["2020-03-05", "001109000010000", "普通病房床位费", "3", "35.00", "105.00"],
            ["2020-03-05", "002501000010000", "血常规(五分类)", "2", "20.00", "40.00"],
            ["2020-03-06", "C1401020000", "静脉留置针", "1", "22.00", "22.00"]]
    cells = [{"text": "住院费用清单", "x0": 250, "x1": 350, "row_no": 0}]
    for r, row in enumerate(rows, 1):
        cells += [{"text": t, "x0": x[0], "x1": x[1], "row_no": r} for t, x in zip(row, xs) if t]
    return cells


def add_claims(db, adm, rows, hospital="H01"):
    with store.transaction(db):
        store.insert_many(db, "charges", [
            {"source": "claims", "seq": i, "hospital_id": hospital, "admission_no": adm, "item_code": c,
             "item_name": n, "qty": q, "amount": a, "claims_file": "/batch/H01/claims.csv"}
            for i, (c, n, q, a) in enumerate(rows, 1)])


def run(db):
    return run_stage(db, SegmentStage, executor="inline")


def test_stage_writes_everything_with_evidence_and_links_claims(db_path):
    db = store.connect(db_path)
    rid = load_record(db, [FRONT, ADMIT, bill_page()])
    add_claims(db, "zy001", [("001109000010000", "普通病房床位费", 3, 105.0),
                             ("002501000010000", "血常规(五分类)", 3, 60.0),
                             ("002503000180000", "C反应蛋白测定", 1, 25.0)])
    report = run(db)
    assert (report.done, report.failed) == (1, 0)
    rec = db["records"].get(rid)
    assert (rec["stage"], rec["admission_no"], rec["sex"], rec["age"], rec["department"]) == \
        ("segmented", "ZY001", "男", 65, "呼吸内科")
    assert (rec["admit_at"], rec["discharge_at"]) == ("2020-03-05 14:30", "2020-03-08 09:00")
    salt = patient.salt(db)
    assert rec["patient_key"] == patient.patient_key(salt, "11010119550201001X")
    assert len(rec["patient_key"]) == 64 and "1101011955" not in rec["patient_key"]
    docs = [r["doc_type"] for r in db.query("SELECT doc_type FROM documents WHERE record_id = ? ORDER BY doc_no", [rid])]
    assert docs == ["住院病案首页", "入院记录", "费用清单"]
    sec = next(db.query("SELECT * FROM sections WHERE name = '主诉'"))
    line = db["lines"].get(sec["line_start"])
    assert sec["text"] == "咳嗽3天" and line["text"] == "主诉：咳嗽3天" and sec["page_id"] == line["page_id"]
    bill = list(db.query("SELECT * FROM charges WHERE source = 'bill' ORDER BY seq"))
    assert [(b["seq"], b["item_name"], b["qty"], b["amount"]) for b in bill] == [
        (1, "普通病房床位费", 3, 105.0), (2, "血常规(五分类)", 2, 40.0), (3, "静脉留置针", 1, 22.0)]
    assert all(db["lines"].get(b["line_id"])["text"] == b["item_name"] for b in bill)
    claims = list(db.query("SELECT record_id FROM charges WHERE source = 'claims'"))
    assert all(c["record_id"] == rid for c in claims)  # linked although the CSV wrote 'zy001'
    mm = {(m["kind"], m["item_name"]): m for m in db.query("SELECT * FROM charge_mismatches WHERE record_id = ?", [rid])}
    assert set(mm) == {("qty_diff", "血常规(五分类)"), ("amount_diff", "血常规(五分类)"),
                       ("missing_in_bill", "C反应蛋白测定"), ("missing_in_claims", "静脉留置针")}
    assert (mm[("qty_diff", "血常规(五分类)")]["claims_qty"], mm[("qty_diff", "血常规(五分类)")]["bill_qty"]) == (3, 2)
    assert len(json.loads(mm[("missing_in_claims", "静脉留置针")]["bill_charge_ids"])) == 1


def test_rerun_is_idempotent_and_salt_is_stable(db_path):
    db = store.connect(db_path)
    rid = load_record(db, [FRONT, ADMIT, bill_page()])
    run(db)
    before = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("documents", "sections", "fields", "charges")}
    key = db["records"].get(rid)["patient_key"]
    stage = SegmentStage()
    rec = db["records"].get(rid)
    with store.transaction(db):
        for result in stage.work(stage.prepare(db, rec), {}):
            stage.save(db, rec, result)
        stage.finish(db, rec)
    after = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in before}
    assert before == after
    assert db["records"].get(rid)["patient_key"] == key
    assert db.execute("SELECT COUNT(*) FROM settings").fetchone()[0] == 1


def test_duplicate_admission_numbers_are_reported_not_merged(db_path):
    db = store.connect(db_path)
    a = load_record(db, [FRONT, bill_page()], name="a.pdf")
    b = load_record(db, [FRONT.replace("张三", "李四"), ADMIT], name="b.pdf")
    other = load_record(db, [FRONT], hospital_id="H02", name="c.pdf")  # same number, other hospital
    add_claims(db, "ZY001", [("001109000010000", "普通病房床位费", 3, 105.0)])
    run(db)
    issues = {(r["record_id"], r["kind"]) for r in db.query(
        "SELECT * FROM segment_issues WHERE kind LIKE '%admission_no'")}
    assert issues == {(a, "duplicate_admission_no"), (b, "duplicate_admission_no")}
    detail = json.loads(next(db.query("SELECT detail FROM segment_issues WHERE record_id = ?", [a]))["detail"])
    assert detail["record_ids"] == [a, b]
    assert db.execute("SELECT COUNT(*) FROM charges WHERE source='claims' AND record_id IS NOT NULL").fetchone()[0] == 0
    assert db["records"].get(other)["stage"] == "segmented"


def test_record_without_claims_or_admission_number_is_reported(db_path):
    db = store.connect(db_path)
    a = load_record(db, [FRONT, bill_page()], name="a.pdf")
    b = load_record(db, [ADMIT], name="b.pdf")
    run(db)
    assert [r["kind"] for r in db.query("SELECT kind FROM charge_mismatches WHERE record_id = ?", [a])] == ["no_claims"]
    assert [r["kind"] for r in db.query("SELECT kind FROM segment_issues WHERE record_id = ?", [b])] == ["no_admission_no"]


def test_patient_key_material():
    assert patient.material("110101 19550201001x", None, None, None) == "id:11010119550201001X"
    assert patient.material("bad", "张三", "男", "1955-02-01") == "nsb:张三|男|1955-02-01"
    assert patient.material(None, "张三", "男", None) is None
    assert patient.patient_key("s1", "11010119550201001X") != patient.patient_key("s2", "11010119550201001X")


def test_record_without_text_is_segmented_empty_and_reported(db_path):
    db = store.connect(db_path)
    rid = load_record(db, ["   ", "第 2 页"])
    report = run(db)
    assert (report.done, report.failed) == (1, 0)
    assert db.execute("SELECT COUNT(*) FROM sections WHERE record_id = ?", (rid,)).fetchone()[0] == 0
    assert [r["kind"] for r in db.query("SELECT kind FROM segment_issues WHERE record_id = ?", [rid])] == ["no_admission_no"]


def test_claims_without_codes_are_compared_by_item_name(db_path):
    db = store.connect(db_path)
    rid = load_record(db, [FRONT, "费用清单\n序号 费用日期 项目名称 数量 单价 金额\n"
                                  "1 2020-03-05 普通病房床位费 3 35.00 105.00\n2 2020-03-05 血常规 1 20.00 20.00"])
    add_claims(db, "ZY001", [(None, "普通病房床位费", 3, 105.0), (None, "血 常 规", 1, 25.0)])
    run(db)
    mm = [(m["kind"], m["item_key"], m["claims_amount"], m["bill_amount"])
          for m in db.query("SELECT * FROM charge_mismatches WHERE record_id = ?", [rid])]
    assert mm == [("amount_diff", "name:血常规", 25.0, 20.0)]


def test_notes_and_lab_panels_reach_the_store_with_their_times(db_path):
    """What the rules read: one 首次病程记录 document with its time (banner under the title),
    and the tested item of a 检验报告 as a field on a line of that report."""
    db = store.connect(db_path)
    note = ("首次病程记录\n青山县人民医院 姓名：张三 住院号：ZY001 科别：呼吸内科 床号：12\n"
            "2020-03-05 16:00\n病例特点：咳嗽。")
    lab = ("检验报告单\n报告时间：2020-03-06 09:30\n检验项目：血常规\n项目 结果 单位 参考区间\n"
           "白细胞计数 12.5 10^9/L 3.5-9.5")
    rid = load_record(db, [FRONT, ADMIT, note, lab])
    run(db)
    docs = db.execute("SELECT doc_type, at, line_start, line_end FROM documents WHERE record_id = ?"
                      " ORDER BY doc_no", (rid,)).fetchall()
    assert [(d[0], d[1]) for d in docs if "病程" in d[0]] == [("首次病程记录", "2020-03-05 16:00")]
    panel = db.execute("SELECT f.value, f.seq, f.at, l.text, f.line_id FROM fields f JOIN lines l ON l.id = f.line_id"
                       " WHERE f.record_id = ? AND f.name = 'lab_panel'", (rid,)).fetchall()
    assert [p[:4] for p in panel] == [("血常规", 0, "2020-03-06 09:30", "检验项目：血常规")]
    report = next(d for d in docs if d[0] == "检验报告")
    assert report[2] <= panel[0][4] <= report[3]
