import json

import pytest
from typer.testing import CliRunner

from cli import app
from pipeline.nlp.normalize import BUILTIN_TABLE
from pipeline.nlp.pipeline import DEFAULT_MODEL

runner = CliRunner()


def test_eval_normalize_on_builtin_table(tmp_path):
    f = tmp_path / "cdn.json"
    f.write_text(json.dumps([
        {"text": "冠心病", "normalized_result": "冠状动脉粥样硬化性心脏病"},
        {"text": "2型DM;高血压病", "normalized_result": "2型糖尿病##高血压"},
        {"text": "胆结石", "normalized_result": "急性胆囊炎"},
    ], ensure_ascii=False), encoding="utf-8")
    r = runner.invoke(app, ["nlp", "eval-normalize", str(f), "--table", str(BUILTIN_TABLE), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["items"] == 3 and out["tp"] == 3 and out["fn"] == 1  # 胆结石 → 胆囊结石, not the gold


def test_eval_normalize_uses_training_aliases(tmp_path):
    f = tmp_path / "cdn.json"
    f.write_text(json.dumps([{"text": "甲乙丙症", "normalized_result": "贫血"}], ensure_ascii=False), encoding="utf-8")
    t = tmp_path / "train.json"
    t.write_text(json.dumps([{"text": "甲乙丙症", "normalized_result": "贫血"}] * 3, ensure_ascii=False), encoding="utf-8")
    base = json.loads(runner.invoke(app, ["nlp", "eval-normalize", str(f), "--table", str(BUILTIN_TABLE), "--json"]).output)
    r = runner.invoke(app, ["nlp", "eval-normalize", str(f), "--table", str(BUILTIN_TABLE), "--train", str(t), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["tp"] == 1 and base["tp"] == 0


def test_eval_commands_reject_missing_files(tmp_path):
    r = runner.invoke(app, ["nlp", "eval-normalize", str(tmp_path / "none.json"), "--table", str(BUILTIN_TABLE)])
    assert r.exit_code == 2
    r = runner.invoke(app, ["nlp", "eval-ner", str(tmp_path / "none.jsonl")])
    assert r.exit_code == 2


@pytest.mark.skipif(not (DEFAULT_MODEL / "config.cfg").is_file(), reason="models/ner not built")
def test_eval_ner_maps_corpus_labels(tmp_path):
    f = tmp_path / "mine.jsonl"
    text = "患者因直肠癌行直肠癌根治术，术后予奥沙利铂化疗。"
    ents = [{"start": 3, "end": 6, "label": "疾病和诊断"}, {"start": 7, "end": 13, "label": "手术"},
            {"start": 17, "end": 21, "label": "药物"}]
    f.write_text(json.dumps({"id": "1", "text": text, "entities": ents}, ensure_ascii=False) + "\n{bad\n", encoding="utf-8")
    r = runner.invoke(app, ["nlp", "eval-ner", str(f), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output[r.output.index("{"):])
    assert set(out["labels"]) == {"DISEASE", "OPERATION", "DRUG"}
    assert out["documents"] == 1 and len(out["skipped_rows"]) == 1
    assert out["micro"]["tp"] + out["micro"]["fn"] == 3
