"""Benchmark the compliance engine through the whole pipeline on fresh generator batches.

    python bench/flags.py --out out/bench-flags --records 60 --seed 2026 [--train-seed 4242] [--form scan] [--no-ner]

1. generates a training batch (train seed, text form) and an evaluation batch (a seed and violation
   mix not used in development, scanned form), ingests and runs every stage on both (`medreview`);
2. trains the classifier on the training batch's labels (`medreview train classifier`) and rescores
   the evaluation batch with it (rules-only scores are reported first);
3. prints per violation type precision / recall (record level), amount at risk vs ground truth,
   record-level ROC-AUC and recall at 80 % precision, and the share of evidence items whose text
   is on the named page.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline import store  # noqa: E402
from pipeline.dates import normalize_text  # noqa: E402
from pipeline.rules import ruleset  # noqa: E402
from pipeline.score.train import match, read_labels  # noqa: E402

MEDREVIEW = [sys.executable, str(ROOT / "cli.py")]


def sh(*args, models: Path | None = None):
    """Run the CLI; ``models`` is the model registry it sees (MEDREVIEW_MODELS)."""
    print("$ medreview", " ".join(map(str, args)), flush=True)
    env = dict(os.environ)
    if models is not None:
        env["MEDREVIEW_MODELS"] = str(models)
    subprocess.run(MEDREVIEW + [str(a) for a in args], check=False, cwd=ROOT, env=env)


def build(out: Path, records: int, seed: int, form: str, rates: dict | None, clean_share: float,
          no_ner: bool, models: Path) -> tuple[Path, Path]:
    """Generate a batch (in-process generator), ingest the chosen form and run every stage."""
    from pipeline.synth.generate import generate

    batch = out / f"batch-{seed}-{form}"
    db = out / f"audit-{seed}-{form}.db"
    if not (batch / "labels.jsonl").exists():
        t0 = time.monotonic()
        generate(batch, records=records, hospitals=3, seed=seed, forms=(form,), rates=rates,
                 clean_share=clean_share, workers=2)
        print(f"generated {records} records ({form}) in {time.monotonic() - t0:.0f}s", flush=True)
    if not db.exists():
        sh("ingest", batch / form, "--db", db)
    t0 = time.monotonic()
    sh("run", "--db", db, "--workers", 2, models=models)
    if no_ner:
        # No trained NER model on this machine: the extract stage fails every record. Rules do not
        # need entities (they read sections with negation cues), so score without them.
        d = store.connect(db)
        n = d.execute("UPDATE records SET stage = 'extracted', status = 'ok', error = NULL, error_stage = NULL"
                      " WHERE stage = 'segmented' AND error LIKE '%NER model not found%'").rowcount
        print(f"--no-ner: {n} records scored without entities", flush=True)
        sh("run", "--db", db, "--workers", 2, "--stages", "score")
    print(f"pipeline on {records} records ({form}): {time.monotonic() - t0:.0f}s", flush=True)
    return db, batch / "labels.jsonl"


def latest_scores(db) -> dict[int, float]:
    out = {}
    for rid, p, mv in db.execute("SELECT record_id, probability, model_version FROM scores ORDER BY created_at, id"):
        out[rid] = p  # last written wins: the current model
    return out


def evidence_resolves(db) -> tuple[int, int]:
    ok = total = 0
    pages = defaultdict(str)
    for pid, text in db.execute("SELECT page_id, group_concat(text, '\n') FROM lines GROUP BY page_id"):
        pages[pid] = normalize_text(text or "")
    for (ev,) in db.execute("SELECT evidence FROM flags WHERE source = 'system'"):
        for e in json.loads(ev or "[]"):
            total += 1
            pid = e.get("page_id")
            if pid is not None and e.get("text") and normalize_text(e["text"]) in pages.get(pid, ""):
                ok += 1
    return ok, total


def recall_at_precision(y, p, target=0.8) -> float:
    pairs = sorted(zip(p, y), reverse=True)
    best, tp, pos = 0.0, 0, sum(y)
    for k, (_, yi) in enumerate(pairs, 1):
        tp += yi
        if tp / k >= target:
            best = max(best, tp / pos if pos else 0.0)
    return best


def evaluate(db_path: Path, labels_path: Path, *, scored_only: bool = False) -> dict:
    """``scored_only``: judge only the records the pipeline finished (a batch cut short)."""
    from sklearn.metrics import roc_auc_score

    db = store.connect(db_path)
    cat = ruleset.load_catalogue()
    vtype = {r.id: r.violation_type for r in cat.rules}
    matched = match(db, read_labels(labels_path))
    if scored_only:
        scored = {r[0] for r in db.execute("SELECT id FROM records WHERE stage = 'scored'")}
        matched = {rid: label for rid, label in matched.items() if rid in scored}
    flagged = defaultdict(lambda: defaultdict(float))   # rid → type → amount
    for rid, rule_id, amount in db.execute("SELECT record_id, rule_id, amount FROM flags WHERE source = 'system'"):
        flagged[rid][vtype.get(rule_id, rule_id)] += amount or 0
    truth = {rid: {v["type"]: v.get("amount", 0) for v in lab["violations"]} for rid, lab in matched.items()}
    types = sorted({t for t in [*vtype.values()]} | {t for v in truth.values() for t in v})
    rows = []
    for t in types:
        tp = sum(1 for rid in truth if t in truth[rid] and t in flagged[rid])
        fp = sum(1 for rid in truth if t not in truth[rid] and t in flagged[rid])
        fn = sum(1 for rid in truth if t in truth[rid] and t not in flagged[rid])
        amt_true = sum(truth[rid].get(t, 0) for rid in truth)
        amt_flag = sum(flagged[rid].get(t, 0) for rid in truth if t in truth[rid])
        rows.append((t, tp, fp, fn, tp / (tp + fp) if tp + fp else float("nan"),
                     tp / (tp + fn) if tp + fn else float("nan"), amt_true, amt_flag))
    scores = latest_scores(db)
    ids = [rid for rid in truth if rid in scores]
    y = [1 if truth[rid] else 0 for rid in ids]
    p = [scores[rid] for rid in ids]
    auc = roc_auc_score(y, p) if 0 < sum(y) < len(y) else float("nan")
    ok, total = evidence_resolves(db)
    status = dict(db.execute("SELECT stage || '/' || status, count(*) FROM records GROUP BY 1").fetchall())
    return {"rows": rows, "auc": auc, "recall_at_80p": recall_at_precision(y, p), "evidence": (ok, total),
            "records": len(truth), "status": status,
            "amount_true": sum(sum(v.values()) for v in truth.values()),
            "amount_flag_true_types": sum(r[7] for r in rows)}


def report(res: dict) -> None:
    print(f"\nrecords with labels: {res['records']}   record states: {res['status']}")
    print(f"{'violation type':28} {'TP':>4} {'FP':>4} {'FN':>4} {'precision':>9} {'recall':>7} {'amount truth':>13} {'amount flagged':>15}")
    for t, tp, fp, fn, prec, rec, at, af in res["rows"]:
        print(f"{t:28} {tp:4d} {fp:4d} {fn:4d} {prec:9.3f} {rec:7.3f} {at:13.2f} {af:15.2f}")
    at, af = res["amount_true"], res["amount_flag_true_types"]
    print(f"\namount at risk: truth {at:.2f}  flagged (true-positive types) {af:.2f}  "
          f"difference {((af - at) / at * 100 if at else 0):+.1f}%")
    print(f"record-level ROC-AUC {res['auc']:.3f}   recall at 80% precision {res['recall_at_80p']:.3f}")
    ok, total = res["evidence"]
    print(f"evidence items whose text is on the named page: {ok}/{total} ({ok / total * 100 if total else 0:.1f}%)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench-flags")
    ap.add_argument("--records", type=int, default=60, help="records in the evaluation batch")
    ap.add_argument("--train-records", type=int, default=200, help="records in the training batch")
    ap.add_argument("--seed", type=int, default=2026, help="evaluation batch seed (not used in development)")
    ap.add_argument("--train-seed", type=int, default=4242, help="training batch seed for the classifier")
    ap.add_argument("--rates", default='{"upcoding": 2, "bed_hanging": 2, "excess_charge": 2, "item_substitution": 1.5}',
                    help="JSON violation-type weights of the evaluation batch (a mix not developed against)")
    ap.add_argument("--clean-share", type=float, default=0.6)
    ap.add_argument("--form", default="scan", help="form of the evaluation batch: scan (OCR) or text")
    ap.add_argument("--train-form", default="text", help="form of the training batch")
    ap.add_argument("--no-ner", action="store_true", help="score without entities when no NER model is trained")
    ap.add_argument("--scored-only", action="store_true",
                    help="judge only the records the pipeline finished (an evaluation run cut short)")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    # Both batches are first scored by rules alone (an empty registry), so the classifier shipped
    # in models/ plays no part; the classifier trained here is then registered in its own registry.
    no_models = a.out / "no-models"
    no_models.mkdir(exist_ok=True)
    bench_models = a.out / "models"
    train_db, train_labels = build(a.out, a.train_records, a.train_seed, a.train_form, None, 0.6, a.no_ner,
                                   no_models)
    sh("train", "classifier", "--db", train_db, "--labels", train_labels, "--models-dir", bench_models,
       "--force", models=bench_models)
    eval_db, eval_labels = build(a.out, a.records, a.seed, a.form, json.loads(a.rates), a.clean_share, a.no_ner,
                                 no_models)
    print("\n== rules only, evaluation batch (seed %d, %s) ==" % (a.seed, a.form))
    report(evaluate(eval_db, eval_labels, scored_only=a.scored_only))
    # re-score the evaluation batch with the classifier trained on the other batch
    sh("run", "--db", eval_db, "--stages", "score", "--rescore", "--workers", 2, models=bench_models)
    version = (bench_models / "classifier" / "CURRENT").read_text().strip()
    print("\n== with classifier %s (trained on seed %d, %s) ==" % (version, a.train_seed, a.train_form))
    report(evaluate(eval_db, eval_labels, scored_only=a.scored_only))


if __name__ == "__main__":
    main()
