"""Scoring stage against a store with hand-inserted rows: per-record flags with evidence on the
named page, cross-record flags at batch end, idempotent re-runs, reviewed flags kept."""
import functools
import json

from pipeline import store
from pipeline.run import run_stage
from pipeline.score.stage import ScoreStage


def add_record(db, n, *, patient="p1", admit="2024-03-01 09:00", discharge="2024-03-06 10:00",
               dx=("急性阑尾炎", "K35.800"), sex="男", extra_charges=()):
    with store.transaction(db):
        store.insert_many(db, "hospitals", [{"id": "H1", "name": "县医院", "level": "二级", "created_at": store.now()}],
                          on_conflict="ignore")
        rid = store.insert_one(db, "records", {
            "sha256": f"sha{n}", "source_path": f"/batch/H1/{n}.pdf", "kind": "pdf", "hospital_id": "H1",
            "admission_no": f"A{n}", "patient_key": patient, "sex": sex, "age": 60, "admit_at": admit,
            "discharge_at": discharge, "stage": "extracted", "created_at": store.now(), "updated_at": store.now()})
        home = store.insert_one(db, "pages", {"record_id": rid, "page_no": 1, "source_ref": "pdf:0", "created_at": store.now()})
        bill = store.insert_one(db, "pages", {"record_id": rid, "page_no": 5, "source_ref": "pdf:4", "created_at": store.now()})
        lines = [(home, f"入院时间：{admit}"), (home, f"出院时间：{discharge}"), (home, f"主要诊断：{dx[0]} {dx[1]}")]
        charges = [(admit[:10], "普通病房床位费", "床位费", 1, 35.0)] + list(extra_charges)
        lines += [(bill, f"{c[0]} {c[1]} {c[3]} {c[4]}") for c in charges]
        ids = [store.insert_one(db, "lines", {"page_id": p, "line_no": i, "text": t, "x0": 10, "y0": 20 * i,
                                             "x1": 400, "y1": 20 * i + 16}) for i, (p, t) in enumerate(lines)]
        store.insert_many(db, "fields", [
            {"record_id": rid, "name": "admit_at", "value": admit, "code": None, "page_id": home, "line_id": ids[0]},
            {"record_id": rid, "name": "discharge_at", "value": discharge, "code": None, "page_id": home, "line_id": ids[1]},
            {"record_id": rid, "name": "main_diagnosis", "value": dx[0], "code": dx[1], "page_id": home, "line_id": ids[2]},
        ])
        store.insert_many(db, "charges", [
            {"record_id": rid, "source": "bill", "seq": i, "hospital_id": "H1", "admission_no": f"A{n}", "at": c[0],
             "item_name": c[1], "category": c[2], "qty": c[3], "unit_price": c[4] / c[3], "amount": c[4],
             "page_id": bill, "line_id": ids[3 + i]} for i, c in enumerate(charges)])
    return rid


def score_all(db_path, db):
    return run_stage(db, functools.partial(ScoreStage, db_path=str(db_path)), executor="inline")


def flags_of(db, rid):
    return [dict(zip(("rule_id", "key", "amount", "evidence", "reason"), r)) for r in db.execute(
        "SELECT rule_id, key, amount, evidence, reason FROM flags WHERE record_id = ? ORDER BY rule_id, key", (rid,))]


def test_stage_writes_flags_scores_and_cross_record_flags(db_path):
    db = store.connect(db_path)
    first = add_record(db, 1, extra_charges=[("2024-03-03", "黄体酮注射液", "西药费", 1, 1.8)])
    second = add_record(db, 2, admit="2024-03-12 09:00", discharge="2024-03-16 10:00", dx=("急性阑尾炎", "K35.900"),
                        extra_charges=[("2024-03-12", "血常规(五分类)", "化验费", 1, 20.0)])
    report = score_all(db_path, db)
    assert report.done == 2 and report.failed == 0
    f1 = flags_of(db, first)
    assert [f["rule_id"] for f in f1] == ["CH-DRUG-RESTRICTION"] and f1[0]["amount"] == 1.8
    # every evidence item with a line names the page that line is on, and its text
    for f in f1 + flags_of(db, second):
        for e in json.loads(f["evidence"]):
            if e["line_id"] is not None:
                text, page_no = db.execute("SELECT l.text, p.page_no FROM lines l JOIN pages p ON p.id = l.page_id"
                                           " WHERE l.id = ?", (e["line_id"],)).fetchone()
                assert (text, page_no) == (e["text"], e["page_no"])
    split = [f for f in flags_of(db, second) if f["rule_id"] == "XR-SPLIT-ADMISSION"]
    assert len(split) == 1 and "出院后第6天因同一疾病(K35.900 急性阑尾炎)再次入院" in split[0]["reason"]
    assert split[0]["amount"] == 20.0   # the repeated admission workup (amount_basis workup)
    probs = dict(db.execute("SELECT record_id, probability FROM scores").fetchall())
    assert set(probs) == {first, second} and probs[first] > 0.5 and probs[second] > 0.5
    stages = {r[0] for r in db.execute("SELECT stage FROM records")}
    assert stages == {"scored"}


def test_rescoring_is_idempotent_and_keeps_reviewed_flags(db_path):
    db = store.connect(db_path)
    rid = add_record(db, 1, extra_charges=[("2024-03-03", "黄体酮注射液", "西药费", 1, 1.8)])
    score_all(db_path, db)
    before = db.execute("SELECT id, rule_id FROM flags").fetchall()
    db.execute("UPDATE records SET stage = 'extracted'")
    score_all(db_path, db)
    assert db.execute("SELECT id, rule_id FROM flags").fetchall() == before
    # the drug charge goes away (e.g. corrected bill); a reviewed flag stays as history, others go
    db.execute("INSERT INTO reviews (flag_id, record_id, user, action, at) VALUES (?, ?, 'u', 'confirm', 'now')",
               (before[0][0], rid))
    db.execute("DELETE FROM charges WHERE item_name = '黄体酮注射液'")
    db.execute("UPDATE records SET stage = 'extracted'")
    score_all(db_path, db)
    assert db.execute("SELECT id FROM flags").fetchall() == [(before[0][0],)]


def test_catalogue_upgrade_keeps_the_flag_of_the_same_finding(db_path):
    """Re-scoring under a new catalogue version: a finding that did not change keeps its flag id
    and its review (no second flag beside it); a reviewed flag whose finding changed stays as it
    was decided, next to the new one."""
    db = store.connect(db_path)
    rid = add_record(db, 1, extra_charges=[("2024-03-03", "黄体酮注射液", "西药费", 1, 1.8)])
    score_all(db_path, db)
    flags = db.execute("SELECT id, rule_id, key, catalogue_version FROM flags ORDER BY id").fetchall()
    current = flags[0][3]
    reviewed = flags[0][0]
    db.execute("INSERT INTO reviews (flag_id, record_id, user, action, at) VALUES (?, ?, 'u', 'confirm', 'now')",
               (reviewed, rid))
    db.execute("UPDATE flags SET catalogue_version = '2020.01.1'")
    db.execute("UPDATE records SET stage = 'extracted'")
    score_all(db_path, db)
    after = db.execute("SELECT id, rule_id, key, catalogue_version FROM flags ORDER BY id").fetchall()
    assert after == [(i, r, k, current) for i, r, k, _ in flags]

    # the reviewed finding now reads differently under the next version: both flags remain
    db.execute("UPDATE flags SET catalogue_version = '2020.01.1', reason = reason || '（旧）' WHERE id = ?", (reviewed,))
    db.execute("UPDATE records SET stage = 'extracted'")
    score_all(db_path, db)
    rows = db.execute("SELECT id, catalogue_version FROM flags WHERE rule_id = ? AND key = ? ORDER BY id",
                      (flags[0][1], flags[0][2])).fetchall()
    assert rows[0] == (reviewed, "2020.01.1") and len(rows) == 2 and rows[1][1] == current

    # a rule the catalogue dropped: its unreviewed flags go, the reviewed one stays
    db.execute("UPDATE flags SET rule_id = 'GONE-1' WHERE rule_id = ?", (flags[0][1],))
    db.execute("UPDATE records SET stage = 'extracted'")
    score_all(db_path, db)
    gone = db.execute("SELECT id FROM flags WHERE rule_id = 'GONE-1'").fetchall()
    assert gone == [(reviewed,)]


def test_no_cross_flags_for_different_disease(db_path):
    db = store.connect(db_path)
    add_record(db, 1)
    second = add_record(db, 2, admit="2024-03-12 09:00", discharge="2024-03-16 10:00", dx=("胆囊结石", "K80.200"))
    score_all(db_path, db)
    assert not [f for f in flags_of(db, second) if f["rule_id"].startswith("XR-")]
