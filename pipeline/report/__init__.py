"""The bureau's report: the headline (共审核病历 N 份，发现违规病例 M 份，涉及违规费用 X 万元), who
audited whom and when, per batch, per hospital and per rule figures, the 100% coverage statement
and the confirmed findings, as an Excel workbook and an offline HTML page (optionally PDF), and a
notice (疑点告知书) per hospital. Patient names, ID numbers and phone numbers are masked unless
``mask=False``."""
from __future__ import annotations

import json
from pathlib import Path

from pipeline import store
from pipeline.report import casemix, excel, figures, html, mask as masking, notice, pdf as pdf_mod
from pipeline.report.settings import ReportSettings, SettingsError, load as load_settings

__all__ = ["ReportSettings", "SettingsError", "load_settings", "write_report"]


def _db_name(db) -> str | None:
    row = next((r for r in db.execute("PRAGMA database_list") if r[1] == "main"), None)
    return Path(row[2]).stem if row and row[2] else None


def write_report(db, out_dir, *, mask: bool = True, pdf: bool = False, notices: bool = False,
                 batch_name: str | None = None, settings: ReportSettings | None = None) -> dict:
    """Write report.xlsx, report.html and figures.json (report.pdf with ``pdf``, the hospitals'
    notices under notices/ with ``notices``) to ``out_dir``; ``db`` is an open store or a database
    path. Returns the paths written, the batch figures and, when a PDF was asked for but could not
    be printed, ``pdf_skipped`` (why)."""
    if isinstance(db, (str, Path)):
        db = store.connect(db)
    settings = settings or ReportSettings()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fig = figures.collect(db, batch_name=batch_name or _db_name(db), hospital_names=settings.hospitals)
    fig["casemix"] = casemix.collect(db)
    rows = figures.findings(db, hospital_names=settings.hospitals)
    if mask:
        rows = masking.mask_findings(db, rows)
    generated_at = store.now()
    paths = {
        "xlsx": excel.write(fig, rows, out / "report.xlsx", settings),
        "html": html.write(fig, rows, out / "report.html", masked=mask, generated_at=generated_at, settings=settings),
    }
    figures_path = out / "figures.json"
    figures_path.write_text(json.dumps({"generated_at": generated_at, "masked": mask, **fig},
                                       ensure_ascii=False, indent=1), encoding="utf-8")
    paths["figures"] = figures_path
    result = {**paths, "batch": fig["batch"], "headline": fig["headline"], "pending_warning": fig["pending_warning"],
              "settings_missing": settings.missing()}
    if notices:
        result["notices"] = notice.write_all(fig, rows, out / "notices", settings, generated_at=generated_at,
                                             masked=mask)
    if pdf:
        targets = [(paths["html"], out / "report.pdf")] + [(p, p.with_suffix(".pdf")) for p in result.get("notices", [])]
        for src, dst in targets:
            path, why = pdf_mod.write(src, dst)
            if path is None:
                result["pdf_skipped"] = why
                break
            result.setdefault("pdfs", []).append(path)
        if result.get("pdfs"):
            result["pdf"] = result["pdfs"][0]
    return result
