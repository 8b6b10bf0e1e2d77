"""Calibrated risk classifier on record-level features.

One model for "any violation" and, where a type has enough positive and negative examples, one
per violation type. Logistic regression on standardized features keeps the explanation honest:
a feature's contribution is its coefficient times its standardized value. Probabilities are
calibrated (Platt scaling, cross-validated). Saved with joblib beside a metadata.json.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

MODEL_FILE = "model.joblib"
META_FILE = "metadata.json"


def base_estimator():
    """The uncalibrated model: standardized features into a class-balanced logistic regression."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000, class_weight="balanced"))


def _fit_one(X: np.ndarray, y: np.ndarray, cv: int):
    model = CalibratedClassifierCV(base_estimator(), method="sigmoid", cv=cv)
    model.fit(X, y)
    return model


@dataclass
class RiskModel:
    feature_names: list[str]
    overall: object
    explainer: object
    per_type: dict[str, object] = field(default_factory=dict)
    version: str = ""

    @classmethod
    def fit(cls, X, y, feature_names, types: dict[str, np.ndarray] | None = None, *, min_class: int = 5,
            version: str = "") -> "RiskModel":
        X, y = np.asarray(X, float), np.asarray(y, int)
        n_min = int(min(y.sum(), len(y) - y.sum()))
        if n_min < 2:
            raise ValueError(f"训练数据需要同时包含违规与合规病历 (违规 {int(y.sum())}, 合规 {int(len(y) - y.sum())})")
        overall = _fit_one(X, y, cv=min(5, n_min))
        explainer = base_estimator().fit(X, y)
        per_type = {}
        for t, yt in (types or {}).items():
            yt = np.asarray(yt, int)
            k = int(min(yt.sum(), len(yt) - yt.sum()))
            if k >= min_class:
                per_type[t] = _fit_one(X, yt, cv=min(5, k))
        return cls(list(feature_names), overall, explainer, per_type, version)

    def predict(self, X) -> np.ndarray:
        return self.overall.predict_proba(np.asarray(X, float))[:, 1]

    def predict_types(self, X) -> dict[str, np.ndarray]:
        X = np.asarray(X, float)
        return {t: m.predict_proba(X)[:, 1] for t, m in self.per_type.items()}

    def explain(self, x, top: int = 5) -> list[dict]:
        """Top features pushing this record towards non-compliance: coefficient × standardized value."""
        scaler, lr = self.explainer.named_steps["standardscaler"], self.explainer.named_steps["logisticregression"]
        z = (np.asarray(x, float) - scaler.mean_) / np.where(scaler.scale_ == 0, 1, scaler.scale_)
        contrib = lr.coef_[0] * z
        order = np.argsort(-contrib)[:top]
        return [{"feature": self.feature_names[i], "value": float(np.asarray(x, float)[i]),
                 "contribution": round(float(contrib[i]), 4)} for i in order if contrib[i] > 0]

    def save(self, directory: str | Path, metadata: dict) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, d / MODEL_FILE)
        meta = dict(metadata, version=self.version, feature_names=self.feature_names, types=sorted(self.per_type))
        (d / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
        return d

    @classmethod
    def load(cls, directory: str | Path) -> "RiskModel":
        d = Path(directory)
        model = joblib.load(d / MODEL_FILE)
        if not isinstance(model, cls):
            raise TypeError(f"{d / MODEL_FILE}: not a RiskModel")
        return model
