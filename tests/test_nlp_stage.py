"""The extract stage on a hand-made record, with the shipped model (skipped when it is absent)."""
import pytest

from pipeline import store
from pipeline.nlp.pipeline import DEFAULT_MODEL
from pipeline.nlp.stage import ExtractStage
from pipeline.record.lines import line_for, line_offsets
from pipeline.run import run_stage

needs_model = pytest.mark.skipif(not (DEFAULT_MODEL / "config.cfg").is_file(), reason="models/ner not built")


def test_line_offsets_map_spans_to_lines():
    text = "否认高血压病史\n否认糖尿病病史"
    offs = line_offsets(text, [(10, "既往史："), (11, "否认高血压病史"), (12, "否认糖尿病病史")])
    assert offs == [(0, 11), (8, 12)]  # the header line is not in the section text
    assert line_for(offs, text.index("糖尿病")) == 12
    assert line_for(offs, 2) == 11
    assert line_for([], 3) is None
    # header and content on one line, the header cut from the section text
    assert line_offsets("腹痛3天", [(7, "主诉：腹痛3天")]) == [(0, 7)]
    # nothing recognisable: the section's first line
    assert line_offsets("改写后的文本", [(9, "原文"), (10, "另一行")]) == [(0, 9)]


def _record(db):
    now = store.now()
    with store.transaction(db):
        rid = store.insert_one(db, "records", {"sha256": "s1", "source_path": "/b/H/r.pdf", "kind": "pdf",
                                               "stage": "segmented", "created_at": now, "updated_at": now})
        pid = store.insert_one(db, "pages", {"record_id": rid, "page_no": 1, "source_ref": "pdf:0", "created_at": now})
        texts = ["现病史：", "患者3天前无明显诱因出现发热，伴咳嗽，无胸痛。", "既往史：", "高血压病史10年，口服硝苯地平。", "否认糖尿病病史。"]
        ids = [store.insert_one(db, "lines", {"page_id": pid, "line_no": i, "text": t}) for i, t in enumerate(texts)]
        store.insert_one(db, "sections", {"record_id": rid, "seq": 0, "name": "现病史", "text": texts[1],
                                          "page_id": pid, "line_start": ids[0], "line_end": ids[1]})
        store.insert_one(db, "sections", {"record_id": rid, "seq": 1, "name": "既往史", "text": texts[3] + "\n" + texts[4],
                                          "page_id": pid, "line_start": ids[2], "line_end": ids[4]})
    return rid, ids


@needs_model
def test_stage_writes_entities_with_attributes_and_links(db_path):
    db = store.connect(db_path)
    rid, line_ids = _record(db)
    report = run_stage(db, ExtractStage, workers=1, executor="inline")
    assert report.done == 1, report.failures
    rows = list(db.query("SELECT * FROM entities WHERE record_id = ? ORDER BY seq", [rid]))
    assert rows, "no entities"
    by_text = {r["text"]: r for r in rows}
    sec_text = {s["id"]: s["text"] for s in db.query("SELECT id, text FROM sections")}
    for r in rows:
        assert sec_text[r["section_id"]][r["start"]:r["end"]] == r["text"]
        assert r["line_id"] in line_ids and r["page_id"] is not None and r["model_version"]
    hist = [r for r in rows if r["line_id"] == line_ids[3]]
    assert hist and all(r["historical"] for r in hist)  # 既往史 default
    if "糖尿病" in by_text:
        assert by_text["糖尿病"]["negated"] and by_text["糖尿病"]["line_id"] == line_ids[4]
    if "高血压" in by_text:
        assert by_text["高血压"]["code"]
    # re-running replaces instead of duplicating
    db.execute("UPDATE records SET stage = 'segmented' WHERE id = ?", [rid])
    run_stage(db, ExtractStage, workers=1, executor="inline")
    assert db.execute("SELECT COUNT(*) FROM entities WHERE record_id = ?", [rid]).fetchone()[0] == len(rows)


@needs_model
def test_extract_entities_from_a_string():
    from pipeline.nlp.pipeline import extract_entities

    ents = extract_entities("否认高血压、糖尿病病史，入院后予一级护理。", section="既往史")
    labels = {(e.text, e.label) for e in ents}
    assert ("一级护理", "NURSING_LEVEL") in labels
    for e in ents:
        if e.label == "DISEASE":
            assert e.negated and e.historical


@needs_model
def test_numpy_blas_changes_the_speed_not_the_entities():
    import spacy

    from pipeline.nlp.pipeline import NlpPipeline

    fast = NlpPipeline(DEFAULT_MODEL).nlp
    assert all(not node.ops.use_blis for _, c in fast.pipeline if hasattr(c, "model") for node in c.model.walk())
    default = spacy.load(DEFAULT_MODEL)   # thinc's BLIS products
    texts = ["患者3年前无明显诱因出现上腹痛，胃镜示胃体溃疡，病理：中分化腺癌。行腹腔镜下远端胃大部切除术，术后予奥沙利铂化疗。",
             "入院查体：神志清，双肺呼吸音粗，未闻及干湿啰音。血常规：白细胞12.3×10^9/L。胸部CT提示右下肺炎。"]
    ents = lambda nlp: [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe(texts)]
    got = ents(fast)
    assert any(got) and got == ents(default)
