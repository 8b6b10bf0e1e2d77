"""`medreview demo`: the whole loop on the built-in sample batch, printing where the results are.

generate → ingest → run (read, segment, extract, score) → [simulated reviewer decisions →
annotations export → retrain the classifier into the demo's own registry] → report.
Re-running it reuses what is already there (every step is idempotent).
"""
from __future__ import annotations

import json
from pathlib import Path

from pipeline import commands, ingest, status, store

DEMO_SEED = 20241123
DEMO_HOSPITALS = 2
DEMO_CLEAN_SHARE = 0.5  # more violations than a real batch, so the demo shows each kind of flag


def _truth(db, labels_path: Path) -> dict[int, set[str]]:
    """record id → violation types, joining the generator's labels on (hospital, admission no.)."""
    ids = {(r[0], r[1]): r[2] for r in db.execute("SELECT hospital_id, admission_no, id FROM records")}
    truth = {}
    for line in labels_path.read_text(encoding="utf-8").splitlines():
        label = json.loads(line)
        rid = ids.get((label["hospital_id"], label["admission_no"]))
        if rid is not None:
            truth[rid] = {v["type"] for v in label["violations"]}
    return truth


def _simulate_reviews(db, labels_path: Path, n: int, annotations_dir: Path, console) -> None:
    from pipeline.annotations.export import export_decisions
    from pipeline.annotations.simulate import simulate_reviewer
    from pipeline.rules import catalogue

    rule_types = {r.id: r.violation_type for r in catalogue.load().rules}
    made = simulate_reviewer(db, _truth(db, labels_path), rule_types, n, user="demo-reviewer")
    console.print(f"模拟审核 simulated reviewer decisions (ground truth as the reviewer): {made}")
    res = export_decisions(db, annotations_dir, mask=True)
    console.print(f"审核结论导出 annotations: {res['path']} ({res['rows']} rows)")


def _retrain(db_path: Path, labels_path: Path, annotations_dir: Path, models_dir: Path, console) -> None:
    """Retrain on the generator's labels with the reviewers' decisions winning, into the demo's own
    registry (the shipped models/ stay untouched)."""
    from pipeline.score import train

    console.print(f"重新训练 retraining the classifier → {models_dir}")
    train.command(db_path, labels_path, models_dir, annotations=annotations_dir, echo=console.print)


def run_demo(out: Path, *, records: int, form: str, console, simulate_reviews: int = 0) -> int:
    from pipeline import report, synth

    if form not in ("text", "scan"):
        console.print(f"[red]错误[/red] --form must be text or scan, not {form!r}")
        return commands.EXIT_USAGE
    out = Path(out)
    batch = out / "batch"
    db_path = out / "audit.db"
    if not (batch / "manifest.json").exists():
        console.print(f"生成样例批次 generating the sample batch ({records} records, {form}) → {batch}")
        synth.generate(batch, records=records, hospitals=DEMO_HOSPITALS, seed=DEMO_SEED, forms=(form,),
                       clean_share=DEMO_CLEAN_SHARE)
    db = store.connect(db_path)
    summary = ingest.ingest(db, batch / form)
    console.print(f"登记 ingested: {summary.accepted} new, {summary.unchanged} unchanged, {summary.rejected} rejected")
    code = commands.run(db_path)
    if code not in (commands.EXIT_OK, commands.EXIT_PARTIAL):
        return code
    status.render(console, status.collect(db), None)
    if simulate_reviews:
        _simulate_reviews(db, batch / "labels.jsonl", simulate_reviews, out / "annotations", console)
        _retrain(db_path, batch / "labels.jsonl", out / "annotations", out / "models", console)
    paths = report.write_report(db, out / "report")
    console.print(f"\n数据库 database:  {db_path.resolve()}")
    console.print(f"报告 report:      {Path(paths['html']).resolve()}")
    console.print(f"               {Path(paths['xlsx']).resolve()}")
    console.print(f"审核界面 review UI: medreview users add NAME --role reviewer --db {db_path}")
    console.print(f"                  medreview review --db {db_path}   (http://127.0.0.1:8765)")
    return code
