"""`medreview report`: the bureau's report (Excel, HTML, optionally PDF) and where it was written."""
from __future__ import annotations

from pathlib import Path

from pipeline.commands import EXIT_OK, EXIT_USAGE, console, open_existing
from pipeline.report import write_report
from pipeline.review import audit


def report(db_path: Path, out: Path, *, mask: bool = True, pdf: bool = False) -> int:
    db = open_existing(db_path)
    if db is None:
        return EXIT_USAGE
    res = write_report(db, out, mask=mask, pdf=pdf)
    if not mask:
        audit.record_now(db, audit.cli_actor(), "report-unmasked", str(Path(out).resolve())[:200], detail={"pdf": pdf})
    b = res["batch"]
    console.print(f"病历 {b['received']} 份（已处理 {b['processed']}，失败 {b['failed']}，处理中 {b['in_progress']}）；"
                  f"疑点病历 {b['flagged']}，已审核 {b['reviewed']}，确认违规 {b['confirmed_findings']} 条，"
                  f"涉及金额 {b['amount_wan']:.2f} 万元")
    for key in ("xlsx", "html", "pdf", "figures"):
        if key in res:
            console.print(f"  {key}: {Path(res[key]).resolve()}")
    if "pdf_skipped" in res:
        console.print(f"  [yellow]{res['pdf_skipped']}[/yellow]")
    if not mask:
        console.print("[yellow]注意[/yellow] 未脱敏，报告含患者身份信息 (unmasked: contains patient data)")
    return EXIT_OK
