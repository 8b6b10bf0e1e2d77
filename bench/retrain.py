"""Does retraining on reviewer decisions improve the risk classifier? Before/after held-out AUC.

    python bench/retrain.py --records 900 --decisions 200 [--work /tmp/retrain] [--splits 5]

1. Generate a batch (text form) with ground truth, ingest it and run every stage (the
   classifier scores by rules only: no model yet). This is the one heavy step; ``--work`` keeps
   the batch and database so a second run reuses them.
2. Split the scored records (seeded, stratified): a held-out part (ground truth labels), a small
   base training set (ground truth labels: the model the batch would start with) and a pool.
3. Simulated reviewer = ground truth: in the pool, the riskiest cases first, each system flag
   is confirmed when the record truly has that violation type and rejected otherwise, until
   ``--decisions`` decisions are made (``pipeline.review.decide``: append-only events).
4. Export the decisions (``pipeline.annotations``), turn them into record labels, retrain on
   base + annotated records; evaluate before/after on the same held-out part; register both in
   a scratch registry and let the promotion guard decide.
Repeated over ``--splits`` split seeds (the pipeline runs once); prints one table.
"""
from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from pipeline import ingest, store, synth
from pipeline.models import registry
from pipeline.run import RunOptions, run_batch
from pipeline.annotations import export_decisions, labels_from
from pipeline.annotations.simulate import simulate_reviewer
from pipeline.score import train
from pipeline.score.classifier import RiskModel
from pipeline.score.stage import ScoreStage


def prepare(work: Path, records: int, seed: int, clean_share: float) -> tuple[Path, Path]:
    batch, db_path = work / "batch", work / "audit.db"
    if not (batch / "labels.jsonl").exists():
        synth.generate(batch, records=records, hospitals=3, seed=seed, forms=("text",), clean_share=clean_share)
    if not db_path.exists() or store.connect(db_path).execute(
            "SELECT COUNT(*) FROM records WHERE stage = 'scored'").fetchone()[0] == 0:
        db = store.connect(db_path)
        ingest.ingest(db, batch / "text")
        run_batch(db, options=RunOptions(workers=2))
    return batch, db_path


def split(ids: list[int], y: np.ndarray, rnd: random.Random, heldout: float, base: int):
    """Stratified: held-out share of each class; a base set with both classes; the rest is the pool."""
    by_class = {c: [i for i, yy in zip(ids, y) if yy == c] for c in (0, 1)}
    held, rest = [], []
    for members in by_class.values():
        members = members[:]
        rnd.shuffle(members)
        k = round(len(members) * heldout)
        held += members[:k]
        rest += members[k:]
    rnd.shuffle(rest)
    pos = [i for i in rest if y[ids.index(i)] == 1]
    neg = [i for i in rest if y[ids.index(i)] == 0]
    n_pos = max(3, round(base * len(pos) / max(1, len(rest))))
    base_ids = pos[:n_pos] + neg[:base - n_pos]
    pool = [i for i in rest if i not in set(base_ids)]
    return sorted(held), sorted(base_ids), pool


def auc(model: RiskModel, X: np.ndarray, y: np.ndarray) -> float:
    return float(roc_auc_score(y, model.predict(X)))


def one_split(db_path: Path, batch: Path, split_seed: int, args, out: list[dict]) -> None:
    work = Path(tempfile.mkdtemp(prefix="retrain-split-"))
    try:
        db_copy = work / "audit.db"
        src = store.connect(db_path)
        src.execute(f"VACUUM INTO '{db_copy}'")       # decisions of one split never leak into another
        db = store.connect(db_copy)
        stage = ScoreStage(db_path=str(db_copy))
        labels = train.read_labels(batch / "labels.jsonl")
        matched = train.match(db, labels)
        ids, names, X, y, _ = train.dataset(db, stage, matched)
        truth = {rid: {v.get("type") for v in matched[rid].get("violations", [])} for rid in ids}
        row = {rid: k for k, rid in enumerate(ids)}
        rnd = random.Random(split_seed)
        held, base, pool = split(ids, y, rnd, args.heldout, args.base)
        rule_types = {r.id: r.violation_type for r in stage.rules().catalogue.rules}
        made = simulate_reviewer(db, truth, rule_types, args.decisions, records=pool)
        if made == 0:
            raise SystemExit(f"split {split_seed}: the pool of {len(pool)} records has no flags to decide;"
                             " use more --records or a smaller --heldout")
        export = export_decisions(db, work / "annotations")
        ann, ann_version = labels_from(work / "annotations")
        sha_to_id = dict(db.execute("SELECT sha256, id FROM records").fetchall())
        annotated = {sha_to_id[s]: lab for s, lab in ann.items() if sha_to_id.get(s) in row and sha_to_id[s] not in held}

        Xh, yh = X[[row[i] for i in held]], y[[row[i] for i in held]]
        before = RiskModel.fit(X[[row[i] for i in base]], y[[row[i] for i in base]], names)
        extra = sorted(set(annotated) - set(base))          # the reviewers' records: their labels, not the truth
        train_ids = base + extra
        y_after = np.array([y[row[i]] for i in base] + [annotated[i] for i in extra])
        after = RiskModel.fit(X[[row[i] for i in train_ids]], y_after, names)
        noise = sum(annotated[i] != y[row[i]] for i in annotated)

        rules_auc = float(roc_auc_score(yh, [db.execute(
            "SELECT MAX(probability) FROM scores WHERE record_id = ?", (i,)).fetchone()[0] or 0 for i in held]))
        res = {"seed": split_seed, "held": len(held), "held_pos": int(yh.sum()), "base": len(base),
               "decisions": made, "annotated": len(annotated), "label_noise": noise, "rules_auc": rules_auc,
               "before": auc(before, Xh, yh), "after": auc(after, Xh, yh), "export_rows": export["rows"]}

        # The learning loop's last step: register both, promote before, let the guard judge after.
        heldout_hash = hashlib.sha256(",".join(map(str, held)).encode()).hexdigest()
        root = work / "models"
        for name, model, metric, data in (("before", before, res["before"], "base"),
                                          ("after", after, res["after"], ann_version)):
            d = registry.staging_dir("classifier", root=root)
            model.save(d, {"bench": "retrain", "split_seed": split_seed})
            card = registry.register("classifier", d, metrics={"auc": round(metric, 4), "n_heldout": len(held)},
                                     heldout_hash=heldout_hash, data_hash=data, root=root)
            try:
                registry.promote("classifier", card["version"], root=root)
                res[f"promoted_{name}"] = True
            except registry.PromotionRefused:
                res[f"promoted_{name}"] = False
        out.append(res)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=900)
    ap.add_argument("--clean-share", type=float, default=0.65, help="share of generated records without violations")
    ap.add_argument("--decisions", type=int, default=200)
    ap.add_argument("--base", type=int, default=40, help="records with ground-truth labels in the starting model")
    ap.add_argument("--heldout", type=float, default=0.3)
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--work", type=Path, default=None, help="keep the generated batch and database here")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="retrain-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    batch, db_path = prepare(work, args.records, args.seed, args.clean_share)
    t_pipe = time.monotonic() - t0
    results: list[dict] = []
    for s in range(args.splits):
        one_split(db_path, batch, args.seed + s, args, results)
    cols = ("seed", "held", "held_pos", "base", "decisions", "annotated", "label_noise", "rules_auc", "before",
            "after", "promoted_after")
    scored = store.connect(db_path).execute("SELECT COUNT(*) FROM records WHERE stage = 'scored'").fetchone()[0]
    print(f"batch: {scored} scored records (pipeline {t_pipe:.0f}s this run); AUC on the held-out part (ground truth);"
          f" reviewer labels for records with ≥1 decided flag")
    print(" ".join(f"{c:>14}" for c in cols))
    for r in results:
        print(" ".join(f"{r[c]:>14.4f}" if isinstance(r[c], float) else f"{str(r[c]):>14}" for c in cols))
    mean = lambda k: sum(r[k] for r in results) / len(results)  # noqa: E731
    print(f"mean: rules {mean('rules_auc'):.4f}  before {mean('before'):.4f}  after {mean('after'):.4f}"
          f"  (Δ {mean('after') - mean('before'):+.4f}); after > before in "
          f"{sum(r['after'] > r['before'] for r in results)}/{len(results)} splits")


if __name__ == "__main__":
    main()
