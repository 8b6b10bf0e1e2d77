"""HTML report (Jinja2) with inline SVG charts: one self-contained file that opens offline."""
from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from pipeline.report import casemix, svg

TEMPLATES = Path(__file__).parent / "templates"
MAX_BARS = 20


def charts(fig: dict) -> dict[str, Markup]:
    hosp = [(f"{h['hospital_id']} {h['name'] or ''}".strip(), [h["flagged"], h["confirmed_records"]])
            for h in fig["hospitals"]]
    rules = fig["rules"][:MAX_BARS]
    by_amount = sorted((r for r in fig["rules"] if r["amount_yuan"] > 0), key=lambda r: -r["amount_yuan"])[:MAX_BARS]
    label = lambda r: f"{r['rule_id']} {r['rule_name'] or ''}".strip()  # noqa: E731
    return {
        "hospitals": Markup(svg.bar_chart("各医院疑点与确认违规病历数", hosp, ["疑点病历", "确认违规病历"])),
        "rules": Markup(svg.bar_chart("规则分布（疑点条数 / 确认条数）",
                                      [(label(r), [r["flags"], r["confirmed"]]) for r in rules], ["疑点", "确认"])),
        "amount": Markup(svg.bar_chart("各规则确认涉及金额（万元）",
                                       [(label(r), [r["amount_wan"]]) for r in by_amount], ["万元"], digits=2)),
    }


def render(fig: dict, findings: list[dict], *, masked: bool, generated_at: str) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters["wan"] = lambda v: f"{(v or 0):,.2f}"
    env.filters["yuan"] = lambda v: f"{(v or 0):,.2f}"
    env.globals["casemix_rows"] = casemix.hospital_rows
    return env.get_template("report.html").render(
        fig=fig, findings=findings, charts=charts(fig), masked=masked, generated_at=generated_at)


def write(fig: dict, findings: list[dict], path: Path, *, masked: bool, generated_at: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(fig, findings, masked=masked, generated_at=generated_at), encoding="utf-8")
    return path
