"""The notice to each hospital (疑点告知书): every confirmed finding of the hospital with its rule,
legal basis and the policy text it cites, the amount and the evidence pages, and how to appeal
(申诉) within the settings' ``appeal_days``. Appeals the hospital files are recorded with
``medreview appeal`` (``pipeline.review.appeals``) and change the report's totals."""
from __future__ import annotations

import re
from pathlib import Path

from pipeline import review
from pipeline.report.html import environment
from pipeline.report.settings import ReportSettings

SAFE = re.compile(r"[^0-9A-Za-z_\-\u4e00-\u9fff]")


def _cited(findings: list[dict]) -> list[dict]:
    """The policy passages the findings' legal bases cite, each once, in order of first use."""
    seen, out = set(), []
    for f in findings:
        for p in review.policy_text(f.get("legal_basis")):
            key = (p["source"], p["citation"])
            if key not in seen and p["text"]:
                seen.add(key)
                out.append(p)
    return out


def render(hospital: dict, findings: list[dict], settings: ReportSettings, *, generated_at: str,
           masked: bool) -> str:
    return environment().get_template("notice.html").render(
        h=hospital, findings=findings, settings=settings, cited=_cited(findings), generated_at=generated_at,
        masked=masked, total=round(sum(f["amount_counted"] or 0 for f in findings), 2))


def write_all(fig: dict, findings: list[dict], out_dir: Path, settings: ReportSettings, *, generated_at: str,
              masked: bool) -> list[Path]:
    """One notice per hospital with confirmed findings, as ``<out_dir>/疑点告知书-<hospital>.html``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for h in fig["hospitals"]:
        mine = [f for f in findings if f["hospital_id"] == h["hospital_id"]]
        if not mine:
            continue
        name = SAFE.sub("_", str(h["hospital_id"] or "unknown"))
        path = out_dir / f"疑点告知书-{name}.html"
        path.write_text(render(h, mine, settings, generated_at=generated_at, masked=masked), encoding="utf-8")
        paths.append(path)
    return paths
