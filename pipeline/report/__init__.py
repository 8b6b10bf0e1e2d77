"""The bureau's report: per batch, per hospital and per rule figures, the 100% coverage
statement and the confirmed findings, as an Excel workbook and an offline HTML page
(optionally PDF). Patient names and ID numbers are masked unless ``mask=False``."""
from __future__ import annotations

import json
from pathlib import Path

from pipeline import store
from pipeline.report import casemix, excel, figures, html, mask as masking, pdf as pdf_mod


def _db_name(db) -> str | None:
    row = next((r for r in db.execute("PRAGMA database_list") if r[1] == "main"), None)
    return Path(row[2]).stem if row and row[2] else None


def write_report(db, out_dir, *, mask: bool = True, pdf: bool = False, batch_name: str | None = None) -> dict:
    """Write report.xlsx, report.html and figures.json (and report.pdf if asked and possible)
    to ``out_dir``; ``db`` is an open store or a database path. Returns the paths written,
    the batch figures and, when a PDF was asked for but skipped, ``pdf_skipped`` (why)."""
    if isinstance(db, (str, Path)):
        db = store.connect(db)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig = figures.collect(db, batch_name=batch_name or _db_name(db))
    fig["casemix"] = casemix.collect(db)
    rows = figures.findings(db)
    if mask:
        rows = [masking.mask_finding(r) for r in rows]
    generated_at = store.now()
    paths = {
        "xlsx": excel.write(fig, rows, out / "report.xlsx"),
        "html": html.write(fig, rows, out / "report.html", masked=mask, generated_at=generated_at),
    }
    figures_path = out / "figures.json"
    figures_path.write_text(json.dumps({"generated_at": generated_at, "masked": mask, **fig},
                                       ensure_ascii=False, indent=1), encoding="utf-8")
    paths["figures"] = figures_path
    result = {**paths, "batch": fig["batch"]}
    if pdf:
        path, why = pdf_mod.write(paths["html"], out / "report.pdf")
        if path:
            result["pdf"] = path
        else:
            result["pdf_skipped"] = why
    return result
