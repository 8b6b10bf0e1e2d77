"""`medreview train ner | classifier`: train, measure on a held-out part, register, promote.

Exit codes: 0 trained (and promoted, for a registered version); 1 registered but refused by the
promotion guard (``--force`` promotes anyway); 2 unusable input."""
from __future__ import annotations

import json
from pathlib import Path

from pipeline.commands import EXIT_OK, EXIT_PARTIAL, console, error
from pipeline.models import registry


def train_ner(data_dir: Path | None, out: Path, seed: int, time_budget_s: float, max_epochs: int, workers: int,
              shared: bool = True, pretrain_epochs: int | None = None) -> int:
    """Train the shipped NER model from the corpora into ``out`` (not registered: it is the model
    folder the shipped card describes)."""
    from pipeline.nlp import corpora
    from pipeline.nlp.train import train_ner as train

    d = Path(data_dir) if data_dir else corpora.shared_data_dir()
    missing = [c for c, rel in corpora.CORPORA.items() if c != "ccks2018-cner" and not (d / rel).is_file()]
    if missing:
        return error(f"{d}: corpora not found: {', '.join(missing)} (use --data-dir or MEDREVIEW_SHARED_DATA)")
    extra = {} if pretrain_epochs is None else {"pretrain_epochs": pretrain_epochs}
    card = train(d, out, seed=seed, time_budget_s=time_budget_s, max_epochs=max_epochs, workers=workers, shared=shared,
                 **extra)
    print(json.dumps(card["metrics"], ensure_ascii=False, indent=1))
    console.print(f"model saved to {out}", markup=False)
    return EXIT_OK


def _promotion(res: dict) -> int:
    if not res["promoted"]:
        console.print(res["reason"], markup=False)
        return EXIT_PARTIAL
    console.print(f"已发布 promoted {res['id']}: {res['reason']}", markup=False)
    return EXIT_OK


def retrain_ner(annotations: Path, data_dir: Path | None, models_dir: Path | None, *, force: bool, seed: int,
                time_budget_s: float, max_epochs: int, workers: int, shared: bool = True,
                pretrain_epochs: int | None = None) -> int:
    """`train ner --from`: retrain on reviewers' corrections, register, promote unless worse."""
    from pipeline.nlp import corpora
    from pipeline.nlp.retrain import METRIC_NAMES, RetrainError, retrain_ner as retrain

    options = {} if pretrain_epochs is None else {"pretrain_epochs": pretrain_epochs}
    try:
        res = retrain(annotations, data_dir=data_dir, models_dir=models_dir, force=force, seed=seed,
                      time_budget_s=time_budget_s, max_epochs=max_epochs, workers=workers, shared=shared,
                      train_options=options)
    except (RetrainError, registry.RegistryError, corpora.CorpusError) as exc:
        return error(exc)
    m, b, s = res["metrics"], res["baseline"] or {}, res["stats"]
    out = [f"已登记 registered {res['id']} → {res['path']}",
           f"审核修正 corrections {s['corrections_rows']} 行 (版本 {s['annotations_version']})：训练 {s['corrections_train']}，"
           f"留出 {s['corrections_heldout']}，与语料留出集重合未用 {s['corrections_overlapping_heldout']}",
           f"{'held-out micro-F1':<22}{'new':>8}{'current':>9}"]
    for part, name in METRIC_NAMES.items():
        if name in m:
            old = b.get(name)
            out.append(f"{part:<22}{m[name]:>8.4f}{'-' if old is None else format(old, '.4f'):>9}")
    for line in out:
        console.print(line, markup=False)
    return _promotion(res)


def train_classifier(db_path: Path, labels: Path | None, models_dir: Path | None, rules_override: Path | None,
                     *, annotations: Path | None = None, force: bool = False) -> int:
    """Train the risk classifier on scored records and their labels, register, promote unless worse."""
    from pipeline.rules.errors import CatalogueError
    from pipeline.score.train import TrainError, train_classifier as train

    try:
        res = train(db_path, labels, models_dir, rules_override, annotations=annotations, force=force)
    except (TrainError, CatalogueError, registry.RegistryError, ValueError, FileNotFoundError) as exc:
        return error(exc)
    m = res["metrics"]
    out = [f"已登记 registered {res['id']} → {res['path']}",
           f"训练病历 {m['records']} (违规 {m['positives']})，其中审核结论 {m['annotated_records']}，未匹配标签 {m['labels_unmatched']}",
           f"留出集 held-out {m['n_heldout']} (违规 {m['heldout_positives']}{'，沿用上一版本' if m['heldout_reused'] else ''})："
           f"ROC-AUC {m['auc']}，AP {m['average_precision']}，Brier {m['brier']}",
           f"交叉验证 CV (训练部分)：ROC-AUC {m['cv_roc_auc']}，AP {m['cv_average_precision']}，Brier {m['cv_brier']}"]
    b = res["baseline"]
    if b and "auc" in b:
        out.append(f"当前版本 {b['version']} 在同一留出集：ROC-AUC {b['auc']}，AP {b['average_precision']}，Brier {b['brier']}")
    out.append(f"分违规类型模型: {', '.join(m['per_type_models']) or '无 (样本不足)'}")
    for line in out:
        console.print(line, markup=False)
    return _promotion(res)
