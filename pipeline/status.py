"""The 100%-coverage view: every input and every record accounted for, per stage."""
from __future__ import annotations

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
            "skipped": src.get("skipped", 0),
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


def pages_to_read(db) -> int:
    """Pages the read stage still has to read: records waiting for it, their page count (known
    for page-image folders, counted from the file for PDFs) less the pages already stored.
    A file that cannot be opened counts as one page (the read stage will fail it with its reason)."""
    import pypdfium2 as pdfium

    total = 0
    for rid, path, kind, n in db.execute(
            "SELECT id, source_path, kind, n_pages FROM records WHERE stage = 'ingested' AND status != 'failed'"):
        if n is None and kind == "pdf":
            try:
                pdf = pdfium.PdfDocument(str(path))
                n = len(pdf)
                pdf.close()
            except (pdfium.PdfiumError, OSError):
                n = 1
        have = db.execute("SELECT COUNT(*) FROM pages WHERE record_id = ?", (rid,)).fetchone()[0]
        total += max(0, (n or 1) - have)
    return total
