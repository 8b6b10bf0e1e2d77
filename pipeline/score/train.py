"""`medreview train classifier`: fit the risk classifier on scored records and their labels, and
register it in models/classifier/<version>/ and the model_versions table.

Labels are JSON lines, one per admission, matched to records by (hospital, admission_no) or by
file name: the generator's labels.jsonl now ({"violations": [{"type": ...}, ...]}), reviewers'
decisions later. Features are those the scoring stage stored (stays.features + flags), so a record
must have been scored (by rules) before it can train the model.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from pipeline import store
from pipeline.score.classifier import RiskModel, _base
from pipeline.score.features import flag_features
from pipeline.score.stage import ScoreStage


class TrainError(RuntimeError):
    pass


def read_labels(path: Path) -> list[dict]:
    out = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TrainError(f"{path}:{n}: 不是合法的 JSON ({exc.msg})") from None
            if not isinstance(row, dict) or not isinstance(row.get("violations", []), list):
                raise TrainError(f"{path}:{n}: 应为含 violations 列表的对象")
            out.append(row)
    return out


def _keys(label: dict) -> list[tuple]:
    keys = []
    adm = label.get("admission_no")
    for h in ("hospital_id", "hospital"):
        if adm and label.get(h):
            keys.append(("adm", str(label[h]), str(adm)))
    for f in ("file", "path", "source", "record"):
        if isinstance(label.get(f), str):
            keys.append(("stem", Path(label[f]).stem))
    if adm:
        keys.append(("adm_only", str(adm)))
    return keys


def match(db, labels: list[dict]) -> dict[int, dict]:
    """record id → label."""
    index: dict[tuple, int] = {}
    for rid, hosp, adm, src in db.execute("SELECT id, hospital_id, admission_no, source_path FROM records"):
        if adm:
            index[("adm", str(hosp), str(adm))] = rid
            index.setdefault(("adm_only", str(adm)), rid)
        index[("stem", Path(src).stem)] = rid
    out = {}
    for label in labels:
        rid = next((index[k] for k in _keys(label) if k in index), None)
        if rid is not None:
            out[rid] = label
    return out


def dataset(db, stage: ScoreStage, matched: dict[int, dict]):
    """(record ids, feature names, X, y, per-type y) for matched records with stored features."""
    cat, _, types = stage.rules()
    rows = dict(db.execute("SELECT record_id, features FROM stays WHERE features IS NOT NULL").fetchall())
    ids, feats = [], []
    for rid in sorted(matched):
        if rid not in rows:
            continue
        f = dict(json.loads(rows[rid]), **flag_features(stage._flags_of(db, rid), types))
        ids.append(rid)
        feats.append(f)
    if not ids:
        raise TrainError("没有已评分且有标签的病历 (run `medreview run` first, and check the labels match the batch)")
    names = sorted(feats[0])
    X = np.array([[f.get(n, 0.0) for n in names] for f in feats], float)
    vtypes = lambda rid: {v.get("type") for v in matched[rid].get("violations", [])}
    y = np.array([1 if vtypes(rid) else 0 for rid in ids])
    label_types = sorted({t for rid in ids for t in vtypes(rid) if t})
    per_type = {t: np.array([1 if t in vtypes(rid) else 0 for rid in ids]) for t in label_types}
    return ids, names, X, y, per_type


def train_classifier(db_path, labels_path, models_dir="models", rules_override=None, min_class: int = 5) -> dict:
    db = store.connect(db_path)
    labels = read_labels(Path(labels_path))
    matched = match(db, labels)
    stage = ScoreStage(db_path=str(db_path), rules_override=rules_override)
    ids, names, X, y, per_type = dataset(db, stage, matched)
    data_hash = hashlib.sha256(X.tobytes() + y.tobytes() + "|".join(names).encode()).hexdigest()
    created = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    version = f"classifier@{created:%Y%m%dT%H%M%S}-{data_hash[:8]}"
    model = RiskModel.fit(X, y, names, per_type, min_class=min_class, version=version)

    n_min = int(min(y.sum(), len(y) - y.sum()))
    folds = StratifiedKFold(n_splits=min(5, n_min), shuffle=True, random_state=0)
    oof = cross_val_predict(_base(), X, y, cv=folds, method="predict_proba")[:, 1]
    metrics = {"records": len(ids), "positives": int(y.sum()), "labels_unmatched": len(labels) - len(matched),
               "cv_roc_auc": round(float(roc_auc_score(y, oof)), 4),
               "cv_average_precision": round(float(average_precision_score(y, oof)), 4),
               "cv_brier": round(float(brier_score_loss(y, oof)), 4),
               "per_type_positives": {t: int(v.sum()) for t, v in per_type.items()},
               "per_type_models": sorted(model.per_type)}
    parent = db.execute("SELECT id FROM model_versions WHERE kind = 'classifier' AND promoted = 1"
                        " ORDER BY created_at DESC LIMIT 1").fetchone()
    out_dir = Path(models_dir) / "classifier" / version.split("@", 1)[1]
    model.save(out_dir, {"metrics": metrics, "data_hash": data_hash, "parent": parent[0] if parent else None,
                         "labels": str(labels_path), "catalogue_version": stage.rules()[0].version,
                         "created_at": created.isoformat()})
    with store.transaction(db):
        db.execute("UPDATE model_versions SET promoted = 0 WHERE kind = 'classifier'")
        store.insert_one(db, "model_versions", {
            "id": version, "kind": "classifier", "path": str(out_dir.resolve()), "metrics": store.dumps(metrics),
            "data_hash": data_hash, "parent": parent[0] if parent else None, "promoted": 1,
            "created_at": created.isoformat()})
    return {"version": version, "path": str(out_dir), "metrics": metrics}


def command(db_path, labels_path, models_dir, rules_override=None, echo=print) -> int:
    """CLI entry: train, print the metrics; exit code 2 on unusable input."""
    from pipeline.rules.catalogue import CatalogueError

    try:
        result = train_classifier(db_path, labels_path, models_dir, rules_override)
    except (TrainError, CatalogueError, ValueError, FileNotFoundError) as exc:
        echo(f"错误: {exc}")
        return 2
    m = result["metrics"]
    echo(f"已注册 {result['version']} → {result['path']}")
    echo(f"病历 {m['records']} (违规 {m['positives']})，未匹配标签 {m['labels_unmatched']}；"
         f"交叉验证 ROC-AUC {m['cv_roc_auc']}，AP {m['cv_average_precision']}，Brier {m['cv_brier']}")
    echo(f"分违规类型模型: {', '.join(m['per_type_models']) or '无 (样本不足)'}")
    return 0
