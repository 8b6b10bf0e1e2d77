"""The 100%-coverage view: every input and every record accounted for, per stage."""
from __future__ import annotations

from rich.table import Table

from pipeline import store


def collect(db) -> dict:
    src = dict(db.execute("SELECT state, COUNT(*) FROM sources GROUP BY state").fetchall())
    total = db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    by_stage = dict(db.execute("SELECT stage, COUNT(*) FROM records GROUP BY stage").fetchall())
    failed = dict(db.execute(
        "SELECT error_stage, COUNT(*) FROM records WHERE status = 'failed' GROUP BY error_stage").fetchall())
    reached = {}
    for i, stage in enumerate(store.STAGES):
        reached[stage] = sum(n for s, n in by_stage.items() if s in store.STAGES[i:])
    n_failed = sum(failed.values())
    claims = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(rows), 0), COALESCE(SUM(bad_rows), 0),"
        " SUM(state = 'rejected') FROM claims_files").fetchone()
    hospitals = db.execute("SELECT COUNT(*) FROM hospitals").fetchone()[0]
    return {
        "inputs": {
            "received": sum(src.values()),
            "accepted": src.get("accepted", 0),
            "duplicate": src.get("duplicate", 0),
            "rejected": src.get("rejected", 0),
        },
        "hospitals": hospitals,
        "records": {
            "total": total,
            "reached": reached,
            "failed": n_failed,
            "failed_by_stage": failed,
            "in_progress": total - n_failed - reached["scored"],
        },
        "claims": {"files": claims[0], "rows": claims[1], "bad_rows": claims[2], "rejected_files": claims[3] or 0},
        # 100% coverage: every record is either scored or failed with a reason.
        "coverage_complete": total > 0 and reached["scored"] + n_failed == total,
    }


def problems(db) -> list[dict]:
    out = [
        {"path": r[0], "state": r[1], "reason": r[2]}
        for r in db.execute("SELECT path, state, reason FROM sources WHERE state != 'accepted' ORDER BY path")
    ]
    out += [
        {"path": r[1], "state": f"failed:{r[2]}", "reason": r[3], "record_id": r[0]}
        for r in db.execute(
            "SELECT id, source_path, error_stage, error FROM records WHERE status = 'failed' ORDER BY id")
    ]
    out += [
        {"path": r[0], "state": "rejected-claims-file", "reason": r[1]}
        for r in db.execute("SELECT path, reason FROM claims_files WHERE state = 'rejected' ORDER BY path")
    ]
    out += [
        {"path": f"{r[0]}:{r[1]}", "state": "bad-claims-row", "reason": r[2]}
        for r in db.execute("SELECT path, row_no, reason FROM claims_errors ORDER BY path, row_no")
    ]
    return out


STAGE_LABELS = {
    "ingested": "已登记 ingested",
    "read": "已识别 read",
    "segmented": "已切分 segmented",
    "extracted": "已抽取 extracted",
    "scored": "已评分 scored",
}


def render(console, counts: dict, problem_list: list[dict] | None) -> None:
    i = counts["inputs"]
    r = counts["records"]
    console.print(
        f"输入 inputs: 收到 received {i['received']} = 受理 accepted {i['accepted']}"
        f" + 重复 duplicate {i['duplicate']} + 拒收 rejected {i['rejected']}"
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
