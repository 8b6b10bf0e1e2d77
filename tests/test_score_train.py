"""`train classifier` on hand-built scored records: held-out metrics, registered and promoted in
the model registry (guard through the CLI), reviewer decisions as labels, and the scoring stage
loading whatever the registry has promoted."""
import functools
import json
import shutil

import pytest
from typer.testing import CliRunner

from cli import app
from pipeline import store
from pipeline.models import registry
from pipeline.annotations import export_decisions
from pipeline.annotations.simulate import simulate_reviewer
from pipeline.commands import train as train_commands
from pipeline.rules import knowledge
from pipeline.run import run_stage
from pipeline.score import train
from pipeline.score.stage import ScoreStage
from test_score_stage import add_record, score_all

runner = CliRunner()


@pytest.fixture
def root(tmp_path, monkeypatch):
    """An empty registry for the scoring stage and the trainer (never the repository's models/)."""
    path = tmp_path / "models"
    monkeypatch.setenv("MEDREVIEW_MODELS", str(path))
    return path


def label(i, bad):
    return {"admission_no": f"A{i}", "hospital_id": "H1",
            "violations": [{"type": "drug_restriction", "amount": 3.6}] if bad else []}


def write_labels(path, rows):
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in rows), encoding="utf-8")
    return path


def batch(db_path, tmp_path, n=16):
    db = store.connect(db_path)
    labels = []
    for i in range(n):
        bad = i % 2 == 0
        extra = [("2024-03-03", "黄体酮注射液", "西药费", 2, 3.6)] if bad else []
        add_record(db, i, patient=f"p{i}", extra_charges=extra)
        labels.append(label(i, bad))
    labels.append({"admission_no": "NOPE", "hospital_id": "H1", "violations": []})
    score_all(db_path, db)
    return db, write_labels(tmp_path / "labels.jsonl", labels)


def rescore(db_path, db):
    db.execute("UPDATE records SET stage = 'extracted'")
    score_all(db_path, db)
    return db.execute("SELECT r.admission_no, s.model_version, s.probability, s.explanation FROM scores s"
                      " JOIN records r ON r.id = s.record_id").fetchall()


def train_cli(db_path, root, *args):
    return runner.invoke(app, ["train", "classifier", "--db", str(db_path), "--models-dir", str(root), *args])


def test_rules_until_a_classifier_is_promoted_then_the_promoted_one(db_path, tmp_path, root):
    db, labels = batch(db_path, tmp_path)
    before = rescore(db_path, db)
    assert {v for _, v, _, _ in before} == {f"rules@{v}" for v in {v.split('@', 1)[1] for _, v, _, _ in before}}
    assert all("no promoted classifier" in json.loads(e)["method"] for *_, e in before)

    res = train.train_classifier(db_path, labels, root)
    m = res["metrics"]
    # 16 labelled records, stratified 25 % held out: 2 + 2 held out, 12 to train on
    assert (m["n_heldout"], m["heldout_positives"], m["records"], m["positives"]) == (4, 2, 12, 6)
    assert m["labels_unmatched"] == 1 and m["auc"] == 1.0 and m["cv_roc_auc"] > 0.9
    assert 0 <= m["brier"] < 0.25 and m["average_precision"] == 1.0
    assert res["promoted"] and registry.current_version("classifier", root=root) == res["version"]
    folder = root / "classifier" / res["version"]
    card = json.loads((folder / "version.json").read_text(encoding="utf-8"))
    assert card["metrics"]["auc"] == 1.0 and card["parent"] is None and card["heldout_hash"] and card["data_hash"]
    assert len(json.loads((folder / train.HELDOUT_FILE).read_text())) == 4
    assert not any(p.name.startswith(".staging") for p in (root / "classifier").iterdir())
    row = db.execute("SELECT id, promoted, metrics FROM model_versions").fetchone()
    assert row[0] == res["id"] and row[1] == 1 and json.loads(row[2])["records"] == 12

    everything = rescore(db_path, db)     # scores are kept per model version: the rules' ones stay
    after = [r for r in everything if r[1] == res["id"]]
    assert len(after) == 16 and len(everything) == 32
    bad = [p for a, _, p, _ in after if int(a[1:]) % 2 == 0]
    good = [p for a, _, p, _ in after if int(a[1:]) % 2 == 1]
    assert min(bad) > max(good)
    top = json.loads(after[0][3])["top_features"]
    assert all({"feature", "value", "contribution"} <= set(t) for t in top)


def test_cli_guard_refuses_a_worse_model_and_force_promotes(db_path, tmp_path, root):
    _, labels = batch(db_path, tmp_path)
    first = train_cli(db_path, root, "--labels", str(labels))
    assert first.exit_code == 0, first.output
    assert "ROC-AUC 1.0" in first.output and "已发布" in first.output
    good = registry.current("classifier", root=root)
    held = set(json.loads((root / "classifier" / good["version"] / train.HELDOUT_FILE).read_text()))
    sha_of = {f"A{i}": f"sha{i}" for i in range(16)}
    # training labels inverted, held-out labels true: the new model ranks the held-out part backwards
    flipped = [label(i, i % 2 == 0 if sha_of[f"A{i}"] in held else i % 2 == 1) for i in range(16)]
    worse = train_cli(db_path, root, "--labels", str(write_labels(tmp_path / "flipped.jsonl", flipped)))
    assert worse.exit_code == 1, worse.output
    assert "拒绝发布" in worse.output and "auc 下降" in worse.output and "同一留出集" in worse.output
    assert registry.current_version("classifier", root=root) == good["version"]
    assert len(registry.list_versions("classifier", root=root)) == 2     # registered, not promoted

    forced = train_cli(db_path, root, "--labels", str(write_labels(tmp_path / "flipped2.jsonl", flipped[:-1])),
                       "--force")
    assert forced.exit_code == 0, forced.output
    new = registry.current("classifier", root=root)
    assert new["version"] != good["version"] and new["parent"] == good["version"]
    assert new["baseline"]["version"] == good["version"] and new["metrics"]["auc"] < new["baseline"]["auc"]
    assert registry.promotions("classifier", root=root)[-1]["forced"] is True
    # the scoring stage picks up the newly promoted version on its next run
    db = store.connect(db_path)
    assert sum(v == new["id"] for _, v, _, _ in rescore(db_path, db)) == 16


def test_reviewer_decisions_win_over_base_labels(db_path, tmp_path, root):
    db, labels = batch(db_path, tmp_path)
    rule_types = {"CH-DRUG-RESTRICTION": "drug_restriction"}
    ids = dict(db.execute("SELECT admission_no, id FROM records").fetchall())
    # the reviewer rejects the flags of A0 and A2 (base label: violation) and confirms A4..A14
    truth = {ids[f"A{i}"]: (set() if i in (0, 2) else {"drug_restriction"}) for i in range(0, 16, 2)}
    assert simulate_reviewer(db, truth, rule_types, 100) == 8
    export_decisions(db, tmp_path / "annotations")

    merged = train.collect_labels(db, train.ScoreStage(db_path=str(db_path)), labels, tmp_path / "annotations")
    assert merged.from_annotations == 8 and merged.unmatched == 1 and len(merged.y) == 16
    assert merged.y[ids["A0"]] == 0 and merged.y[ids["A2"]] == 0 and merged.y[ids["A4"]] == 1
    assert merged.types[ids["A4"]] == {"drug_restriction"} and merged.types[ids["A0"]] == set()
    assert sum(merged.y.values()) == 6

    res = train_cli(db_path, root, "--labels", str(labels), "--from", str(tmp_path / "annotations"))
    assert res.exit_code == 0, res.output
    card = registry.current("classifier", root=root)
    assert card["metrics"]["annotated_records"] == 8
    assert card["metrics"]["positives"] + card["metrics"]["heldout_positives"] == 6
    assert card["notes"]["labels"]["annotations"] and card["notes"]["labels"]["labels"]

    only = train.collect_labels(db, train.ScoreStage(db_path=str(db_path)), None, tmp_path / "annotations")
    assert set(only.y) == set(truth) and sum(only.y.values()) == 6


def test_bad_inputs_are_clear_errors(db_path, tmp_path, root):
    store.connect(db_path)
    p = tmp_path / "labels.jsonl"
    p.write_text('{"admission_no": "A1", "violations": []}\nnot json\n', encoding="utf-8")
    with pytest.raises(train.TrainError, match="labels.jsonl:2"):
        train.train_classifier(db_path, p, root)
    assert train_commands.train_classifier(db_path, p, root, None) == 2
    res = train_cli(db_path, root)
    assert res.exit_code == 2 and "--labels" in res.output
    res = train_cli(db_path, root, "--from", str(tmp_path / "nowhere"))
    assert res.exit_code == 2 and "nowhere" in res.output
    assert registry.list_versions(root=root) == []


def test_too_few_labels_for_a_held_out_part(db_path, tmp_path, root):
    _, _ = batch(db_path, tmp_path, n=4)
    few = write_labels(tmp_path / "few.jsonl", [label(i, i % 2 == 0) for i in range(4)])
    with pytest.raises(train.TrainError, match="标签太少"):
        train.train_classifier(db_path, few, root)
    assert registry.list_versions(root=root) == []


def test_run_mirrors_the_registry_and_passes_the_rules_override(db_path, tmp_path, root):
    import yaml

    db, labels = batch(db_path, tmp_path)
    res = train.train_classifier(db_path, labels, root)
    other = tmp_path / "other.db"
    odb = store.connect(other)
    add_record(odb, 0, extra_charges=[("2024-03-03", "黄体酮注射液", "西药费", 2, 3.6)])
    bad = tmp_path / "bad_region.yaml"
    bad.write_text(yaml.safe_dump({"region": "某县", "rules": {"NO-SUCH-RULE": {"enabled": False}}}), encoding="utf-8")
    out = runner.invoke(app, ["run", "--db", str(other), "--stages", "score", "--executor", "inline",
                              "--rules-override", str(bad)])
    assert out.exit_code == 2 and "bad_region.yaml" in out.output
    assert odb.execute("SELECT COUNT(*) FROM scores").fetchone()[0] == 0

    region = tmp_path / "region.yaml"
    region.write_text(yaml.safe_dump({"region": "某县", "rules": {"CH-DRUG-RESTRICTION": {"enabled": False}}}),
                      encoding="utf-8")
    out = runner.invoke(app, ["run", "--db", str(other), "--stages", "score", "--executor", "inline",
                              "--rules-override", str(region)])
    assert out.exit_code == 0, out.output
    assert odb.execute("SELECT COUNT(*) FROM flags WHERE rule_id = 'CH-DRUG-RESTRICTION'").fetchone()[0] == 0
    assert json.loads(odb.execute("SELECT params FROM runs").fetchone()[0])["rules_override"] == str(region)
    # the batch mirrors the registry: the promoted classifier, and the score names it
    assert odb.execute("SELECT id FROM model_versions WHERE promoted = 1").fetchall() == [(res["id"],)]
    assert odb.execute("SELECT model_version FROM scores").fetchall() == [(res["id"],)]


def _age_scoring(db, old="2020.01.1"):
    """Make the batch look scored under an older catalogue: its flags and stays carry ``old``."""
    db.execute("UPDATE flags SET catalogue_version = ?", (old,))
    db.execute("UPDATE stays SET catalogue_version = ?", (old,))


@pytest.mark.parametrize("legacy", [False, True], ids=["recorded", "legacy-null"])
def test_training_refuses_records_scored_under_another_catalogue_until_rescored(db_path, tmp_path, root, legacy):
    db, labels = batch(db_path, tmp_path)
    version = db.execute("SELECT DISTINCT catalogue_version FROM stays").fetchall()
    assert len(version) == 1 and version[0][0]
    _age_scoring(db)
    if legacy:   # stays written before the version column existed: judged by their flags
        db.execute("UPDATE stays SET catalogue_version = NULL")
    with pytest.raises(train.TrainError, match="--rescore") as exc:
        train.train_classifier(db_path, labels, root)
    # recorded versions name all 16; legacy stays are known stale only by their flags (8 flagged records)
    assert "2020.01.1" in str(exc.value) and str(exc.value).startswith("8 " if legacy else "16 ")
    assert not (root / "classifier").exists()

    res = runner.invoke(app, ["run", "--db", str(db_path), "--stages", "score", "--rescore", "--executor", "inline"])
    assert res.exit_code == 0, res.output
    assert "rescoring 16" in res.output
    assert {r[0] for r in db.execute("SELECT DISTINCT catalogue_version FROM stays")} == {version[0][0]}
    res = train.train_classifier(db_path, labels, root)
    assert res["metrics"]["auc"] == 1.0 and res["promoted"]


@pytest.mark.parametrize("edit", ["bump", "no-bump"])
def test_training_refuses_records_scored_under_other_knowledge_until_rescored(db_path, tmp_path, root, edit):
    """Records scored with other knowledge tables (an edited copy, its version bumped or not) are
    stale for training under the packaged tables until they are rescored."""
    db, labels = batch(db_path, tmp_path)
    kb_dir = tmp_path / "kb"
    shutil.copytree(knowledge.KNOWLEDGE_DIR, kb_dir)
    table = kb_dir / "drug_indications.yaml"
    text = table.read_text(encoding="utf-8")
    table.write_text(text.replace("version: 1", "version: 2") if edit == "bump"
                     else text + "  - drug: {names: [某新药]}\n    requires_any: [{icd: [Z99]}]\n", encoding="utf-8")
    packaged = ScoreStage(db_path=str(db_path)).rules().version
    edited = ScoreStage(db_path=str(db_path), knowledge_dir=str(kb_dir)).rules().version
    assert edited != packaged and edited.split("+kb.")[0] == packaged.split("+kb.")[0]

    db.execute("UPDATE records SET stage = 'extracted'")
    run_stage(db, functools.partial(ScoreStage, db_path=str(db_path), knowledge_dir=str(kb_dir)), executor="inline")
    assert {r[0] for r in db.execute("SELECT DISTINCT catalogue_version FROM stays")} == {edited}
    assert {r[0] for r in db.execute("SELECT DISTINCT catalogue_version FROM flags")} == {edited}
    assert f"rules@{edited}" in {r[0] for r in db.execute("SELECT model_version FROM scores")}
    ids = [r[0] for r in db.execute("SELECT id FROM records")]
    assert train.stale_records(db, packaged, ids) == {rid: edited for rid in ids}
    with pytest.raises(train.TrainError, match="--rescore") as exc:
        train.train_classifier(db_path, labels, root)
    assert str(exc.value).startswith("16 ") and edited in str(exc.value)
    assert not (root / "classifier").exists()

    res = runner.invoke(app, ["run", "--db", str(db_path), "--stages", "score", "--rescore", "--executor", "inline"])
    assert res.exit_code == 0, res.output
    assert "rescoring 16" in res.output
    assert train.stale_records(db, packaged, ids) == {}
    assert train.train_classifier(db_path, labels, root)["promoted"]


def test_rescore_needs_the_score_stage(db_path, tmp_path):
    db, _ = batch(db_path, tmp_path, n=2)
    res = runner.invoke(app, ["run", "--db", str(db_path), "--stages", "segment", "--rescore"])
    assert res.exit_code == 2 and "--rescore" in res.output
    assert {r[0] for r in db.execute("SELECT stage FROM records")} == {"scored"}
