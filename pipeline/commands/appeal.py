"""`medreview appeal file | decide | list`: a hospital's appeals (申诉) against confirmed findings,
recorded as events; the report counts what remains after them."""
from __future__ import annotations

from pathlib import Path

from pipeline.commands import EXIT_OK, EXIT_USAGE, console, error, open_existing
from pipeline.review import ReviewError, appeals, audit, rule_name


def file(db_path: Path, flag_id: int, grounds: str) -> int:
    db = open_existing(db_path)
    if db is None:
        return EXIT_USAGE
    try:
        appeals.file_appeal(db, audit.cli_actor(), flag_id, grounds)
    except ReviewError as exc:
        return error(exc)
    console.print(f"已记录疑点 {flag_id} 的申诉（申诉中）；复核后用 `medreview appeal decide {flag_id} --outcome …` 记录结果",
                  markup=False)
    return EXIT_OK


def decide(db_path: Path, flag_id: int, outcome: str, amount: str | None, finding: str | None) -> int:
    db = open_existing(db_path)
    if db is None:
        return EXIT_USAGE
    try:
        appeals.decide_appeal(db, audit.cli_actor(), flag_id, outcome, amount=amount, finding=finding)
    except ReviewError as exc:
        return error(exc)
    console.print(f"疑点 {flag_id}: {appeals.APPEAL_LABELS[outcome]}" +
                  (f"，维持金额 {float(amount):.2f} 元" if outcome == "partly" and amount else ""), markup=False)
    return EXIT_OK


def list_(db_path: Path) -> int:
    """Every appealed finding (TSV): flag, hospital, admission no., rule, state, filed, decided."""
    db = open_existing(db_path)
    if db is None:
        return EXIT_USAGE
    found = appeals.appeals(db)
    rows = {r["id"]: r for r in db.query(
        "SELECT f.id, f.rule_id, f.rule_name, r.hospital_id, r.admission_no FROM flags f"
        " JOIN records r ON r.id = f.record_id")}
    for fid, a in sorted(found.items()):
        r = rows.get(fid, {})
        print("\t".join(str(x if x is not None else "") for x in (
            fid, r.get("hospital_id"), r.get("admission_no"), rule_name(r.get("rule_id"), r.get("rule_name")) or r.get("rule_id"),
            appeals.APPEAL_LABELS.get(a.state, a.state), a.filed_at, a.decided_at, a.amount)))
    return EXIT_OK
