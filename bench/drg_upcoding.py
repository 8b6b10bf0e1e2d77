"""高套分组 detection measured on a fresh synth batch (bench/drg.py --upcoding): the generator
injects upcoding where it moves a record to a dearer group (an unsupported MCC, a dearer main
diagnosis, a procedure coded but not done) and sets traps on clean records (a true MCC a lab value
supports); the batch runs through every stage (text form) and the DRG-UPCODING flags are compared,
record by record, with the labels' DRG truth (``drg.upcoded``, ``drg.amount``). Also: grouping of
the pipeline against the generator's own grouping of what the 首页 codes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline import store  # noqa: E402
from pipeline.score.train import match, read_labels  # noqa: E402
from pipeline.synth.generate import generate  # noqa: E402

MEDREVIEW = [sys.executable, str(ROOT / "cli.py")]
RATES = {"upcoding": 8.0}   # other violation types keep weight 1: they share records with upcoding


def _sh(*args) -> None:
    print("$ medreview", " ".join(map(str, args)), flush=True)
    subprocess.run(MEDREVIEW + [str(a) for a in args], check=False, cwd=ROOT, env=dict(os.environ),
                   stdout=subprocess.DEVNULL)


def _table(title, head, rows):
    print(f"\n{title}")
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    print("  ".join(str(h).ljust(w) for h, w in zip(head, widths)))
    for r in rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(r, widths)))


def upcoding_bench(records: int, seed: int, out: Path | None = None, styles: list[str] | None = None) -> int:
    """``out``: a folder kept between runs (the batch is generated and ingested once; the run
    resumes)."""
    out = Path(out or tempfile.mkdtemp(prefix="drg-upcoding-"))
    tag = f"{seed}-{'-'.join(styles)}" if styles else f"{seed}"   # a kept folder per seed and styles
    batch, db_path = out / f"batch-{tag}", out / f"audit-{tag}.db"
    if not (batch / "labels.jsonl").exists():
        t0 = time.monotonic()
        generate(batch, records=records, hospitals=3, seed=seed, forms=("text",), rates=RATES, clean_share=0.55, workers=2,
                 styles=styles)
        print(f"generated {records} records (seed {seed}, styles {','.join(styles or ['standard'])}, text) in {time.monotonic() - t0:.0f}s", flush=True)
    if not db_path.exists():
        _sh("ingest", batch / "text", "--db", db_path)
    t0 = time.monotonic()
    _sh("run", "--db", db_path, "--workers", 2)
    print(f"pipeline: {time.monotonic() - t0:.0f}s", flush=True)
    db = store.connect(db_path)
    labels = match(db, read_labels(batch / "labels.jsonl"))
    groups = {r["record_id"]: r for r in db.query("SELECT * FROM drg_groups")}
    flags = {}
    for r in db.query("SELECT record_id, amount, reason, details FROM flags WHERE rule_id = 'DRG-UPCODING'"):
        flags[r["record_id"]] = r
    tp = fp = fn = tn = 0
    by_kind, traps = Counter(), Counter()
    amount_true = amount_flag = amount_tp_true = amount_tp_flag = 0.0
    misses, false = [], []
    for rid, lab in labels.items():
        truth = lab["drg"]
        hit = rid in flags
        if truth["upcoded"]:
            by_kind[(truth["kind"], "found" if hit else "missed")] += 1
            amount_true += truth["amount"]
        if hit:
            amount_flag += flags[rid]["amount"]
        if truth["upcoded"] and hit:
            tp += 1
            amount_tp_true += truth["amount"]
            amount_tp_flag += flags[rid]["amount"]
        elif hit:
            fp += 1
            false.append((lab["admission_no"], flags[rid]["reason"][:160]))
        elif truth["upcoded"]:
            fn += 1
            misses.append((lab["admission_no"], truth["kind"], truth["coded"]["drg"], truth["true"]["drg"],
                           groups.get(rid, {}).get("supported_drg")))
        else:
            tn += 1
        if truth.get("trap"):
            traps["flagged" if hit else "clean"] += 1
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    n = len(labels)
    same = sum(1 for rid, lab in labels.items() if groups.get(rid, {}).get("drg") == lab["drg"]["coded"]["drg"])
    print(f"\nbatch: {n} records matched to labels, {sum(1 for lab in labels.values() if lab['drg']['upcoded'])} upcoded "
          f"(group moved to a dearer one), {sum(1 for lab in labels.values() if lab['drg'].get('trap'))} traps")
    print(f"pipeline's coded group equals the generator's grouping of the 首页 codes: {same}/{n}")
    _table("高套分组 (DRG-UPCODING) vs truth, record level", ["TP", "FP", "FN", "TN", "precision", "recall"],
           [[tp, fp, fn, tn, f"{prec:.3f}", f"{rec:.3f}"]])
    _table("by injected kind", ["kind", "found", "missed"],
           [[k, by_kind[(k, "found")], by_kind[(k, "missed")]] for k in sorted({k for k, _ in by_kind})])
    print(f"\ntraps (true MCC supported by a lab value): {traps['clean']} stayed clean, {traps['flagged']} flagged")
    _table("amount at risk (元, example region parameters)", ["", "truth", "flags", "ratio"],
           [["all upcoded records / all flags", f"{amount_true:.2f}", f"{amount_flag:.2f}",
             f"{amount_flag / amount_true:.3f}" if amount_true else "-"],
            ["true positives only", f"{amount_tp_true:.2f}", f"{amount_tp_flag:.2f}",
             f"{amount_tp_flag / amount_tp_true:.3f}" if amount_tp_true else "-"]])
    for m in misses[:10]:
        print("  missed", m)
    for f in false[:10]:
        print("  false ", f)
    print(f"\nbatch and database kept in {out}")
    return 0
