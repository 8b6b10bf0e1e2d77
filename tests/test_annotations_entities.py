"""Entity-correction export: JSONL <-> DocBin round trip, content-hash versions, de-duplication,
merge across batches, masking, readable by the NER corpus reader."""
import json

import pytest
import spacy
from spacy.tokens import DocBin

from pipeline import store
from pipeline.review import entities as entity_review
from pipeline.annotations import AnnotationError
from pipeline.annotations.entities import (SCHEMA, correction_rows, export_entity_corrections,
                                           load_corrections)
from pipeline.nlp.corpora import read_ner_jsonl

T = "2026-11-20T08:00:00+00:00"
TEXT = "患者王小明，身份证110101199001011234，诉发热3天，无咳嗽，予头孢曲松静滴。"


def _build(db_path, prefix="s"):
    d = store.connect(db_path)
    with store.transaction(d):
        store.insert_many(d, "hospitals", [{"id": "H1", "name": "青山县人民医院", "created_at": T}])
        store.insert_many(d, "records", [
            {"id": i, "sha256": f"{prefix}{i}", "source_path": f"/b/{i}.pdf", "kind": "pdf", "hospital_id": "H1",
             "admission_no": f"ZY{i}", "stage": "scored", "created_at": T, "updated_at": T} for i in (1, 2)])
        store.insert_many(d, "fields", [{"record_id": 1, "name": "patient_name", "seq": 0, "value": "王小明"}])
        store.insert_many(d, "sections", [
            {"id": i, "record_id": i, "seq": 1, "name": "现病史", "text": TEXT} for i in (1, 2)])
        ents = [("SYMPTOM", "发热"), ("SYMPTOM", "咳嗽"), ("DRUG", "头孢曲松")]
        store.insert_many(d, "entities", [
            {"id": 10 * s + k, "record_id": s, "section_id": s, "seq": k, "label": lab, "text": t,
             "start": TEXT.index(t), "end": TEXT.index(t) + len(t)} for s in (1, 2) for k, (lab, t) in enumerate(ents)])
    return d


@pytest.fixture
def db(db_path):
    d = _build(db_path)
    entity_review.correct(d, "a", 1, "set-attribute", entity="e11", attributes={"negated": True})
    entity_review.correct(d, "a", 1, "relabel", entity="e12", label="TREATMENT")
    s = TEXT.index("3天")
    entity_review.correct(d, "a", 1, "add", section_id=1, start=s, end=s + 2, label="EXAM")
    entity_review.correct(d, "a", 1, "remove", entity="e10")
    return d


def test_rows_hold_the_corrected_section_masked(db):
    rows = correction_rows(db)
    assert len(rows) == 1                                  # record 2 was not corrected
    row = rows[0]
    assert row["schema"] == SCHEMA and row["record_sha256"] == "s1" and row["corrected_by"] == ["a"]
    assert "王小明" not in row["text"] and "王**" in row["text"] and "110101********1234" in row["text"]
    assert len(row["text"]) == len(TEXT)
    got = [(e["mention"], e["label"], e["negated"], e["source"]) for e in row["entities"]]
    assert got == [("3天", "EXAM", 0, "reviewer"), ("咳嗽", "SYMPTOM", 1, "model"), ("头孢曲松", "TREATMENT", 0, "model")]
    assert all(row["text"][e["start"]:e["end"]] == e["mention"] for e in row["entities"])
    assert "王小明" in correction_rows(db, mask=False)[0]["text"]


def test_jsonl_and_docbin_round_trip(db, tmp_path):
    res = export_entity_corrections(db, tmp_path / "annotations")
    assert res["new"] and res["rows"] == 1 and res["path"].name == f"{res['version']}.jsonl"
    assert res["docbin"].name == f"{res['version']}.spacy"
    rows = load_corrections(tmp_path / "annotations")
    assert rows == correction_rows(db)
    docs = list(DocBin().from_disk(res["docbin"]).get_docs(spacy.blank("zh").vocab))
    assert len(docs) == len(rows)
    for doc, row in zip(docs, rows):
        assert doc.text == row["text"] and len(doc) == len(row["text"])          # one token per character
        assert [(s.start_char, s.end_char, s.label_) for s in doc.ents] == \
            [(e["start"], e["end"], e["label"]) for e in row["entities"]]
        assert doc.user_data["medreview"]["key"] == row["key"]
    # The JSONL is in the shared NER schema: the corpus reader takes it as it is.
    errors = []
    ner = read_ner_jsonl(res["path"], errors=errors)
    assert not errors and ner[0].entities == [(e["start"], e["end"], e["label"]) for e in rows[0]["entities"]]


def test_versions_by_content_hash_and_dedup(db, tmp_path):
    out = tmp_path / "annotations"
    first = export_entity_corrections(db, out)
    again = export_entity_corrections(db, out)
    assert not again["new"] and again["version"] == first["version"]
    assert sorted(p.name for p in (out / "entity_corrections").iterdir()) == sorted(
        [f"{first['version']}.jsonl", f"{first['version']}.spacy", "manifest.json"])
    entity_review.correct(db, "a", 1, "set-attribute", entity="e11", attributes={"uncertain": True})
    second = export_entity_corrections(db, out)
    assert second["new"] and second["parent"] == first["version"]
    assert (second["rows"], second["changed"], second["added"], second["removed"]) == (1, 1, 0, 0)
    manifest = json.loads((out / "entity_corrections" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["latest"] == second["version"] and [v["version"] for v in manifest["versions"]] == \
        [first["version"], second["version"]]
    # Another batch's corrections are merged in; this batch's row is carried over, once.
    other = _build(tmp_path / "other.db", prefix="t")
    entity_review.correct(other, "b", 2, "remove", entity="e20")
    third = export_entity_corrections(other, out)
    assert third["rows"] == 2 and third["added"] == 1
    assert sorted(r["record_sha256"] for r in load_corrections(out)) == ["s1", "t2"]


def test_empty_and_tampered(db_path, tmp_path):
    d = _build(db_path)
    res = export_entity_corrections(d, tmp_path / "a")
    assert not res["new"] and not (tmp_path / "a" / "entity_corrections").exists()
    entity_review.correct(d, "a", 1, "remove", entity="e10")
    res = export_entity_corrections(d, tmp_path / "a")
    res["path"].write_text(res["path"].read_text(encoding="utf-8").replace("咳嗽", "咳痰"), encoding="utf-8")
    with pytest.raises(AnnotationError):
        load_corrections(tmp_path / "a")


def test_overlapping_model_spans_are_resolved(db_path, tmp_path):
    d = _build(db_path)
    s = TEXT.index("头孢")
    with store.transaction(d):
        store.insert_many(d, "entities", [{"id": 99, "record_id": 2, "section_id": 2, "seq": 9, "label": "DRUG",
                                           "text": "头孢", "start": s, "end": s + 2}])
        store.insert_many(d, "entities", [{"id": 98, "record_id": 2, "section_id": 2, "seq": 8, "label": "TREATMENT",
                                           "text": "曲松静滴", "start": s + 2, "end": s + 6}])
    entity_review.correct(d, "a", 2, "relabel", entity="e99", label="TREATMENT")
    row = correction_rows(d)[0]
    assert [e["mention"] for e in row["entities"]] == ["发热", "咳嗽", "头孢曲松"]      # the longer span wins
    # a span wholly inside a winner is kept apart (the pipeline's nested pairs); one cutting across is dropped
    assert [(e["mention"], e["label"]) for e in row["nested"]] == [("头孢", "TREATMENT")]
    res = export_entity_corrections(d, tmp_path / "a")
    doc = next(DocBin().from_disk(res["docbin"]).get_docs(spacy.blank("zh").vocab))
    assert [s.text for s in doc.ents] == ["发热", "咳嗽", "头孢曲松"]
    assert [(s.text, s.label_) for s in doc.spans["nested"]] == [("头孢", "TREATMENT")]
    assert load_corrections(tmp_path / "a")[0]["nested"] == row["nested"]
