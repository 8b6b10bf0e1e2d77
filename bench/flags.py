"""Benchmark the compliance engine through the whole pipeline on fresh generator batches.

    python bench/flags.py --out out/bench-flags --records 60 --seed 2026 [--train-seed 4242] [--form scan] [--no-ner]
    python bench/flags.py --styles --out out/bench-styles [--records 150] [--heldout-records 150] [--form text]
                          [--heldout-style ID]

With --styles (hospital print styles, pipeline/synth/data/styles.yaml): the training batch prints in
the developed styles (one hospital per style), the evaluation batches are a fresh seed of the
developed styles and a batch printed only in one held-out style (--heldout-style; default the last
listed in styles.yaml's `heldout`, the newest blind one), which development never looked at. Prints, per violation type, precision and recall on the held-out style next to the developed
ones; the risk score's ROC-AUC per style (rules only, then the classifier trained on the developed
styles), the classifier's calibration on the held-out style before and after Platt recalibration
there (two-fold cross-fitted, so no record is scored by a calibration fitted on itself); and the
share of records whose sex and age were filled (and right) per style. National (两库) flags that
say they could not judge (verdict 无法判定 / 限定条件未解析: a prompt for a manual check, not a
finding) are counted apart.

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
          no_ner: bool, models: Path, styles: tuple[str, ...] = (), name: str = "") -> tuple[Path, Path]:
    """Generate a batch (in-process generator), ingest the chosen form and run every stage;
    ``styles``: one hospital per print style (at least two hospitals, so readmissions may cross)."""
    from pipeline.synth.generate import generate

    tag = f"{name}-" if name else ""
    batch = out / f"batch-{tag}{seed}-{form}"
    db = out / f"audit-{tag}{seed}-{form}.db"
    if not (batch / "labels.jsonl").exists():
        t0 = time.monotonic()
        generate(batch, records=records, hospitals=max(2, len(styles)) if styles else 3, seed=seed, forms=(form,),
                 rates=rates, clean_share=clean_share, workers=2, styles=styles or None)
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


UNJUDGED = ("无法判定", "限定条件未解析")


def evaluate(db_path: Path, labels_path: Path, *, scored_only: bool = False, style: str | None = None,
             judged_only: bool = False) -> dict:
    """``scored_only``: judge only the records the pipeline finished (a batch cut short); ``style``:
    only records printed in that style; ``judged_only``: national flags that could not judge are
    left out of precision and recall (counted in ``unjudged``)."""
    from sklearn.metrics import roc_auc_score

    db = store.connect(db_path)
    cat = ruleset.load_catalogue()
    vtype = {r.id: r.violation_type for r in cat.rules}
    matched = match(db, read_labels(labels_path))
    if scored_only:
        scored = {r[0] for r in db.execute("SELECT id FROM records WHERE stage = 'scored'")}
        matched = {rid: label for rid, label in matched.items() if rid in scored}
    if style is not None:
        matched = {rid: label for rid, label in matched.items() if label.get("style", "standard") == style}
    flagged = defaultdict(lambda: defaultdict(float))   # rid → type → amount
    unjudged = 0
    for rid, rule_id, amount, know in db.execute(
            "SELECT record_id, rule_id, amount, knowledge FROM flags WHERE source = 'system'"):
        if judged_only and know and json.loads(know).get("verdict") in UNJUDGED:
            unjudged += rid in matched
            continue
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
    fill = identity_fill(db, matched)
    return {"rows": rows, "auc": auc, "recall_at_80p": recall_at_precision(y, p), "evidence": (ok, total),
            "records": len(truth), "status": status, "unjudged": unjudged, "fill": fill, "y": y, "p": p,
            "amount_true": sum(sum(v.values()) for v in truth.values()),
            "amount_flag_true_types": sum(r[7] for r in rows)}


def identity_fill(db, matched: dict[int, dict]) -> dict:
    """Records whose sex / age were filled, and filled right (against the label's patient)."""
    out = {"records": len(matched), "sex": 0, "sex_right": 0, "age": 0, "age_right": 0}
    if not matched:
        return out
    marks = ",".join(str(r) for r in matched)
    for rid, sex, age in db.execute(f"SELECT id, sex, age FROM records WHERE id IN ({marks})"):
        truth = matched[rid]["patient"]
        out["sex"] += sex is not None
        out["sex_right"] += sex == truth["sex"]
        out["age"] += age is not None
        out["age_right"] += age == truth["age"]
    return out


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


def _pr(row) -> str:
    _, tp, fp, fn, prec, rec, *_ = row
    fmt = lambda x: "  n/a" if x != x else f"{x:5.3f}"  # noqa: E731
    return f"{fmt(prec)} {fmt(rec)} {tp:3d}/{fp:3d}/{fn:3d}"


def _ece(y, p, bins: int = 10) -> float:
    total, err = len(y), 0.0
    for b in range(bins):
        idx = [i for i, q in enumerate(p) if b / bins <= q < (b + 1) / bins or (b == bins - 1 and q == 1.0)]
        if idx:
            err += len(idx) / total * abs(sum(y[i] for i in idx) / len(idx) - sum(p[i] for i in idx) / len(idx))
    return err


def recalibrated(y: list[int], p: list[float]) -> list[float]:
    """Platt recalibration fitted on the held-out style, two-fold cross-fitted (each half is
    scored by the fit on the other half)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = np.log(np.clip(np.array(p, float), 1e-4, 1 - 1e-4) / (1 - np.clip(np.array(p, float), 1e-4, 1 - 1e-4)))
    out = np.zeros(len(p))
    idx = np.arange(len(p))
    folds = [idx % 2 == 0, idx % 2 == 1]
    for k in (0, 1):
        fit, apply = folds[1 - k], folds[k]
        if len(set(np.array(y)[fit])) < 2:
            out[apply] = np.array(p)[apply]
            continue
        lr = LogisticRegression(C=1e6).fit(x[fit].reshape(-1, 1), np.array(y)[fit])
        out[apply] = lr.predict_proba(x[apply].reshape(-1, 1))[:, 1]
    return out.tolist()


def styles_report(dev_db: Path, dev_labels: Path, held_db: Path, held_labels: Path, developed, heldout: str,
                  title: str, scored_only: bool) -> dict:
    from sklearn.metrics import brier_score_loss, roc_auc_score

    dev = evaluate(dev_db, dev_labels, scored_only=scored_only, judged_only=True)
    held = evaluate(held_db, held_labels, scored_only=scored_only, judged_only=True)
    print(f"\n== {title} ==")
    print(f"developed styles ({', '.join(developed)}): {dev['records']} records; held-out style {heldout}: "
          f"{held['records']} records")
    print(f"{'violation type':28} {'held-out P     R   TP/ FP/ FN':>30}   {'developed P     R   TP/ FP/ FN':>30}")
    dev_rows = {r[0]: r for r in dev["rows"]}
    for r in held["rows"]:
        d = dev_rows.get(r[0])
        if r[1] + r[2] + r[3] == 0 and (d is None or d[1] + d[2] + d[3] == 0):
            continue
        print(f"{r[0]:28} {_pr(r):>30}   {_pr(d) if d else '':>30}")
    for name, res in (("held-out", held), ("developed", dev)):
        tp = sum(r[1] for r in res["rows"])
        fp = sum(r[2] for r in res["rows"])
        fn = sum(r[3] for r in res["rows"])
        print(f"micro {name}: precision {tp / (tp + fp) if tp + fp else float('nan'):.3f}  recall "
              f"{tp / (tp + fn) if tp + fn else float('nan'):.3f}   national flags that could not judge "
              f"(manual check, left out): {res['unjudged']}")
    print(f"\n{'style':12} {'records':>7} {'ROC-AUC':>8} {'sex filled':>11} {'sex right':>10} {'age filled':>11} {'age right':>10}")
    for style in list(developed) + [heldout]:
        res = evaluate(held_db if style == heldout else dev_db, held_labels if style == heldout else dev_labels,
                       scored_only=scored_only, style=style, judged_only=True)
        f = res["fill"]
        n = f["records"] or 1
        print(f"{style:12} {f['records']:7d} {res['auc']:8.3f} {f['sex'] / n:11.1%} {f['sex_right'] / n:10.1%} "
              f"{f['age'] / n:11.1%} {f['age_right'] / n:10.1%}")
    y, p = held["y"], held["p"]
    if y and 0 < sum(y) < len(y):
        q = recalibrated(y, p)
        print(f"\nheld-out calibration: Brier {brier_score_loss(y, p):.3f} → {brier_score_loss(y, q):.3f} after "
              f"Platt recalibration on the held-out style (2-fold cross-fitted); ECE {_ece(y, p):.3f} → {_ece(y, q):.3f}; "
              f"ROC-AUC {roc_auc_score(y, p):.3f} → {roc_auc_score(y, q):.3f}")
    return {"developed": dev, "heldout": held}


def measured_heldout(choice: str | None) -> str:
    """The held-out style to measure: ``choice``, or the last one listed (the newest blind one)."""
    from pipeline.synth import styles

    held = styles.heldout()
    if choice is not None and choice not in held:
        raise ValueError(f"--heldout-style {choice!r} is not held out; choose from {', '.join(held)}")
    return choice or held[-1]


def main_styles(a) -> None:
    from pipeline.synth import styles

    try:
        heldout = measured_heldout(a.heldout_style)
    except ValueError as exc:
        sys.exit(str(exc))
    developed = styles.developed()
    print(f"held-out style measured: {heldout} (held out: {', '.join(styles.heldout())})", flush=True)
    rates = json.loads(a.rates) if a.rates else None
    no_models = a.out / "no-models"
    no_models.mkdir(parents=True, exist_ok=True)
    bench_models = a.out / "models"
    train_db, train_labels = build(a.out, a.train_records, a.train_seed, a.train_form, None, 0.6, a.no_ner,
                                   no_models, developed, "train")
    sh("train", "classifier", "--db", train_db, "--labels", train_labels, "--models-dir", bench_models,
       "--force", models=bench_models)
    dev_db, dev_labels = build(a.out, a.records, a.seed, a.form, rates, a.clean_share, a.no_ner, no_models,
                               developed, "developed")
    held_db, held_labels = build(a.out, a.heldout_records, a.seed + 1, a.form, rates, a.clean_share, a.no_ner,
                                 no_models, (heldout,), f"heldout-{heldout}")
    styles_report(dev_db, dev_labels, held_db, held_labels, developed, heldout,
                  f"rules only (evaluation seeds {a.seed}, {a.seed + 1}; {a.form})", a.scored_only)
    for db in (dev_db, held_db):
        sh("run", "--db", db, "--stages", "score", "--rescore", "--workers", 2, models=bench_models)
    version = (bench_models / "classifier" / "CURRENT").read_text().strip()
    styles_report(dev_db, dev_labels, held_db, held_labels, developed, heldout,
                  f"with classifier {version} (trained on the developed styles, seed {a.train_seed})", a.scored_only)


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
    ap.add_argument("--form", default=None, help="form of the evaluation batch: scan (OCR) or text (default: scan; text with --styles)")
    ap.add_argument("--train-form", default="text", help="form of the training batch")
    ap.add_argument("--no-ner", action="store_true", help="score without entities when no NER model is trained")
    ap.add_argument("--scored-only", action="store_true",
                    help="judge only the records the pipeline finished (an evaluation run cut short)")
    ap.add_argument("--styles", action="store_true",
                    help="train on the developed print styles, evaluate on them and on one held-out style")
    ap.add_argument("--heldout-records", type=int, default=None, help="records of the held-out style batch (--styles; default --records)")
    ap.add_argument("--heldout-style", default=None,
                    help="the held-out style to measure (--styles; default: the last listed under heldout in styles.yaml)")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    if a.styles:
        a.heldout_records = a.heldout_records or a.records
        a.form = a.form or "text"
        main_styles(a)
        return
    a.form = a.form or "scan"
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
