import json

import pytest

from pipeline.nlp import corpora


def _write(tmp_path, rows):
    p = tmp_path / "c.jsonl"
    p.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return p


def test_reader_maps_labels_and_reports_bad_rows(tmp_path):
    p = _write(tmp_path, [
        {"id": "a", "text": "患者高血压", "entities": [{"start": 2, "end": 5, "label": "疾病和诊断", "mention": "高血压"}]},
        {"id": "b", "text": "短", "entities": [{"start": 0, "end": 9, "label": "疾病和诊断"}]},
        "not json",
        {"id": "c", "text": "阿司匹林", "entities": [{"start": 0, "end": 4, "label": "药物", "mention": "阿司匹"}]},
    ])
    errors = []
    docs = corpora.read_ner_jsonl(p, "yidu-s4k", errors)
    assert [d.id for d in docs] == ["a"]
    assert docs[0].entities == [(2, 5, "DISEASE")]
    assert len(errors) == 3 and all(str(p) in e for e in errors)
    assert ":2:" in errors[0] and ":4:" in errors[2]


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(corpora.CorpusError):
        corpora.read_ner_jsonl(tmp_path / "none.jsonl")


def test_split_is_fixed_grouped_and_80_20():
    docs = [corpora.NerDoc(f"d{i}", "x", [], group=f"p{i // 3}") for i in range(300)]
    train, held = corpora.split_docs(docs)
    train2, held2 = corpora.split_docs(list(reversed(docs)))
    assert {d.id for d in held} == {d.id for d in held2}  # independent of input order
    assert len(held) == 60 and len(train) == 240
    assert not ({d.group for d in train} & {d.group for d in held})  # a patient stays on one side


def test_chunks_keep_every_entity_and_offsets():
    text = "患者无发热。" * 30 + "诊断为高血压。"
    s = text.index("高血压")
    doc = corpora.NerDoc("d", text, [(3, 5, "SYMPTOM"), (s, s + 3, "DISEASE")])
    pieces = corpora.chunk_doc(doc, max_len=40)
    assert len(pieces) > 1
    assert "".join(p.text for p in pieces) == text
    got = [(p.text[a:b], l) for p in pieces for a, b, l in p.entities]
    assert got == [("发热", "SYMPTOM"), ("高血压", "DISEASE")]


def test_near_copies_found_and_different_text_not():
    base = "患者3月前因直肠癌于我院行直肠癌根治术，术后恢复好，切口愈合良好，现为进一步治疗入院。"
    ref = [corpora.NerDoc("y1", base, [])]
    edited = corpora.NerDoc("c1", base.replace("于我院", "于在我院").replace("良好", "佳"), [])
    other = corpora.NerDoc("c2", "反复咳嗽咳痰十年，加重伴气促三天，门诊以慢性阻塞性肺疾病收入院。", [])
    assert corpora.near_copies([edited, other], ref) == {"c1"}


def test_cdn_reader(tmp_path):
    p = tmp_path / "cdn.json"
    p.write_text(json.dumps([{"text": "高血压冠心病", "normalized_result": "高血压##冠状动脉粥样硬化性心脏病"}, {"x": 1}], ensure_ascii=False), encoding="utf-8")
    items = corpora.read_cdn(p)
    assert len(items) == 1 and items[0].names == ["高血压", "冠状动脉粥样硬化性心脏病"]


@pytest.mark.data
def test_shared_corpora_split_without_yidu_leak():
    d = corpora.shared_data_dir()
    if not (d / corpora.CORPORA["ccks2018-cner"]).is_file():
        pytest.skip("shared data not present")
    y_train, y_held = corpora.split_docs(corpora.read_ner_jsonl(d / corpora.CORPORA["yidu-s4k"], "yidu-s4k"))
    c_train, c_held = corpora.load_split("ccks2018-cner", d)
    assert not corpora.near_copies(c_train, y_held)
    assert not corpora.near_copies(c_held, y_train)
    assert len(y_held) == 200
