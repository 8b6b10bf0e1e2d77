"""`medreview demo`: the whole loop on the built-in sample batch, printing where the results are."""
from __future__ import annotations

from pathlib import Path

from pipeline import commands, ingest, status, store

DEMO_SEED = 20241123
DEMO_HOSPITALS = 2


def run_demo(out: Path, *, records: int, form: str, console) -> int:
    from pipeline import synth

    if form not in ("text", "scan"):
        console.print(f"[red]错误[/red] --form must be text or scan, not {form!r}")
        return commands.EXIT_USAGE
    out = Path(out)
    batch = out / "batch"
    db_path = out / "audit.db"
    if not (batch / "manifest.json").exists():
        console.print(f"生成样例批次 generating the sample batch ({records} records) → {batch}")
        synth.generate(batch, records=records, hospitals=DEMO_HOSPITALS, seed=DEMO_SEED, forms=(form,))
    db = store.connect(db_path)
    summary = ingest.ingest(db, batch / form)
    console.print(f"登记 ingested: {summary.accepted} new, {summary.unchanged} unchanged, {summary.rejected} rejected")
    code = commands.run(db_path)
    counts = status.collect(db)
    status.render(console, counts, None)
    console.print(f"\n数据库 database: {db_path.resolve()}")
    console.print(f"查看状态 status:  medreview status --db {db_path}")
    return code
