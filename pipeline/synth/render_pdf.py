"""Draw laid-out pages into a PDF with a real text layer (reportlab, TrueType CJK font)."""
from __future__ import annotations

import io

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from .fonts import FONT_NAME, register_font
from .layout import PAGE_H, TABLE_LEAD, Page

CELL_PAD = 2.5


def render_pdf(pages: list[Page], title: str) -> bytes:
    """Same pages → same bytes (invariant=1 drops dates and random ids)."""
    register_font()
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=1, pageCompression=1)
    c.setTitle(title)
    c.setCreator("medreview synth")
    for page in pages:
        c.setLineWidth(0.5)
        for it in page.items:
            if it.kind == "row":
                top = PAGE_H - it.rule_top
                bottom = top - TABLE_LEAD
                x0 = it.cells[0][0]
                x1 = it.cells[-1][0] + it.cells[-1][1]
                c.line(x0, top, x1, top)
                c.line(x0, bottom, x1, bottom)
                for x, w, text, size in it.cells:
                    c.line(x, top, x, bottom)
                    if text:
                        c.setFont(FONT_NAME, size)
                        c.drawString(x + CELL_PAD, PAGE_H - it.y, text)
                c.line(x1, top, x1, bottom)
            else:
                c.setFont(FONT_NAME, it.size)
                c.drawString(it.x, PAGE_H - it.y, it.text)
        c.showPage()
    c.save()
    return buf.getvalue()
