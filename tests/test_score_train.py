"""`train classifier` on hand-built scored records: registered with metrics, then used to score."""
import json

import pytest

from pipeline import store
from pipeline.score import train
from test_score_stage import add_record, score_all


def batch(db_path, tmp_path, n=16):
    db = store.connect(db_path)
    labels = []
    for i in range(n):
        bad = i % 2 == 0
        extra = [("2024-03-03", "黄体酮注射液", "西药费", 2, 3.6)] if bad else []
        add_record(db, i, patient=f"p{i}", extra_charges=extra)
        labels.append({"admission_no": f"A{i}", "hospital_id": "H1",
                       "violations": [{"type": "drug_restriction", "amount": 3.6}] if bad else []})
    labels.append({"admission_no": "NOPE", "hospital_id": "H1", "violations": []})
    path = tmp_path / "labels.jsonl"
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in labels), encoding="utf-8")
    score_all(db_path, db)
    return db, path


def test_train_registers_model_and_stage_uses_it(db_path, tmp_path):
    db, labels = batch(db_path, tmp_path)
    res = train.train_classifier(db_path, labels, tmp_path / "models")
    m = res["metrics"]
    assert m["records"] == 16 and m["positives"] == 8 and m["labels_unmatched"] == 1
    assert m["cv_roc_auc"] > 0.9
    row = db.execute("SELECT id, path, promoted, metrics FROM model_versions").fetchone()
    assert row[0] == res["version"] and row[2] == 1 and json.loads(row[3])["records"] == 16
    assert (tmp_path / "models" / "classifier").is_dir()
    db.execute("UPDATE records SET stage = 'extracted'")
    score_all(db_path, db)
    scores = db.execute("SELECT r.admission_no, s.probability, s.explanation FROM scores s JOIN records r"
                        " ON r.id = s.record_id WHERE s.model_version = ?", (res["version"],)).fetchall()
    assert len(scores) == 16
    bad = [p for a, p, _ in scores if int(a[1:]) % 2 == 0]
    good = [p for a, p, _ in scores if int(a[1:]) % 2 == 1]
    assert min(bad) > max(good)
    top = json.loads(scores[0][2])["top_features"]
    assert all({"feature", "value", "contribution"} <= set(t) for t in top)


def test_bad_labels_file_is_a_clear_error(db_path, tmp_path):
    store.connect(db_path)
    p = tmp_path / "labels.jsonl"
    p.write_text('{"admission_no": "A1", "violations": []}\nnot json\n', encoding="utf-8")
    with pytest.raises(train.TrainError, match="labels.jsonl:2"):
        train.train_classifier(db_path, p, tmp_path / "m")
    assert train.command(db_path, p, tmp_path / "m", echo=lambda s: None) == 2
