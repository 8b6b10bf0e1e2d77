"""Page fixtures for the reading-stage tests (helpers only; imported by tests/test_read_*.py).

Text-layer PDFs are drawn with reportlab and the WenQuanYi TrueType font (pdfplumber maps its
glyphs exactly); page images are drawn with PIL.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from pipeline import store

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
needs_font = pytest.mark.skipif(not FONT.exists(), reason="fonts-wqy-microhei not installed")


def draw_page(rows: list[list[tuple[int, str]]], size=(1000, 700), font_size=26, top=40, pitch=56) -> Image.Image:
    """Gray page with one row of text per entry; each row is [(x, text), ...]."""
    font = ImageFont.truetype(str(FONT), font_size)
    img = Image.new("L", size, 255)
    d = ImageDraw.Draw(img)
    for i, row in enumerate(rows):
        for x, text in row:
            d.text((x, top + i * pitch), text, font=font, fill=0)
    return img


def text_pdf(path: Path, pages: list[list[list[tuple[float, str]]]], size=(595, 842), font_size=11, pitch=18) -> Path:
    """A text-layer PDF; each page is rows of [(x_pt, text), ...] from the top."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    if "WQY" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("WQY", str(FONT), subfontIndex=0))
    c = canvas.Canvas(str(path), pagesize=size)
    for rows in pages:
        c.setFont("WQY", font_size)
        for i, row in enumerate(rows):
            for x, text in row:
                c.drawString(x, size[1] - 60 - i * pitch, text)
        c.showPage()
    c.save()
    return path


def scan_pdf(path: Path, images: list[Image.Image], dpi: int = 150) -> Path:
    """An image-only PDF: one full-page image per page, no text layer."""
    rgb = [im.convert("RGB") for im in images]
    rgb[0].save(path, "PDF", resolution=float(dpi), save_all=True, append_images=rgb[1:])
    return path


def add_record(db, source: Path, kind: str) -> int:
    with store.transaction(db):
        return store.insert_one(db, "records", {
            "sha256": f"sha-{source}", "source_path": str(source), "kind": kind,
            "created_at": store.now(), "updated_at": store.now()})


def ink_rows(img: np.ndarray) -> int:
    """Number of separate dark horizontal bands (text rows) in a gray image."""
    dark = (img < 128).any(axis=1).astype(np.int8)
    return int(((dark[1:] - dark[:-1]) == 1).sum() + dark[0])
