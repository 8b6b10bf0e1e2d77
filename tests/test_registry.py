"""Model registry: register, list, promotion guard, force, diff, database mirror."""
import json

import pytest

from pipeline import store
from pipeline.models import registry


def _model(tmp_path, name, payload):
    d = tmp_path / "train-out" / name
    d.mkdir(parents=True)
    (d / "model.bin").write_text(payload)
    return d


@pytest.fixture
def root(tmp_path):
    return tmp_path / "models"


def _reg(tmp_path, root, name, auc, heldout="H1", **kw):
    return registry.register("classifier", _model(tmp_path, name, name), metrics={"auc": auc, "n_heldout": 60},
                             heldout_hash=heldout, root=root, **kw)


def test_register_writes_card_and_lists(tmp_path, root):
    card = _reg(tmp_path, root, "a", 0.80, data_hash="D1")
    folder = root / "classifier" / card["version"]
    assert (folder / "model.bin").read_text() == "a"
    saved = json.loads((folder / "version.json").read_text())
    assert saved["metrics"]["auc"] == 0.80 and saved["data_hash"] == "D1" and saved["parent"] is None
    assert card["id"] == f"classifier@{card['version']}" and "model.bin" in card["files"]
    listed = registry.list_versions(root=root)
    assert [c["version"] for c in listed] == [card["version"]] and listed[0]["current"] is False
    assert registry.current_path("classifier", root=root) is None


def test_staging_folder_is_moved_not_copied(root):
    stage = registry.staging_dir("ner", root=root)
    (stage / "meta.json").write_text("{}")
    card = registry.register("ner", stage, metrics={"f1": 0.7}, root=root)
    assert not stage.exists() and (root / "ner" / card["version"] / "meta.json").exists()
    assert [c["version"] for c in registry.list_versions("ner", root=root)] == [card["version"]]


def test_promotion_guard_refuses_worse_model_unless_forced(tmp_path, root):
    a = _reg(tmp_path, root, "a", 0.80)
    registry.promote("classifier", a["version"], root=root)
    b = _reg(tmp_path, root, "b", 0.75)
    assert b["parent"] == a["version"]                      # trained from the current one
    with pytest.raises(registry.PromotionRefused, match="auc"):
        registry.promote("classifier", b["version"], root=root)
    assert registry.current_version("classifier", root=root) == a["version"]
    ev = registry.promote("classifier", b["version"], force=True, root=root)
    assert ev["forced"] and ev["previous"] == a["version"]
    assert registry.current_path("classifier", root=root).name == b["version"]
    c = _reg(tmp_path, root, "c", 0.83)
    ev = registry.promote("classifier", c["version"], root=root)
    assert not ev["forced"] and registry.current_version("classifier", root=root) == c["version"]
    assert [p["forced"] for p in registry.promotions("classifier", root=root)] == [False, True, False]


def test_guard_refuses_metrics_from_another_heldout_set_or_missing(tmp_path, root):
    a = _reg(tmp_path, root, "a", 0.80, heldout="H1")
    registry.promote("classifier", a["version"], root=root)
    b = _reg(tmp_path, root, "b", 0.90, heldout="H2")
    with pytest.raises(registry.PromotionRefused, match="留出集不同"):
        registry.promote("classifier", b["version"], root=root)
    c = registry.register("classifier", _model(tmp_path, "c", "c"), metrics={}, root=root)
    with pytest.raises(registry.PromotionRefused, match="没有留出集指标"):
        registry.promote("classifier", c["version"], root=root)


def test_diff_shows_metric_deltas_and_files(tmp_path, root):
    a = _reg(tmp_path, root, "a", 0.80, data_hash="D1")
    b = _reg(tmp_path, root, "b", 0.84, data_hash="D2")
    d = registry.diff("classifier", a["version"], b["version"], root=root)
    auc = next(m for m in d["metrics"] if m["name"] == "auc")
    assert auc["delta"] == pytest.approx(0.04)
    assert d["same_heldout"] and not d["same_data"]
    assert d["files"]["changed"] == ["model.bin"] and d["guard"]["allowed"]


def test_unknown_version_is_a_clear_error(root):
    with pytest.raises(registry.RegistryError, match="没有版本"):
        registry.get("classifier", "nope", root=root)


def test_database_mirror(tmp_path, root, db_path):
    db = store.connect(db_path)
    a = _reg(tmp_path, root, "a", 0.80, db=db)
    registry.promote("classifier", a["version"], root=root, db=db)
    b = _reg(tmp_path, root, "b", 0.70, db=db)
    rows = {r["id"]: r for r in db.query("SELECT * FROM model_versions")}
    assert rows[a["id"]]["promoted"] == 1 and rows[b["id"]]["promoted"] == 0
    assert rows[b["id"]]["parent"] == a["id"] and json.loads(rows[b["id"]]["metrics"])["auc"] == 0.70
    assert rows[a["id"]]["heldout_hash"] == "H1"
    assert [r["model_version"] for r in db.query("SELECT * FROM model_promotions")] == [a["id"]]
    registry.sync_db(db, root=root)   # idempotent
    assert db.execute("SELECT COUNT(*) FROM model_promotions").fetchone()[0] == 1


def test_cli_promote_refused_exit_code(tmp_path, root):
    from typer.testing import CliRunner

    from cli import app

    a = _reg(tmp_path, root, "a", 0.80)
    registry.promote("classifier", a["version"], root=root)
    b = _reg(tmp_path, root, "b", 0.70)
    run = lambda *args: CliRunner().invoke(app, ["models", *args, "--models", str(root)])  # noqa: E731
    res = run("promote", "classifier", b["version"])
    assert res.exit_code == 1 and "拒绝发布" in res.output
    assert registry.current_version("classifier", root=root) == a["version"]
    res = run("diff", "classifier", a["version"], b["version"])
    assert res.exit_code == 0 and "-0.1000" in res.output
    res = run("list")
    assert res.exit_code == 0 and b["version"] in res.output
    res = run("promote", "classifier", b["version"], "--force")
    assert res.exit_code == 0 and registry.current_version("classifier", root=root) == b["version"]


def test_cli_diff_with_batch_scores(tmp_path, root, db_path):
    from typer.testing import CliRunner

    from cli import app

    a = _reg(tmp_path, root, "a", 0.80)
    b = _reg(tmp_path, root, "b", 0.84)
    db = store.connect(db_path)
    T = "2026-11-20T08:00:00+00:00"
    with store.transaction(db):
        store.insert_many(db, "records", [{"id": 1, "sha256": "s1", "source_path": "/x", "kind": "pdf",
                                           "created_at": T, "updated_at": T}])
        store.insert_many(db, "scores", [{"record_id": 1, "model_version": c["id"], "probability": p, "created_at": T}
                                         for c, p in ((a, 0.3), (b, 0.7))])
    res = CliRunner().invoke(app, ["models", "diff", "classifier", a["version"], b["version"], "--models", str(root),
                                   "--db", str(db_path)])
    assert res.exit_code == 0, res.output
    assert "↑1 ↓0" in res.output and "0.3000 → 0.7000 (+0.4000)" in res.output


def test_guard_prefers_the_incumbent_remeasured_on_the_candidates_heldout(tmp_path, root):
    a = _reg(tmp_path, root, "a", 0.95, heldout="H1")
    registry.promote("classifier", a["version"], root=root)
    # another held-out part, but the trainer measured the incumbent on it too: comparable
    b = _reg(tmp_path, root, "b", 0.85, heldout="H2", baseline={"version": a["version"], "auc": 0.80})
    ev = registry.promote("classifier", b["version"], root=root)
    assert not ev["forced"] and "同一留出集" in ev["reason"]
    c = _reg(tmp_path, root, "c", 0.99, heldout="H3", baseline={"version": b["version"], "auc": 0.995})
    with pytest.raises(registry.PromotionRefused, match="auc 下降：0.9900 < 当前 0.9950"):
        registry.promote("classifier", c["version"], root=root)
    # a baseline measured for some other version is not used: back to the card's held-out check
    d = _reg(tmp_path, root, "d", 0.99, heldout="H4", baseline={"version": a["version"], "auc": 0.5})
    with pytest.raises(registry.PromotionRefused, match="留出集不同"):
        registry.promote("classifier", d["version"], root=root)


def test_model_described_in_place_is_listed_promoted_and_not_moved(tmp_path, root):
    kdir = root / "ner"
    (kdir / "ner").mkdir(parents=True)
    (kdir / "config.cfg").write_text("[nlp]")
    (kdir / "ner" / "model").write_bytes(b"weights")
    card = registry.describe_in_place("ner", metrics={"f1": 0.758}, root=root)
    assert (kdir / "version.json").is_file() and (kdir / "config.cfg").read_text() == "[nlp]"
    assert sorted(card["files"]) == ["config.cfg", "ner/model"]
    registry.promote("ner", card["version"], root=root)
    assert registry.current_path("ner", root=root) == kdir.resolve()
    with pytest.raises(registry.RegistryError, match="已登记"):
        registry.describe_in_place("ner", metrics={"f1": 0.7}, root=root)
    # a retrained version goes to its own folder beside it; the guard compares the two
    stage = registry.staging_dir("ner", root=root)
    (stage / "config.cfg").write_text("[nlp] v2")
    new = registry.register("ner", stage, metrics={"f1": 0.70}, root=root)
    assert new["parent"] == card["version"]
    assert [c["version"] for c in registry.list_versions("ner", root=root)] == [card["version"], new["version"]]
    with pytest.raises(registry.PromotionRefused, match="f1 下降"):
        registry.promote("ner", new["version"], root=root)
    assert registry.get("ner", card["version"], root=root)["files"] == card["files"]   # its card is unchanged
    with pytest.raises(registry.RegistryError, match="没有可登记的模型文件"):
        registry.describe_in_place("classifier", metrics={}, root=root)


def test_shipped_models_are_registered_intact_and_current():
    import hashlib
    from pathlib import Path

    from pipeline.nlp.pipeline import DEFAULT_MODEL
    from pipeline.rules import ruleset
    from pipeline.score.classifier import RiskModel
    from pipeline.score.features import flag_features

    shipped = Path(__file__).resolve().parent.parent / "models"
    current = {c["kind"]: c for c in registry.list_versions(root=shipped) if c["current"]}
    assert {"classifier", "ner"} <= set(current)
    for card in current.values():   # every file the card lists is there, unchanged
        folder = Path(card["path"])
        for rel, digest in card["files"].items():
            assert hashlib.sha256((folder / rel).read_bytes()).hexdigest() == digest, rel
    assert Path(current["ner"]["path"]) == shipped.joinpath("ner").resolve() == Path(DEFAULT_MODEL).resolve()
    clf = current["classifier"]
    assert clf["metrics"]["auc"] >= 0.95 and clf["metrics"]["n_heldout"] >= 40
    model = RiskModel.load(clf["path"])
    types = sorted({r.violation_type for r in ruleset.load_catalogue().rules})
    assert set(flag_features([], types)) <= set(model.feature_names)   # reads today's rule outputs
