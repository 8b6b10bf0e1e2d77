"""`medreview drg`: group a CSV of cases with a DRG scheme (reference columns in, one result row
per input row out, bad rows with their status and reason)."""
from __future__ import annotations

import time
from pathlib import Path

from rich.table import Table

from pipeline.commands import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, console, error
from pipeline.drg import batch, scheme as scheme_mod
from pipeline.drg.engine import CODE_NOT_IN_TABLE, Grouper

INPUT_FAILURES = (batch.BAD_ROW, CODE_NOT_IN_TABLE, "信息校验不通过")


def group(cases: Path, out: Path, scheme: str | None) -> int:
    try:
        sch = scheme_mod.load(scheme)
    except scheme_mod.SchemeError as exc:
        return error(exc)
    if Path(out).resolve() == Path(cases).resolve():
        return error(f"{out}: 输出文件不能与输入文件相同")
    grouper = Grouper(sch, check_codes=True)
    started = time.perf_counter()
    try:
        summary = batch.group_file(Path(cases), Path(out), grouper)
    except batch.InputError as exc:
        return error(exc)
    except OSError as exc:
        return error(f"{out}: 无法写入 ({exc.strerror or exc})")
    seconds = time.perf_counter() - started
    table = Table(title=f"{sch.title} ({sch.version}): {summary.rows} 例, {seconds:.2f} 秒")
    table.add_column("状态")
    table.add_column("例数", justify="right")
    for status, n in summary.by_status.most_common():
        table.add_row(status, str(n))
    console.print(table)
    console.print(f"结果: {Path(out).resolve()}")
    failed = sum(summary.by_status[s] for s in INPUT_FAILURES)
    return EXIT_PARTIAL if failed else EXIT_OK
