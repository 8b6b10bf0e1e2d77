"""HTML report (Jinja2) with inline SVG charts: one self-contained file that opens offline.

The report is a list of sections (``SECTIONS``): each is a function that takes the figures, the
findings and the report settings and returns its template context (None leaves it out), and a
partial ``templates/sections/<name>.html``. A new part of the report (a DRG case-mix section, say)
is one more function and partial named in the list; headings are numbered in order."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from pipeline.report import casemix, svg
from pipeline.report.settings import ReportSettings

TEMPLATES = Path(__file__).parent / "templates"
MAX_BARS = 20
NUMERALS = "一二三四五六七八九十"


def rule_label(r: dict) -> str:
    """A rule as charts and tables name it: its Chinese name (the code only when it has none)."""
    return r.get("rule_name") or r["rule_id"]


def yuan(v) -> str:
    return f"{(v or 0):,.2f}"


def wan(v) -> str:
    return f"{(v or 0):,.2f}"


def money_chart(title: str, rows: list[tuple[str, float]]) -> Markup:
    """A bar chart of amounts in 万元, or in 元 when every amount is under 1 万元 (small sums would
    all read 0.00 万元)."""
    if rows and max(v for _, v in rows) >= 10000:
        return Markup(svg.bar_chart(f"{title}（万元）", [(k, [v / 10000]) for k, v in rows], ["万元"], digits=2))
    return Markup(svg.bar_chart(f"{title}（元）", [(k, [v]) for k, v in rows], ["元"], digits=2))


@dataclass(frozen=True)
class Section:
    name: str                                                   # partial: templates/sections/<name>.html
    title: str | None                                           # numbered heading; None: no heading
    context: Callable[[dict, list[dict], ReportSettings], dict | None]


def header(fig, findings, settings):
    return {}


def coverage(fig, findings, settings):
    return {"b": fig["batch"], "cov": fig["coverage"]}


def hospitals(fig, findings, settings):
    rows = [(f"{h['name'] or h['hospital_id'] or '（未知）'}", [h["flagged"], h["confirmed_records"]])
            for h in fig["hospitals"]]
    return {"hospitals": fig["hospitals"],
            "chart": Markup(svg.bar_chart("各医院疑点与确认违规病历数", rows, ["疑点病历", "确认违规病历"])),
            "amount_chart": money_chart("各医院确认违规金额",
                                        [(h["name"] or h["hospital_id"] or "（未知）", h["amount_yuan"])
                                         for h in fig["hospitals"] if h["amount_yuan"] > 0])}


def rules(fig, findings, settings):
    top = fig["rules"][:MAX_BARS]
    by_amount = sorted((r for r in fig["rules"] if r["amount_yuan"] > 0), key=lambda r: -r["amount_yuan"])[:MAX_BARS]
    return {"rules": fig["rules"],
            "chart": Markup(svg.bar_chart("规则分布（疑点条数 / 确认条数）",
                                          [(rule_label(r), [r["flags"], r["confirmed"]]) for r in top], ["疑点", "确认"])),
            "amount_chart": money_chart("各规则确认违规金额", [(rule_label(r), r["amount_yuan"]) for r in by_amount])}


def rule_classes(fig, findings, settings):
    return {"classes": fig["rule_classes"]} if fig["rule_classes"] else None


def appeals(fig, findings, settings):
    names = {h["hospital_id"]: h["name"] for h in fig["hospitals"]}
    rows = [{**a, "hospital_name": names.get(a["hospital_id"])} for a in fig["appeals"]]
    return {"rows": rows, "b": fig["batch"]} if rows else None


def findings_section(fig, findings, settings):
    return {"findings": findings}


def casemix_section(fig, findings, settings):
    cm = fig.get("casemix")
    return {"cm": cm, "cm_rows": casemix.hospital_rows(cm)} if cm else None


def footer(fig, findings, settings):
    return {"versions": fig["versions"]}


SECTIONS: list[Section] = [
    Section("header", None, header),
    Section("coverage", "覆盖情况", coverage),
    Section("hospitals", "分医院", hospitals),
    Section("rules", "分规则", rules),
    Section("rule_classes", "分规则类别", rule_classes),
    Section("appeals", "申诉情况", appeals),
    Section("findings", "确认违规明细", findings_section),
    Section("casemix", "病组结构（DRG）", casemix_section),
    Section("footer", None, footer),
]


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters["wan"] = wan
    env.filters["yuan"] = yuan
    env.filters["rule_label"] = rule_label
    return env


def render(fig: dict, findings: list[dict], *, masked: bool, generated_at: str,
           settings: ReportSettings | None = None) -> str:
    settings = settings or ReportSettings()
    parts, n = [], 0
    for s in SECTIONS:
        ctx = s.context(fig, findings, settings)
        if ctx is None:
            continue
        heading = None
        if s.title:
            heading = f"{NUMERALS[n] if n < len(NUMERALS) else n + 1}、{s.title}"
            n += 1
        parts.append({"name": s.name, "heading": heading, "ctx": ctx})
    return environment().get_template("report.html").render(
        fig=fig, sections=parts, masked=masked, generated_at=generated_at, settings=settings)


def write(fig: dict, findings: list[dict], path: Path, *, masked: bool, generated_at: str,
          settings: ReportSettings | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(fig, findings, masked=masked, generated_at=generated_at, settings=settings),
                    encoding="utf-8")
    return path
