"""`medreview train ner --from annotations/`: corrections reach the training data, held-out
corrections never train, the guard refuses a worse model, promotion switches what extraction loads.
Training runs only on a tiny generated corpus (1 epoch, tiny widths), in a temporary registry."""
import json
from pathlib import Path

import spacy
from typer.testing import CliRunner

from cli import app
from pipeline import store
from pipeline.models import registry
from pipeline.review import entities as entity_review
from pipeline.annotations.entities import export_entity_corrections, load_corrections
from pipeline.nlp import corpora, retrain
from pipeline.nlp.pipeline import NlpPipeline, model_dir
from pipeline.nlp.stage import ExtractStage

T = "2026-11-20T08:00:00+00:00"
DISEASES = ["高血压", "糖尿病", "肺炎", "胃炎", "冠心病", "肾结石", "贫血", "痛风"]
DRUGS = ["阿司匹林", "头孢曲松", "胰岛素", "奥美拉唑"]
SYMPTOMS = ["发热", "咳嗽", "腹痛", "头晕", "胸闷", "乏力"]
TINY = {"width": 16, "depth": 1, "rows": 200, "patience": 1}


def _ent(text, mention, label, after=0):
    s = text.index(mention, after)
    return {"start": s, "end": s + len(mention), "label": label}


def _corpus_dir(tmp_path):
    d = tmp_path / "data"
    (d / "yidu-s4k").mkdir(parents=True)
    (d / "ccks2017-cner").mkdir()
    rows = []
    for i in range(20):
        dis, drug = DISEASES[i % 8], DRUGS[i % 4]
        t = f"第{i}例患者因{dis}入院，予{drug}口服。"
        rows.append({"id": f"y{i}", "text": t, "entities": [_ent(t, dis, "疾病和诊断"), _ent(t, drug, "药物")]})
    (d / "yidu-s4k" / "train.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    rows = []
    for i in range(20):
        sym = SYMPTOMS[i % 6]
        t = f"病例{i}诉{sym}，查血常规。"
        rows.append({"id": f"c{i}", "record_id": f"r{i // 2}", "text": t,
                     "entities": [_ent(t, sym, "症状和体征"), _ent(t, "血常规", "检查和检验")]})
    (d / "ccks2017-cner" / "train.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return d


def _section_texts():
    return [f"第{i}床{SYMPTOMS[i % 6]}伴{DISEASES[(i + 3) % 8]}，予{DRUGS[i % 4]}。" for i in range(15)]


def _annotations(tmp_path, extra_texts=()):
    """An annotations folder written by the export code from reviewer 'add' corrections."""
    texts = _section_texts() + list(extra_texts)
    db = store.connect(tmp_path / "audit.db")
    with store.transaction(db):
        store.insert_many(db, "hospitals", [{"id": "H1", "name": "青山县人民医院", "created_at": T}])
        store.insert_many(db, "records", [
            {"id": i, "sha256": f"s{i}", "source_path": f"/b/{i}.pdf", "kind": "pdf", "hospital_id": "H1",
             "admission_no": f"ZY{i}", "stage": "scored", "created_at": T, "updated_at": T} for i in range(1, len(texts) + 1)])
        store.insert_many(db, "sections", [
            {"id": i, "record_id": i, "seq": 1, "name": "现病史", "text": t} for i, t in enumerate(texts, 1)])
    for i, t in enumerate(texts, 1):
        for mention, label in _gold_mentions(t):
            s = t.index(mention)
            entity_review.correct(db, "reviewer", i, "add", section_id=i, start=s, end=s + len(mention), label=label)
    export_entity_corrections(db, tmp_path / "annotations")
    return tmp_path / "annotations"


def _gold_mentions(t):
    out = [(w, "SYMPTOM") for w in SYMPTOMS if w in t] + [(w, "DISEASE") for w in DISEASES if w in t]
    return out + [(w, "DRUG") for w in DRUGS if w in t]


def test_corrections_reach_training_and_heldout_never_trains(tmp_path):
    data = _corpus_dir(tmp_path)
    yidu_train, yidu_held = corpora.load_split("yidu-s4k", data)
    leak = yidu_held[0].text                              # a correction of a base held-out text
    replaced = yidu_train[0].text                         # a correction of a base training text
    rows = load_corrections(_annotations(tmp_path, [leak, replaced]))
    docs = retrain.correction_docs(rows)
    train, held = retrain.split_corrections(docs)
    assert train and held                                 # 15+ sections: both sides are populated
    assert all(retrain.is_heldout(d.text) for d in held) and not any(retrain.is_heldout(d.text) for d in train)
    base_train = {"yidu-s4k": yidu_train, "ccks2017-cner": corpora.load_split("ccks2017-cner", data)[0]}
    base_held = {"yidu-s4k": yidu_held, "ccks2017-cner": corpora.load_split("ccks2017-cner", data)[1]}
    from pipeline.nlp.train import COMPONENTS

    sets, stats = retrain.training_sets(base_train, base_held, train, COMPONENTS)
    held_texts = {d.text for d in held} | {d.text for d in base_held["yidu-s4k"]}
    for name, docs_ in sets.items():
        assert not held_texts & {d.text for d in docs_}, name
    usable = [d for d in train if d.text != leak]
    assert stats["corrections_train"] == len(usable)
    yidu = {d.text: d for d in sets["ner"]}
    ccks = {d.text: d for d in sets["ner_ccks2017"]}
    assert any(ccks[d.text].entities for d in usable)
    for d in usable:
        # each component learns the reviewer's spans with the labels its corpus knows
        assert yidu[d.text].entities == [e for e in d.entities if e[2] in {"DISEASE", "DRUG"}] != []
        assert ccks[d.text].entities == [e for e in d.entities if e[2] in {"SYMPTOM", "EXAM"}]
    if replaced in {d.text for d in usable}:
        # the reviewer's version replaces the corpus's for that text
        assert [d.corpus for d in sets["ner"] if d.text == replaced] == [retrain.CORRECTIONS]
        assert stats["ner_base_replaced"] == 1


def test_nested_corrections_reach_the_head_whose_corpus_labels_them():
    from pipeline.nlp.train import COMPONENTS

    t = "腰椎CT示胸痛"
    row = {"key": "k", "text": t, "corrected_at": T,
           "entities": [_ent(t, "腰椎CT", "EXAM"), _ent(t, "胸痛", "SYMPTOM")],
           "nested": [_ent(t, "腰椎CT", "IMAGING"), _ent(t, "胸", "ANATOMY"), _ent(t, "腰椎", "ANATOMY")]}
    docs = retrain.correction_docs([row])
    # the base corpora only tell each head which labels it learns
    base_train = {"yidu-s4k": [corpora.NerDoc("y", "胸，CT", [(0, 1, "ANATOMY"), (2, 4, "IMAGING")], "y")],
                  "ccks2017-cner": [corpora.NerDoc("c", "胸，胸痛，查体", [(0, 1, "ANATOMY"), (2, 4, "SYMPTOM"), (5, 7, "EXAM")], "c")]}
    sets, _ = retrain.training_sets(base_train, {"yidu-s4k": [], "ccks2017-cner": []}, docs, COMPONENTS)
    got = {name: [(t[s:e], label) for s, e, label in ds[-1].entities] for name, ds in sets.items()}
    # Yidu-S4K labels the CT as IMAGING and body parts everywhere; the CCKS 2017 head learns the outer
    # EXAM and SYMPTOM spans (the longer span wins among its labels), not the body parts inside them
    assert got["ner"] == [("腰椎CT", "IMAGING"), ("胸", "ANATOMY")]
    assert got["ner_ccks2017"] == [("腰椎CT", "EXAM"), ("胸痛", "SYMPTOM")]


def _stage_version():
    """The model version the extract stage (default model) stamps on its entities."""
    task = {"record_id": 1, "model_dir": None,
            "sections": [{"id": 1, "name": "现病史", "text": "患者因高血压入院，一级护理。", "page_id": None, "lines": []}]}
    rows = next(ExtractStage().work(task, {}))["rows"]
    assert rows, "the ruler pattern 一级护理 always yields an entity"
    return rows[0]["model_version"]


def _oracle(model_path, heldout_docs, out):
    """The model with every held-out gold span as a ruler pattern: better than any 1-epoch model."""
    nlp = spacy.load(model_path)
    pats = {(d.text[s:e], label) for d in heldout_docs for s, e, label in d.entities}
    nlp.get_pipe("entity_ruler").add_patterns([{"label": l, "pattern": [{"ORTH": c} for c in m]} for m, l in pats])
    nlp.to_disk(out)
    (out / "model.sha256").write_text("oracle\n")
    return out


def test_register_promote_guard_and_extract_stage_loads_promoted(tmp_path, monkeypatch):
    data = _corpus_dir(tmp_path)
    ann = _annotations(tmp_path)
    models = tmp_path / "models"
    monkeypatch.setenv("MEDREVIEW_MODELS", str(models))
    monkeypatch.delenv("MEDREVIEW_NER_MODEL", raising=False)
    shipped = model_dir()                                 # nothing promoted in this registry: models/ner

    first = retrain.retrain_ner(ann, data_dir=data, max_epochs=1, workers=1, train_options=TINY)
    assert first["promoted"] and first["baseline"] is None
    card = first["card"]
    assert card["path"].startswith(str(models / "ner")) and card["parent"] is None
    assert card["notes"]["annotations_version"] == json.loads((ann / "entity_corrections" / "manifest.json").read_text())["latest"]
    assert {"f1", "f1_ccks2017", "f1_corrections"} <= set(card["metrics"]) and card["heldout_hash"] and card["data_hash"]
    c_train, c_held = retrain.split_corrections(retrain.correction_docs(load_corrections(ann)))
    info = json.loads((Path(card["path"]) / "train_info.json").read_text(encoding="utf-8"))
    assert info["stats"]["corrections_train"] == card["metrics"]["n_corrections_train"] == len(c_train)
    assert card["metrics"]["n_corrections_heldout"] == len(c_held) > 0
    assert model_dir() == registry.current_path("ner") != shipped
    assert _stage_version() == NlpPipeline(card["path"]).version

    # An incumbent that knows every held-out span: a 1-epoch retrain is worse and is refused.
    rows = load_corrections(ann)
    held = [d for docs in (corpora.load_split(c, data)[1] for c in ("yidu-s4k", "ccks2017-cner")) for d in docs]
    held += retrain.split_corrections(retrain.correction_docs(rows))[1]
    staging = _oracle(card["path"], held, registry.staging_dir("ner"))
    oracle = registry.get("ner", registry.register("ner", staging, metrics={"f1": 1.0})["version"])
    registry.promote("ner", oracle["version"], force=True)
    assert _stage_version() == NlpPipeline(oracle["path"]).version != NlpPipeline(card["path"]).version
    r = CliRunner().invoke(app, ["train", "ner", "--from", str(ann), "--data-dir", str(data), "--max-epochs", "1",
                                 "--workers", "1"])
    assert r.exit_code == 1, r.output
    assert "拒绝发布" in r.output
    assert registry.current_version("ner") == oracle["version"]
    assert model_dir() == registry.current_path("ner")
    refused = [c for c in registry.list_versions("ner") if c["parent"] == oracle["version"]]
    assert len(refused) == 1 and refused[0]["baseline"]["f1"] > refused[0]["metrics"]["f1"]
    assert refused[0]["heldout_hash"] == card["heldout_hash"]  # same held-out parts as the first version

    # --force promotes it anyway, and extraction switches to it; $MEDREVIEW_NER_MODEL still wins.
    registry.promote("ner", refused[0]["version"], force=True)
    assert _stage_version() == NlpPipeline(refused[0]["path"]).version != NlpPipeline(oracle["path"]).version
    monkeypatch.setenv("MEDREVIEW_NER_MODEL", card["path"])
    assert model_dir() == Path(card["path"])


def test_separate_encoders_ignore_a_pretraining_option(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDREVIEW_MODELS", str(tmp_path / "models"))
    res = retrain.retrain_ner(_annotations(tmp_path), data_dir=_corpus_dir(tmp_path), max_epochs=1, workers=1,
                              shared=False, train_options=dict(TINY, pretrain_epochs=2))
    info = json.loads((Path(res["card"]["path"]) / "train_info.json").read_text(encoding="utf-8"))
    assert [c["component"] for c in info["components"]] == ["ner", "ner_ccks2017"]
    assert not any("pretrain" in c for c in info["components"])


def test_no_corrections_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDREVIEW_MODELS", str(tmp_path / "models"))
    r = CliRunner().invoke(app, ["train", "ner", "--from", str(tmp_path / "nothing"), "--data-dir", str(tmp_path)])
    assert r.exit_code == 2 and "错误" in r.output
