"""What the CLI commands do: each function takes parsed arguments, prints with rich, returns an exit code."""
from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from pipeline import ingest as ingest_mod
from pipeline import stages as stages_mod
from pipeline import status as status_mod
from pipeline import store
from pipeline.runner import run_stage

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2


def _open(db_path: Path):
    try:
        return store.connect(db_path)
    except store.StoreError as exc:
        err.print(f"[red]错误[/red] {exc}")
        return None


def open_existing(db_path: Path):
    """Open a database that must already exist (commands that only read or report on a batch);
    print why not and return None."""
    if not Path(db_path).exists():
        err.print(f"[red]错误[/red] {db_path}: 数据库不存在 (no such database); run `medreview init` or `ingest` first")
        return None
    return _open(db_path)


def init(db_path: Path) -> int:
    db = _open(db_path)
    if db is None:
        return EXIT_USAGE
    console.print(f"数据库已就绪 database ready: {db_path} (schema version {store.schema_version(db)})")
    return EXIT_OK


def ingest(directory: Path, db_path: Path, *, hospital: str | None = None) -> int:
    db = _open(db_path)
    if db is None:
        return EXIT_USAGE
    try:
        summary = ingest_mod.ingest(db, directory, hospital=hospital)
    except (FileNotFoundError, PermissionError) as exc:
        err.print(f"[red]错误[/red] {exc}")
        return EXIT_USAGE
    console.print(
        f"登记 ingested {directory}: 新增 accepted {summary.accepted}, 未变 unchanged {summary.unchanged}, "
        f"重复 duplicates {summary.duplicates}, 拒收 rejected {summary.rejected}; "
        f"费用明细 claims files {summary.claims_files} ({summary.claims_rows} rows, {summary.claims_bad_rows} bad rows)"
    )
    for path, reason in summary.problems[:50]:
        console.print(f"  [yellow]![/yellow] {path}: {reason}")
    if len(summary.problems) > 50:
        console.print(f"  … {len(summary.problems) - 50} more; see `medreview status --failed`")
    return EXIT_PARTIAL if summary.rejected or summary.claims_bad_rows else EXIT_OK


def run(db_path: Path, *, workers: int = 0, stages: str = "all", retry_failed: bool = False,
        timeout: float = 600.0, ocr_engine: str | None = None, dpi: int | None = None,
        executor: str = "local", address: str | None = None, rules_override: Path | None = None,
        rescore: bool = False) -> int:
    from pipeline import registry

    db = _open(db_path)
    if db is None:
        return EXIT_USAGE
    try:   # the batch records which model versions exist and which is promoted when it is scored
        registry.sync_db(db)
    except registry.RegistryError as exc:
        err.print(f"[yellow]警告[/yellow] 模型登记不可读 model registry unreadable: {exc}")
    try:
        names = stages_mod.parse(stages)
    except ValueError as exc:
        err.print(f"[red]错误[/red] {exc}")
        return EXIT_USAGE
    options = {"db_path": str(Path(db_path).resolve())}
    if ocr_engine:
        options["engine"] = ocr_engine
    if dpi:
        options["dpi"] = dpi
    # Only the scoring stage reads the rule catalogue (the read stage refuses options it does not know).
    per_stage = {"score": {"rules_override": str(rules_override)}} if rules_override else {}
    if rules_override and "score" in names:
        from pipeline.rules import catalogue

        try:   # a bad region file is a usage error before any record is touched
            catalogue.load(None, rules_override)
        except (catalogue.CatalogueError, OSError) as exc:
            err.print(f"[red]错误[/red] {exc}")
            return EXIT_USAGE
    if rescore and "score" not in names:
        err.print("[red]错误[/red] --rescore 需要包含 score 阶段 (--rescore needs the score stage)")
        return EXIT_USAGE
    if rescore:   # scored records wait for the score stage again; an interrupted re-score resumes with plain `run`
        moved = store.rewind(db, "scored", "extracted")
        console.print(f"重新评分 rescoring {moved} 份已评分病历 (scored records)")
    run_id = store.insert_one(db, "runs", {
        "command": "run", "params": {"stages": names, "workers": workers, "retry_failed": retry_failed, "rescore": rescore,
                                     "timeout": timeout, "ocr_engine": ocr_engine, "dpi": dpi,
                                     "rules_override": str(rules_override) if rules_override else None},
        "started_at": store.now(), "status": "running"})
    reports = []
    status = "done"
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[items]} items · {task.fields[rate]}"),
                      TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                      disable=not console.is_terminal) as progress:
            for name in names:
                try:
                    factory = stages_mod.factory(name, **options, **per_stage.get(name, {}))
                except stages_mod.StageUnavailable as exc:
                    err.print(f"[red]错误[/red] {exc}")
                    status = "failed"
                    return EXIT_USAGE
                task = progress.add_task(name, total=None, items=0, rate="")
                started = time.monotonic()

                def on_progress(stage, done, total, items, _task=task, _started=started):
                    rate = items / max(time.monotonic() - _started, 1e-6)
                    progress.update(_task, completed=done, total=total, items=items, rate=f"{rate:.1f}/s")

                report = run_stage(db, factory, workers=workers, timeout=timeout,
                                   retry_failed=retry_failed, progress=on_progress,
                                   executor=executor, address=address)
                reports.append(report)
    except KeyboardInterrupt:
        status = "interrupted"
        err.print("[yellow]已中断 interrupted[/yellow] — 再次运行 `medreview run` 将从中断处继续 (re-run to resume)")
        return 130
    except store.StoreError as exc:
        status = "failed"
        err.print(f"[red]错误[/red] {exc}")
        return EXIT_USAGE
    finally:
        counts = status_mod.collect(db)
        db.execute("UPDATE runs SET finished_at = ?, status = ?, counts = ? WHERE id = ?",
                   (store.now(), status, store.dumps(counts), run_id))
    table = Table(title="运行结果 run summary")
    for col in ("stage", "done", "failed", "items", "seconds", "peak RSS MiB"):
        table.add_column(col, justify="right" if col != "stage" else "left")
    for r in reports:
        table.add_row(r.stage, str(r.done), str(r.failed), str(r.items), f"{r.seconds:.1f}", f"{r.peak_rss_mb:.0f}")
    console.print(table)
    for r in reports:
        for rid, reason in r.failures[:20]:
            console.print(f"  [yellow]![/yellow] record {rid} failed at {r.stage}: {reason}")
    return EXIT_PARTIAL if any(r.failed for r in reports) else EXIT_OK


def status(db_path: Path, *, as_json: bool = False, list_failed: bool = False) -> int:
    db = open_existing(db_path)
    if db is None:
        return EXIT_USAGE
    counts = status_mod.collect(db)
    problems = status_mod.problems(db) if (list_failed or as_json) else []
    if as_json:
        print(json.dumps({**counts, "problems": problems}, ensure_ascii=False, indent=2))
        return EXIT_OK
    status_mod.render(console, counts, problems if list_failed else None)
    return EXIT_OK


def doctor(*, as_json: bool = False) -> int:
    from pipeline import doctor as doctor_mod

    checks = doctor_mod.run_checks()
    if as_json:
        print(json.dumps(checks, ensure_ascii=False, indent=2))
    else:
        table = Table(title="环境检查 environment")
        table.add_column("check")
        table.add_column("ok")
        table.add_column("detail")
        for c in checks:
            mark = "[green]✓[/green]" if c["ok"] else ("[yellow]–[/yellow]" if c.get("optional") else "[red]✗[/red]")
            table.add_row(c["name"], mark, c["detail"])
        console.print(table)
    return EXIT_OK if all(c["ok"] or c.get("optional") for c in checks) else EXIT_USAGE


def demo(out: Path, *, records: int = 20, form: str = "text", simulate_reviews: int = 0) -> int:
    from pipeline import demo as demo_mod

    return demo_mod.run_demo(out, records=records, form=form, console=console, simulate_reviews=simulate_reviews)
