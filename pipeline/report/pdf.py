"""Optional PDF of the HTML report, printed by a locally installed headless Chromium.

Nothing is downloaded: when no browser is installed the PDF is skipped with a reason.
"""
from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def write(html_path: Path, pdf_path: Path, *, timeout: float = 120) -> tuple[Path | None, str | None]:
    """Print ``html_path`` to ``pdf_path``; returns (path, None) or (None, why it was skipped)."""
    browser = find_browser()
    if browser is None:
        return None, "未找到本地 Chromium，跳过 PDF (no local Chromium; PDF skipped)"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
           f"--print-to-pdf={Path(pdf_path).resolve()}", Path(html_path).resolve().as_uri()]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"PDF 生成失败 (PDF failed): {exc.__class__.__name__}"
    if proc.returncode != 0 or not Path(pdf_path).exists():
        log.warning("chromium exited %s while printing the report", proc.returncode)
        return None, f"PDF 生成失败 (chromium exit {proc.returncode})"
    return Path(pdf_path), None
