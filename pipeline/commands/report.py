"""`medreview report`: the bureau's report (Excel, HTML, optionally PDF and the hospitals' notices)
and where it was written."""
from __future__ import annotations

from pathlib import Path

from pipeline.commands import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, console, err, error, open_existing
from pipeline.report import SettingsError, load_settings, write_report
from pipeline.review import audit


def report(db_path: Path, out: Path, *, mask: bool = True, pdf: bool = False, notices: bool = False,
           settings_path: Path | None = None, firm: str | None = None, bureau: str | None = None,
           period: str | None = None) -> int:
    try:
        settings = load_settings(settings_path).with_options(firm=firm, bureau=bureau, period=period)
    except SettingsError as exc:
        return error(exc)
    db = open_existing(db_path)
    if db is None:
        return EXIT_USAGE
    res = write_report(db, out, mask=mask, pdf=pdf, notices=notices, settings=settings)
    if not mask:
        audit.record_now(db, audit.cli_actor(), "report-unmasked", str(Path(out).resolve())[:200], detail={"pdf": pdf})
    b = res["batch"]
    console.print(f"{res['headline']}（{b['amount_yuan']:,.2f} 元）")
    console.print(f"病历 {b['received']} 份（已处理 {b['processed']}，失败 {b['failed']}，处理中 {b['in_progress']}）；"
                  f"疑点病历 {b['flagged']}，已审核 {b['reviewed']}，确认违规 {b['confirmed_findings']} 条")
    if res["pending_warning"]:
        err.print(f"[yellow]注意[/yellow] {res['pending_warning']}")
    if res["settings_missing"]:
        err.print(f"[yellow]注意[/yellow] 报告未写明{'、'.join(res['settings_missing'])}"
                  "（--settings 文件或 --firm / --bureau / --period）")
    for key in ("xlsx", "html", "figures"):
        console.print(f"  {key}: {Path(res[key]).resolve()}")
    for p in res.get("pdfs", []):
        console.print(f"  pdf: {Path(p).resolve()}")
    for p in res.get("notices", []):
        console.print(f"  疑点告知书 notice: {Path(p).resolve()}")
    if not mask:
        console.print("[yellow]注意[/yellow] 未脱敏，报告含患者身份信息 (unmasked: contains patient data)")
    if "pdf_skipped" in res:
        err.print(f"[yellow]{res['pdf_skipped']}[/yellow]")
        return EXIT_PARTIAL
    return EXIT_OK
