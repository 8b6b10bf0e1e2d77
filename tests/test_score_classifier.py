"""Risk classifier: calibrated probabilities, per-type models, explanation, save/load."""
import numpy as np
import pytest

from pipeline.score.classifier import RiskModel


def data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    logit = 2.0 * X[:, 0] - 1.5 * X[:, 1] - 0.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    t = ((X[:, 1] < -0.5) & (y == 1)).astype(int)
    return X, y, {"bed_hanging": t}


def test_probabilities_are_calibrated_and_discriminative():
    X, y, types = data()
    m = RiskModel.fit(X, y, ["a", "b", "c", "d"], types, version="t1")
    Xt, yt, _ = data(2000, seed=1)
    p = m.predict(Xt)
    assert ((p >= 0) & (p <= 1)).all()
    # calibration: mean prediction within each probability bin tracks the observed rate
    bins = np.digitize(p, [0.2, 0.4, 0.6, 0.8])
    ece = sum((bins == b).mean() * abs(p[bins == b].mean() - yt[bins == b].mean()) for b in range(5) if (bins == b).any())
    assert ece < 0.06
    brier = np.mean((p - yt) ** 2)
    assert brier < np.mean((yt.mean() - yt) ** 2) * 0.7
    assert "bed_hanging" in m.predict_types(Xt)


def test_explanation_names_the_driving_features():
    X, y, types = data()
    m = RiskModel.fit(X, y, ["a", "b", "c", "d"], types)
    top = m.explain([3.0, -3.0, 0.0, 0.0])
    assert {t["feature"] for t in top[:2]} == {"a", "b"} and all(t["contribution"] > 0 for t in top)
    assert m.explain([-3.0, 3.0, 0.0, 0.0])[:1] == [] or m.explain([-3.0, 3.0, 0.0, 0.0])[0]["feature"] not in ("a", "b")


def test_save_load_roundtrip(tmp_path):
    X, y, types = data()
    m = RiskModel.fit(X, y, ["a", "b", "c", "d"], types, version="v9")
    d = m.save(tmp_path / "m", {"metrics": {"auc": 0.9}})
    loaded = RiskModel.load(d)
    assert loaded.version == "v9" and loaded.feature_names == ["a", "b", "c", "d"]
    np.testing.assert_allclose(loaded.predict(X[:20]), m.predict(X[:20]))
    assert (d / "metadata.json").read_text(encoding="utf-8").count("bed_hanging") == 1


def test_needs_both_classes():
    X, _, _ = data(50)
    with pytest.raises(ValueError, match="合规"):
        RiskModel.fit(X, np.zeros(50, int), ["a", "b", "c", "d"])
