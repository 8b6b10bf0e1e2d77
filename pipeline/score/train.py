"""`medreview train classifier`: fit the risk classifier on scored records and their labels,
measure it on a held-out part, register it in the model registry and promote it when the guard
allows (``pipeline.registry``).

Labels: the generator's labels.jsonl (one JSON line per admission, matched to records by
(hospital, admission_no) or file name) and/or reviewers' exported decisions (``--from
annotations/``, matched by record sha256); decisions win for the records they cover. Features are
those the scoring stage stored (stays.features + flags), so a record must have been scored (by
rules or an earlier model) before it can train the model.

Held-out part: a fixed-seed, stratified share of the labelled records, chosen by record hash; a
retrain reuses its parent's held-out records when they are all labelled here, so versions stay
comparable. The current version is also measured on the same held-out part (``baseline``), which
is what the promotion guard compares against.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from pipeline import store
from pipeline.models import registry
from pipeline.score.classifier import RiskModel, base_estimator
from pipeline.score.features import flag_features, vector
from pipeline.score.stage import ScoreStage

HELDOUT_SHARE = 0.25
SPLIT_SEED = 20261123
HELDOUT_FILE = "heldout.json"   # sha256 of the held-out records, kept with the model


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


def stale_records(db, version: str, ids) -> dict[int, str]:
    """record id → the rules version it was scored under, for records of ``ids`` scored under
    another version than ``version`` (``RuleSet.version``: catalogue, override and knowledge tables,
    so a knowledge change makes records stale too). Stays written before versions were recorded
    count as stale when they have system flags of other versions only."""
    wanted = set(ids)
    out = {}
    for rid, scored_with in db.execute("SELECT record_id, catalogue_version FROM stays"):
        if rid in wanted and scored_with is not None and scored_with != version:
            out[rid] = scored_with
    for rid, versions in db.execute(
            "SELECT s.record_id, group_concat(DISTINCT f.catalogue_version) FROM stays s"
            " JOIN flags f ON f.record_id = s.record_id AND f.source = 'system'"
            " WHERE s.catalogue_version IS NULL GROUP BY s.record_id"):
        if rid in wanted and version not in versions.split(","):
            out[rid] = versions
    return out


def features_of(db, stage: ScoreStage, ids) -> dict[int, dict]:
    """record id → stored base features + flag features, for records that were scored."""
    rules = stage.rules()
    stale = stale_records(db, rules.version, ids)
    if stale:
        versions = ", ".join(sorted(set(stale.values())))
        raise TrainError(
            f"{len(stale)} 份病历按其他版本的规则目录或知识表 ({versions}) 评分，当前版本为 {rules.version}；"
            f"其规则特征为空，不能用于训练。先重新评分: `medreview run --stages score --rescore` "
            f"({len(stale)} records were scored under rules {versions}, not {rules.version})")
    rows = dict(db.execute("SELECT record_id, features FROM stays WHERE features IS NOT NULL").fetchall())
    out = {}
    for rid in sorted(ids):
        if rid in rows:
            base = json.loads(rows[rid])
            total = math.expm1(base.get("log_total_cost", 0.0))
            out[rid] = dict(base, **flag_features(stage.flags_of(db, rid), rules.violation_types, total))
    return out


def dataset(db, stage: ScoreStage, matched: dict[int, dict]):
    """(record ids, feature names, X, y, per-type y) for matched records with stored features."""
    feats = features_of(db, stage, matched)
    if not feats:
        raise TrainError("没有已评分且有标签的病历 (run `medreview run` first, and check the labels match the batch)")
    ids = sorted(feats)
    names = sorted(feats[ids[0]])
    X = np.array([vector(feats[rid], names) for rid in ids], float)
    vtypes = lambda rid: {v.get("type") for v in matched[rid].get("violations", [])}  # noqa: E731
    y = np.array([1 if vtypes(rid) else 0 for rid in ids])
    label_types = sorted({t for rid in ids for t in vtypes(rid) if t})
    per_type = {t: np.array([1 if t in vtypes(rid) else 0 for rid in ids]) for t in label_types}
    return ids, names, X, y, per_type


@dataclass
class Labels:
    """record id → 0/1 and violation types, with where they came from."""
    y: dict[int, int] = field(default_factory=dict)
    types: dict[int, set[str]] = field(default_factory=dict)
    unmatched: int = 0
    from_annotations: int = 0
    sources: dict[str, str] = field(default_factory=dict)


def collect_labels(db, stage: ScoreStage, labels_path=None, annotations=None) -> Labels:
    if labels_path is None and annotations is None:
        raise TrainError("需要 --labels 或 --from (no labels given)")
    out = Labels()
    if labels_path is not None:
        rows = read_labels(Path(labels_path))
        matched = match(db, rows)
        out.unmatched = len(rows) - len(matched)
        for rid, label in matched.items():
            out.types[rid] = {v.get("type") for v in label.get("violations", []) if v.get("type")}
            out.y[rid] = int(bool(label.get("violations")))
        out.sources["labels"] = hashlib.sha256(Path(labels_path).read_bytes()).hexdigest()[:16]
    if annotations is not None:
        from pipeline.annotations import AnnotationError, labels_from, load_decisions

        try:
            ann, version = labels_from(Path(annotations))
            rows = load_decisions(Path(annotations))
        except AnnotationError as exc:
            raise TrainError(str(exc)) from exc
        by_rule = {r.id: r.violation_type for r in stage.rules().catalogue.rules}
        confirmed: dict[str, set[str]] = {}
        for r in rows:
            if r["decision"] == "confirmed":
                t = by_rule.get(r["rule_id_final"]) or by_rule.get(r["rule_id"])
                confirmed.setdefault(r["record_sha256"], set()).update({t} if t else set())
        by_sha = dict(db.execute("SELECT sha256, id FROM records").fetchall())
        for sha, lab in ann.items():
            rid = by_sha.get(sha)
            if rid is None:
                out.unmatched += 1
                continue
            out.y[rid] = lab   # the reviewer's decision wins over the base label
            out.types[rid] = confirmed.get(sha, set()) if lab else set()
            out.from_annotations += 1
        out.sources["annotations"] = version
    return out


def _order(seed: int, sha: str) -> str:
    return hashlib.sha256(f"{seed}:{sha}".encode()).hexdigest()


def split_heldout(shas: dict[int, str], y: dict[int, int], *, share: float = HELDOUT_SHARE, seed: int = SPLIT_SEED,
                  reuse: list[str] | None = None) -> tuple[list[int], list[int], bool]:
    """(train ids, held-out ids, reused): the parent's held-out records when all are labelled
    here with both classes among them, else a stratified share of each class by seeded hash."""
    by_sha = {sha: rid for rid, sha in shas.items()}
    if reuse and all(s in by_sha for s in reuse):
        held = sorted(by_sha[s] for s in reuse)
        if len({y[r] for r in held}) == 2:
            return sorted(set(shas) - set(held)), held, True
    held = []
    for c in (0, 1):
        members = sorted((r for r in shas if y[r] == c), key=lambda r: _order(seed, shas[r]))
        held += members[:max(1, round(len(members) * share))]
    return sorted(set(shas) - set(held)), sorted(held), False


def _measure(y, p) -> dict:
    return {"auc": round(float(roc_auc_score(y, p)), 4), "average_precision": round(float(average_precision_score(y, p)), 4),
            "brier": round(float(brier_score_loss(y, p)), 4)}


def _baseline(incumbent: dict | None, feats: dict[int, dict], held: list[int], yh) -> dict | None:
    """The current version measured on this held-out part (None when there is none or it cannot load)."""
    if incumbent is None:
        return None
    try:
        model = RiskModel.load(incumbent["path"])
    except (OSError, TypeError, ValueError, AttributeError) as exc:
        return {"version": incumbent["version"], "error": f"{type(exc).__name__}"}
    p = model.predict([vector(feats[r], model.feature_names) for r in held])
    return dict(_measure(yh, p), version=incumbent["version"])


def train_classifier(db_path, labels_path=None, models_dir=None, rules_override=None, *, annotations=None,
                     force: bool = False, min_class: int = 5) -> dict:
    """Train, register and (guard permitting, or ``force``) promote. Returns {card, metrics,
    promoted, reason}."""
    root = Path(models_dir) if models_dir else None
    db = store.connect(db_path)
    stage = ScoreStage(db_path=str(db_path), rules_override=rules_override)
    labels = collect_labels(db, stage, labels_path, annotations)
    feats = features_of(db, stage, labels.y)
    if not feats:
        raise TrainError("没有已评分且有标签的病历 (run `medreview run` first, and check the labels match the batch)")
    shas = {rid: sha for rid, sha in db.execute("SELECT id, sha256 FROM records") if rid in feats}
    incumbent = registry.current("classifier", root=root)
    reuse = None
    if incumbent and (Path(incumbent["path"]) / HELDOUT_FILE).is_file():
        reuse = json.loads((Path(incumbent["path"]) / HELDOUT_FILE).read_text(encoding="utf-8"))
    train_ids, held, reused = split_heldout(shas, labels.y, reuse=reuse)
    ytr = np.array([labels.y[r] for r in train_ids])
    yh = np.array([labels.y[r] for r in held])
    n_min = int(min(ytr.sum(), len(ytr) - ytr.sum()))
    if n_min < 2 or len(set(yh)) < 2:
        raise TrainError(f"标签太少: 训练部分违规 {int(ytr.sum())}/合规 {int(len(ytr) - ytr.sum())}，"
                         f"留出部分违规 {int(yh.sum())}/合规 {int(len(yh) - yh.sum())} (need both classes in both parts)")
    names = sorted(feats[train_ids[0]])
    X = np.array([vector(feats[r], names) for r in train_ids], float)
    Xh = np.array([vector(feats[r], names) for r in held], float)
    label_types = sorted({t for r in train_ids for t in labels.types[r]})
    per_type = {t: np.array([1 if t in labels.types[r] else 0 for r in train_ids]) for t in label_types}
    model = RiskModel.fit(X, ytr, names, per_type, min_class=min_class)

    folds = StratifiedKFold(n_splits=min(5, n_min), shuffle=True, random_state=0)
    oof = cross_val_predict(base_estimator(), X, ytr, cv=folds, method="predict_proba")[:, 1]
    cv = _measure(ytr, oof)
    metrics = dict(_measure(yh, model.predict(Xh)), n_heldout=len(held), heldout_positives=int(yh.sum()),
                   heldout_reused=reused, records=len(train_ids), positives=int(ytr.sum()),
                   labels_unmatched=labels.unmatched, annotated_records=labels.from_annotations,
                   cv_roc_auc=cv["auc"], cv_average_precision=cv["average_precision"], cv_brier=cv["brier"],
                   per_type_positives={t: int(v.sum()) for t, v in per_type.items()},
                   per_type_models=sorted(model.per_type))
    held_shas = sorted(shas[r] for r in held)
    heldout_hash = hashlib.sha256("\n".join(held_shas).encode()).hexdigest()
    data_hash = hashlib.sha256(X.tobytes() + ytr.tobytes() + "|".join(names).encode()).hexdigest()
    baseline = _baseline(incumbent, feats, held, yh)

    staging = registry.staging_dir("classifier", root=root)
    model.save(staging, {"labels": labels.sources, "catalogue_version": stage.rules().version,
                         "heldout_hash": heldout_hash, "data_hash": data_hash})
    (staging / HELDOUT_FILE).write_text(json.dumps(held_shas, indent=0), encoding="utf-8")
    res = registry.register_and_promote(
        "classifier", staging, force=force, root=root, db=db, metrics=metrics, heldout_hash=heldout_hash,
        data_hash=data_hash, parent=incumbent["version"] if incumbent else None, baseline=baseline,
        notes={"labels": labels.sources, "catalogue_version": stage.rules().version})
    card = res["card"]
    return {"card": card, "id": card["id"], "version": card["version"], "path": card["path"], "metrics": metrics,
            "baseline": baseline, "promoted": res["promoted"], "reason": res["reason"]}
