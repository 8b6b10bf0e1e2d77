"""`medreview init | ingest | run | status | doctor | demo | synth`: the batch's life cycle."""
from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from pipeline import ingest as ingest_mod
from pipeline import status as status_mod
from pipeline import store
from pipeline.commands import EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, console, err, error, open_db, \
    open_existing
from pipeline.run import RunError, RunOptions, StageUnavailable, run_batch

OCR_SECONDS_PER_PAGE = 3.5   # measured: one single-threaded OCR worker per core (docs/ARCHITECTURE.md)

STAGE_LABELS = {
    "ingested": "已登记 ingested",
    "read": "已识别 read",
    "segmented": "已切分 segmented",
    "extracted": "已抽取 extracted",
    "scored": "已评分 scored",
}


def init(db_path: Path) -> int:
    db = open_db(db_path)
    if db is None:
        return EXIT_USAGE
    console.print(f"数据库已就绪 database ready: {db_path} (schema version {store.schema_version(db)})")
    return EXIT_OK


def ingest(directory: Path, db_path: Path, *, hospital: str | None = None) -> int:
    # Checked before the database is opened, so a mistyped folder leaves no empty database behind.
    if not Path(directory).is_dir():
        return error(f"{directory}: {'不是文件夹 (not a folder)' if Path(directory).exists() else '文件夹不存在 (no such folder)'}")
    db = open_db(db_path)
    if db is None:
        return EXIT_USAGE
    try:
        summary = ingest_mod.ingest(db, directory, hospital=hospital)
    except (FileNotFoundError, PermissionError) as exc:
        return error(exc)
    console.print(
        f"登记 ingested {directory}: 新增 accepted {summary.accepted}, 未变 unchanged {summary.unchanged}, "
        f"重复 duplicates {summary.duplicates}, 拒收 rejected {summary.rejected}, 跳过 skipped {summary.skipped}; "
        f"费用明细 claims files {summary.claims_files} ({summary.claims_rows} rows, {summary.claims_bad_rows} bad rows)"
    )
    for path, reason in summary.skipped_paths[:50]:
        console.print(f"  [dim]-[/dim] {path}: {reason}")
    for path, reason in summary.problems[:50]:
        console.print(f"  [yellow]![/yellow] {path}: {reason}")
    if len(summary.problems) > 50:
        console.print(f"  … {len(summary.problems) - 50} more; see `medreview status --failed`")
    return EXIT_PARTIAL if summary.rejected or summary.claims_bad_rows else EXIT_OK


@contextmanager
def progress_bars(item_totals: dict[str, int] | None = None):
    """A rich progress bar per stage (only on a terminal), fed by ``run_batch``'s callback.

    A stage named in ``item_totals`` (read: the pages to read) counts its items (pages) instead of
    its records, so a batch of a few long scanned records shows its rate and time left page by
    page, not "0/2" until the first record is done."""
    item_totals = item_totals or {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[detail]}"),
                  TimeElapsedColumn(), TextColumn("剩余 ETA"), TimeRemainingColumn(), console=console,
                  disable=not console.is_terminal) as progress:
        tasks: dict[str, tuple[int, float]] = {}

        def on_progress(stage, done, total, items):
            by_items = stage in item_totals
            if stage not in tasks:
                label = f"{stage} 页 pages" if by_items else f"{stage} 病历 records"
                tasks[stage] = (progress.add_task(label, total=None, detail=""), time.monotonic())
            task, started = tasks[stage]
            elapsed = max(time.monotonic() - started, 1e-6)
            if by_items:
                rate = items / elapsed
                progress.update(task, completed=items, total=max(item_totals[stage], items),
                                detail=f"病历 records {done}/{total} · {rate:.2f} 页/s")
            else:
                progress.update(task, completed=done, total=total,
                                detail=f"{items} items · {items / elapsed:.1f}/s")

        yield on_progress


def print_run_report(report) -> int:
    """The run summary table and the failed records; the exit code the run earns."""
    for w in report.warnings:
        err.print(f"[yellow]警告[/yellow] {w}")
    table = Table(title="运行结果 run summary")
    for col in ("stage", "done", "failed", "items", "seconds", "peak RSS MiB"):
        table.add_column(col, justify="right" if col != "stage" else "left")
    for r in report.stages:
        table.add_row(r.stage, str(r.done), str(r.failed), str(r.items), f"{r.seconds:.1f}", f"{r.peak_rss_mb:.0f}")
    console.print(table)
    for r in report.stages:
        for rid, reason in r.failures[:20]:
            console.print(f"  [yellow]![/yellow] record {rid} failed at {r.stage}: {reason}")
    return EXIT_PARTIAL if report.failed else EXIT_OK


@contextmanager
def run_errors():
    """Turn what ``run_batch`` raises into a message; the caller returns ``state["code"]``."""
    state = {"code": None}
    try:
        yield state
    except (RunError, StageUnavailable, store.StoreError) as exc:
        state["code"] = error(exc)
    except KeyboardInterrupt:
        err.print("[yellow]已中断 interrupted[/yellow] — 再次运行 `medreview run` 将从中断处继续 (re-run to resume)")
        state["code"] = EXIT_INTERRUPTED


def run(db_path: Path, *, workers: int = 0, stages: str = "all", retry_failed: bool = False,
        timeout: float = 600.0, ocr_engine: str | None = None, dpi: int | None = None,
        executor: str = "local", address: str | None = None, rules_override: Path | None = None,
        rescore: bool = False, profiles: Path | None = None) -> int:
    db = open_existing(db_path)
    if db is None:
        return EXIT_USAGE
    stage_options: dict[str, dict] = {}
    if ocr_engine or dpi:
        stage_options["read"] = {k: v for k, v in (("engine", ocr_engine), ("dpi", dpi)) if v}
    if rules_override:   # only the scoring stage reads the rule catalogue
        stage_options["score"] = {"rules_override": str(rules_override)}
    if profiles:   # per-hospital spellings, read by segmentation
        stage_options["segment"] = {"profiles": str(profiles)}
    options = RunOptions(workers=workers, timeout=timeout, retry_failed=retry_failed, rescore=rescore,
                         executor=executor, address=address, stage_options=stage_options)
    totals = {"read": status_mod.pages_to_read(db)} if stages in ("all", "") or "read" in stages.split(",") else {}
    with run_errors() as failed, progress_bars(totals) as on_progress:
        report = run_batch(db, stages.split(","), options, progress=on_progress)
    if failed["code"] is not None:
        return failed["code"]
    if rescore:
        console.print(f"重新评分 rescoring {report.rescored} 份已评分病历 (scored records)")
    return print_run_report(report)


def render_status(counts: dict, problem_list: list[dict] | None) -> None:
    """The coverage table of `medreview status` (also printed by the demo)."""
    i = counts["inputs"]
    r = counts["records"]
    console.print(
        f"输入 inputs: 收到 received {i['received']} = 受理 accepted {i['accepted']}"
        f" + 重复 duplicate {i['duplicate']} + 拒收 rejected {i['rejected']} + 跳过 skipped {i.get('skipped', 0)}"
        f"   医院 hospitals {counts['hospitals']}"
    )
    table = Table(title=f"病历 records: {r['total']}")
    table.add_column("stage")
    table.add_column("reached", justify="right")
    table.add_column("failed here", justify="right")
    fs = r["failed_by_stage"]
    for stage in store.STAGES:
        table.add_row(STAGE_LABELS[stage], str(r["reached"][stage]), str(fs.get(stage, 0)) if stage != "ingested" else "")
    table.add_row("失败 failed (total)", str(r["failed"]), "")
    table.add_row("处理中 in progress", str(r["in_progress"]), "")
    console.print(table)
    c = counts["claims"]
    console.print(f"费用明细 claims: {c['files']} files, {c['rows']} rows imported, {c['bad_rows']} bad rows,"
                  f" {c['rejected_files']} files rejected")
    if counts["coverage_complete"]:
        console.print(f"[green]全覆盖 100% coverage[/green]: {r['reached']['scored']} scored + {r['failed']} failed"
                      f" = {r['total']} records")
    else:
        console.print(f"[yellow]未完成 not complete[/yellow]: {r['in_progress']} records still to process"
                      " (`medreview run`)")
    if problem_list is not None:
        for p in problem_list:
            console.print(f"  [yellow]{p['state']}[/yellow] {p['path']}: {p['reason']}")


def status(db_path: Path, *, as_json: bool = False, list_failed: bool = False) -> int:
    db = open_existing(db_path)
    if db is None:
        return EXIT_USAGE
    counts = status_mod.collect(db)
    problems = status_mod.problems(db) if (list_failed or as_json) else []
    if as_json:
        print(json.dumps({**counts, "problems": problems}, ensure_ascii=False, indent=2))
        return EXIT_OK
    render_status(counts, problems if list_failed else None)
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


def read_plan(pages: int, form: str, workers: int) -> str:
    """What reading will take, said before it starts: the scanned form goes through OCR."""
    if form != "scan":
        return f"将读取 {pages} 页文字层 (text layer of {pages} pages)"
    minutes = max(1, round(pages * OCR_SECONDS_PER_PAGE / workers / 60))
    return (f"将用 OCR 识别 {pages} 页 (OCR of {pages} pages, ~{OCR_SECONDS_PER_PAGE:.1f} s/page on {workers} "
            f"worker(s)): 预计约 {minutes} 分钟 (about {minutes} min)")


def demo(out: Path, *, records: int = 20, form: str = "text", simulate_reviews: int = 0) -> int:
    from pipeline.demo import FORMS, run_demo

    if form not in FORMS:
        return error(f"--form must be text or scan, not {form!r}")
    out = Path(out)
    if not (out / "batch" / "manifest.json").exists():
        console.print(f"生成样例批次 generating the sample batch ({records} records, {form}) → {out / 'batch'}")
    def plan(pages: int) -> None:
        if pages:
            console.print(read_plan(pages, form, max(1, os.cpu_count() or 1)))

    with run_errors() as failed:
        res = run_demo(out, records=records, form=form, simulate_reviews=simulate_reviews, on_plan=plan,
                       progress_factory=progress_bars)
    if failed["code"] is not None:
        return failed["code"]
    s = res.ingest
    console.print(f"登记 ingested: {s.accepted} new, {s.unchanged} unchanged, {s.rejected} rejected")
    code = print_run_report(res.run)
    render_status(res.run.counts, None)
    if simulate_reviews:
        console.print(f"模拟审核 simulated reviewer decisions (ground truth as the reviewer): {res.simulated}")
        console.print(f"审核结论导出 annotations: {res.annotations['path']} ({res.annotations['rows']} rows)")
        t = res.retrained
        console.print(f"重新训练 retrained the classifier → {out / 'models'}: "
                      + (f"错误 {t['error']}" if "error" in t else
                         f"{t['id']} ({'已发布 promoted' if t['promoted'] else t['reason']})"))
    console.print(f"\n数据库 database:  {res.db_path.resolve()}")
    console.print(f"报告 report:      {Path(res.report['html']).resolve()}")
    console.print(f"               {Path(res.report['xlsx']).resolve()}")
    console.print(f"审核界面 review UI: medreview users add NAME --role reviewer --db {res.db_path}")
    console.print(f"                  medreview review --db {res.db_path}   (http://127.0.0.1:8765)")
    return code


def synth(out_dir: Path, *, forms: str, styles: str = "standard", **kwargs) -> int:
    """`medreview synth`: generate a sample batch, print its summary."""
    from pipeline.synth import generate
    from pipeline.synth import styles as styles_mod

    form_list = tuple(f.strip() for f in forms.split(",") if f.strip())
    named = {"developed": styles_mod.developed(), "all": tuple(styles_mod.load())}
    chosen = named.get(styles.strip()) or tuple(x.strip() for x in styles.split(",") if x.strip())
    try:
        manifest = generate(out_dir, forms=form_list, styles=chosen, **kwargs)
    except (ValueError, FileNotFoundError) as exc:
        return error(exc)
    c = manifest["counts"]
    console.print(f"{c['records']} admissions ({c['with_violations']} with violations), {c['pages']} pages → {out_dir}")
    console.print(json.dumps(manifest["injected"], ensure_ascii=False), markup=False)
    return EXIT_OK
