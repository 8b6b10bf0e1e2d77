"""Benchmark the national 两库 checks on a batch the pipeline has run (segmented or later).

    python bench/knowledge.py --speed --db out/audit.db [--repeat 3]
    python bench/knowledge.py --classes --db out/audit.db [--labels labels.jsonl]
    python bench/knowledge.py --synth 300 --seed 9173 --out /tmp/kb --classes --speed

--speed    score-stage work per record (rules, stay, features, score) with today's catalogue
           without the national rules and with them, on the same records, and the ratio (target
           ≤ 1.5×); the knowledge-pack index is built once per process and timed apart.
--classes  national flags per rule class by verdict (违规 / 无法判定 / 限定条件未解析: the last two
           are the unknowns and the restrictions shown as text), and, where the labels name the
           rule class of each injected violation, per rule class at record level: admissions with
           a violation of the class (injected), with a trap of it and no violation (traps), with a
           flag of it that decided (flagged), TP / FP / FN, the FPs on traps, precision and recall
           (targets: recall ≥ 0.95, precision ≥ 0.90 for every class with a violation).
--synth N  first generate a text batch of N admissions with the sample generator (--seed, half of
           them with violations, --out folder), ingest it and run every stage; then measure on it.
           --styles names the print styles (pipeline/synth/data/styles.yaml; `ledger` and `county3`
           are held out of development).

The database is copied to a temporary folder first (the copy is migrated; the original is left
as it is).
"""
from __future__ import annotations

import argparse
import copy
import json
import shutil
import statistics
import sys
import tempfile
import time
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline import store  # noqa: E402
from pipeline.packs import active  # noqa: E402
from pipeline.record import view as record_view  # noqa: E402
from pipeline.rules import catalogue as catalogue_mod  # noqa: E402
from pipeline.rules.ruleset import load as load_rules  # noqa: E402
from pipeline.score.stage import ScoreStage  # noqa: E402


def copy_db(src: Path, folder: Path) -> Path:
    dst = folder / src.name
    shutil.copy(src, dst)
    for ext in ("-wal", "-shm"):
        if Path(f"{src}{ext}").exists():
            shutil.copy(f"{src}{ext}", f"{dst}{ext}")
    return dst


def catalogue_without_national(folder: Path) -> Path:
    """Today's catalogue less its national rules (what scoring ran before the packs were checked)."""
    data = yaml.safe_load(catalogue_mod.DEFAULT_PATH.read_text(encoding="utf-8"))
    data["rules"] = [r for r in data["rules"] if r["family"] != "national"]
    path = folder / "catalogue-no-national.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def time_stage(stage: ScoreStage, tasks: list[dict], repeat: int) -> list[float]:
    """Seconds of ``work`` per record, the best of ``repeat`` passes for each record; each pass on
    fresh copies of the views (what a view caches, such as its matched lines, starts empty)."""
    best = [float("inf")] * len(tasks)
    for _ in range(repeat):
        ctx: dict = {}
        for i, task in enumerate(copy.deepcopy(tasks)):
            t0 = time.perf_counter()
            for _r in stage.work(task, ctx):
                pass
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def speed(db_path: Path, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        db = store.connect(copy_db(db_path, Path(tmp)))
        ids = [r[0] for r in db.execute("SELECT id FROM records WHERE status != 'failed' AND stage IN"
                                        " ('segmented', 'extracted', 'scored') ORDER BY id")]
        if not ids:
            raise SystemExit(f"{db_path}: no segmented records")
        base = ScoreStage(db_path=None, catalogue_path=str(catalogue_without_national(Path(tmp))))
        full = ScoreStage(db_path=None)
        base.check(), full.check()   # the catalogues are read now, while the temporary folder exists
        tasks = [{"view": record_view.load(db, rid), "cross": [], "model": None} for rid in ids]
    packs = active.load_active()
    t0 = time.perf_counter()
    index = packs.index
    index.match_name("葡萄糖注射液")   # the name index is built on its first lookup
    build = time.perf_counter() - t0
    before = time_stage(base, tasks, repeat)
    after = time_stage(full, tasks, repeat)
    return {"records": len(ids), "index_build_s": build, "points": len(packs),
            "before_ms": 1000 * statistics.mean(before), "after_ms": 1000 * statistics.mean(after),
            "before_median_ms": 1000 * statistics.median(before), "after_median_ms": 1000 * statistics.median(after),
            "ratio": statistics.mean(after) / statistics.mean(before)}


def pad(s: str, width: int) -> str:
    """``s`` padded to ``width`` terminal columns (CJK characters take two)."""
    return s + " " * max(0, width - sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s))


def national_flags(db) -> list[dict]:
    return [{"record_id": rid, "rule_id": rule_id, "amount": amount, **json.loads(kn)}
            for rid, rule_id, amount, kn in db.execute(
                "SELECT record_id, rule_id, amount, knowledge FROM flags WHERE source = 'system'"
                " AND knowledge IS NOT NULL")]


def verdicts(db) -> dict[str, Counter]:
    """Rule class → national flags by verdict (违规, 无法判定, 限定条件未解析)."""
    out: dict[str, Counter] = defaultdict(Counter)
    for f in national_flags(db):
        out[f["rule_class"]][f["verdict"]] += 1
    return out


def per_class_scores(db, labels: list[dict]) -> list[dict]:
    """Per rule class the labels name (a violation's ``rule_class``, a trap's), at record level:
    injected, traps, flagged, tp, fp, fn, fp_traps, precision, recall. Only flags that decided
    (违规) count as found."""
    from pipeline.score.train import match

    matched = match(db, labels)
    truth = {rid: {v["rule_class"] for v in lab.get("violations", []) if v.get("rule_class")}
             for rid, lab in matched.items()}
    traps = {rid: {t["rule_class"] for t in lab.get("knowledge_traps", [])} - truth[rid] for rid, lab in matched.items()}
    flagged: dict[int, set] = defaultdict(set)
    for f in national_flags(db):
        if f["verdict"] == "违规" and f["record_id"] in truth:
            flagged[f["record_id"]].add(f["rule_class"])
    rows = []
    named = {c for v in truth.values() for c in v} | {c for v in traps.values() for c in v}
    for rc in sorted(named | {c for v in flagged.values() for c in v}):
        tp = sum(1 for rid in truth if rc in truth[rid] and rc in flagged[rid])
        fp = sum(1 for rid in truth if rc not in truth[rid] and rc in flagged[rid])
        fn = sum(1 for rid in truth if rc in truth[rid] and rc not in flagged[rid])
        rows.append({"rule_class": rc, "injected": tp + fn, "traps": sum(rc in traps[rid] for rid in traps),
                     "flagged": tp + fp, "tp": tp, "fp": fp, "fn": fn,
                     "fp_traps": sum(1 for rid in traps if rc in traps[rid] and rc in flagged[rid]),
                     "precision": tp / (tp + fp) if tp + fp else float("nan"),
                     "recall": tp / (tp + fn) if tp + fn else float("nan")})
    return rows


def print_scores(rows: list[dict]) -> None:
    cols = ("injected", "traps", "flagged", "tp", "fp", "fn", "fp_traps")
    print(f"  {pad('rule class', 30)}" + "".join(f"{c:>9}" for c in cols) + f"{'precision':>11}{'recall':>8}")
    for r in rows:
        print(f"  {pad(r['rule_class'], 30)}" + "".join(f"{r[c]:>9}" for c in cols)
              + f"{r['precision']:>11.2f}{r['recall']:>8.2f}")
    missed = [r["rule_class"] for r in rows if r["injected"] and not (r["recall"] >= 0.95 and r["precision"] >= 0.90)]
    print(f"  classes with a violation below target (recall >= 0.95, precision >= 0.90): {len(missed)}"
          + (f" ({'、'.join(missed)})" if missed else ""))


def make_batch(records: int, seed: int, out: Path, workers: int, styles: list[str] | None = None) -> tuple[Path, Path]:
    """A text batch from the sample generator, ingested and run through every stage."""
    from pipeline import ingest, synth
    from pipeline.run import RunOptions, run_batch
    from pipeline.run.stages import ORDER

    t0 = time.perf_counter()
    synth.generate(out / "batch", records=records, hospitals=3, seed=seed, forms=("text",), clean_share=0.5,
                   workers=workers, styles=styles)
    db_path = out / "audit.db"
    db = store.connect(db_path)
    ingest.ingest(db, out / "batch" / "text")
    run = run_batch(db, ORDER, RunOptions(workers=workers))
    failed = sum(r.failed for r in run.stages)
    print(f"batch: {records} admissions, seed {seed}, styles {','.join(styles or ['standard'])}, generated and run in {time.perf_counter() - t0:.0f}s"
          f" ({failed} failed) -> {db_path}")
    return db_path, out / "batch" / "labels.jsonl"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", type=Path)
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--classes", action="store_true")
    ap.add_argument("--labels", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--synth", type=int, metavar="N", help="generate and run a batch of N admissions first")
    ap.add_argument("--seed", type=int, default=9173)
    ap.add_argument("--out", type=Path, help="folder for the --synth batch and database")
    ap.add_argument("--styles", help="comma-separated print styles of the --synth batch (default: standard)")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(argv)
    if not (a.speed or a.classes):
        ap.error("choose --speed and/or --classes")
    if a.synth:
        if not a.out:
            ap.error("--synth needs --out")
        a.db, a.labels = make_batch(a.synth, a.seed, a.out, a.workers, a.styles.split(",") if a.styles else None)
    if not a.db:
        ap.error("give --db, or --synth N --out DIR")
    if a.speed:
        r = speed(a.db, a.repeat)
        print(f"score-stage work per record, {r['records']} records, best of {a.repeat} passes "
              f"(rules {load_rules().version}, {r['points']} knowledge points)")
        print(f"  {'catalogue':<38}{'mean ms':>9}{'median ms':>11}")
        print(f"  {'today, without the national rules':<38}{r['before_ms']:>9.2f}{r['before_median_ms']:>11.2f}")
        print(f"  {'with the national rules':<38}{r['after_ms']:>9.2f}{r['after_median_ms']:>11.2f}")
        print(f"  ratio {r['ratio']:.2f}x (target <= 1.5x); pack index built once per process in {r['index_build_s']:.2f}s")
    if a.classes:
        with tempfile.TemporaryDirectory() as tmp:
            db = store.connect(copy_db(a.db, Path(tmp)))
            v = verdicts(db)
            print(f"  {pad('rule class', 30)}{pad('违规', 8)}{pad('无法判定', 10)}限定条件未解析")
            for rc in sorted(v, key=lambda k: -sum(v[k].values())):
                print(f"  {pad(rc, 30)}{pad(str(v[rc]['违规']), 8)}{pad(str(v[rc]['无法判定']), 10)}{v[rc]['限定条件未解析']}")
            if a.labels:
                from pipeline.score.train import read_labels

                rows = per_class_scores(db, read_labels(a.labels))
                if not rows:
                    print("  the labels name no rule class")
                else:
                    print(f"per rule class, record level ({a.labels})")
                    print_scores(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
