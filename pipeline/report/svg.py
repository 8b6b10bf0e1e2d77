"""Horizontal bar charts as inline SVG: the HTML report must open offline, without JS or a CDN."""
from __future__ import annotations

from html import escape

PALETTE = ("#3b6ea5", "#d9822b", "#5b9e5b", "#b04a4a")
ROW_H = 22
LABEL_W = 190
BAR_W = 360
VALUE_W = 90


def _fmt(v: float, digits: int) -> str:
    return f"{v:,.{digits}f}"


def bar_chart(title: str, rows: list[tuple[str, list[float]]], series: list[str], *, digits: int = 0) -> str:
    """``rows`` = [(label, [value per series])]; one bar per series, scaled to the largest value."""
    if not rows:
        return f'<p class="empty">{escape(title)}：无数据</p>'
    k = len(series)
    group_h = ROW_H * k + 8
    legend_h = 20 if k > 1 else 0
    top = 28 + legend_h
    height = top + group_h * len(rows) + 6
    width = LABEL_W + BAR_W + VALUE_W
    vmax = max((v for _, vals in rows for v in vals), default=0) or 1
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" font-size="12">',
           f'<text x="0" y="16" font-weight="bold" font-size="14">{escape(title)}</text>']
    if k > 1:
        x = LABEL_W
        for i, name in enumerate(series):
            out.append(f'<rect x="{x}" y="26" width="12" height="12" fill="{PALETTE[i % len(PALETTE)]}"/>'
                       f'<text x="{x + 16}" y="36">{escape(name)}</text>')
            x += 20 + 14 * len(name)
    for r, (label, vals) in enumerate(rows):
        y0 = top + r * group_h
        short = label if len(label) <= 14 else label[:13] + "…"
        out.append(f'<text x="{LABEL_W - 6}" y="{y0 + group_h / 2 + 4:.0f}" text-anchor="end">'
                   f'<title>{escape(label)}</title>{escape(short)}</text>')
        for i, v in enumerate(vals):
            w = 0 if v <= 0 else max(1.0, BAR_W * v / vmax)
            y = y0 + i * ROW_H + 2
            out.append(f'<rect x="{LABEL_W}" y="{y}" width="{w:.1f}" height="{ROW_H - 4}" '
                       f'fill="{PALETTE[i % len(PALETTE)]}"><title>{escape(series[i])}: {_fmt(v, digits)}</title></rect>'
                       f'<text x="{LABEL_W + w + 4:.1f}" y="{y + ROW_H - 8}">{_fmt(v, digits)}</text>')
    out.append("</svg>")
    return "".join(out)
