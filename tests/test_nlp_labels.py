import pytest

from pipeline.nlp import labels
from pipeline.nlp.evaluate import score_names, score_spans


def test_corpus_labels_map_to_project_labels():
    assert labels.map_label("疾病和诊断", "yidu-s4k") == "DISEASE"
    assert labels.map_label("症状和体征", "ccks2017-cner") == "SYMPTOM"
    assert labels.map_label("身体部位", "ccks2017-cner") == "ANATOMY"
    assert labels.map_label("独立症状", "ccks2018-cner") == "SYMPTOM"
    assert labels.map_label("检查和检验", "ccks2017-cner") == "EXAM"
    assert labels.map_label("影像检查") == "IMAGING"  # default mapping
    assert labels.map_label("DRUG") == "DRUG"  # project labels pass through


def test_every_mapping_targets_a_known_label():
    data = labels.load_label_map()
    known = set(data["labels"])
    for corpus, mapping in data["corpora"].items():
        assert set(mapping.values()) <= known, corpus
    assert {"DISEASE", "OPERATION", "ANATOMY", "DRUG", "IMAGING", "LAB", "SYMPTOM", "TREATMENT", "NURSING_LEVEL"} <= known


def test_unknown_label_is_a_clear_error():
    with pytest.raises(labels.LabelMapError, match="不存在的标签|unknown entity label"):
        labels.map_label("不存在的标签", "yidu-s4k")


def test_corpus_guessed_from_path():
    assert labels.corpus_from_path("/x/shared/data/ccks2017-cner/train.jsonl") == "ccks2017-cner"
    assert labels.corpus_from_path("/tmp/mine.jsonl") is None


def test_strict_span_scoring():
    gold = [[(0, 3, "DISEASE"), (5, 7, "DRUG")]]
    pred = [[(0, 3, "DISEASE"), (5, 8, "DRUG"), (9, 10, "SYMPTOM")]]
    r = score_spans(gold, pred)
    # boundary error counts as fp + fn; SYMPTOM is not in the gold scheme, so not scored
    assert r["micro"]["tp"] == 1 and r["micro"]["fp"] == 1 and r["micro"]["fn"] == 1
    assert r["labels"]["DISEASE"]["f1"] == 1.0
    assert "SYMPTOM" not in r["labels"]


def test_coarse_gold_label_accepts_finer_predictions():
    r = score_spans([[(0, 3, "EXAM"), (4, 6, "EXAM")]], [[(0, 3, "IMAGING"), (4, 6, "LAB")]])
    assert r["micro"]["f1"] == 1.0


def test_name_scoring():
    r = score_names([["高血压", "冠心病"]], [["高血压", "糖尿病"]])
    assert (r["tp"], r["fp"], r["fn"]) == (1, 1, 1)
    assert r["f1"] == 0.5
