"""Page images for the review UI: stored scans, or PDF pages re-rendered on demand.

Stored page images live beside the database in ``<db stem>.pages/`` and ``pages.image_path`` is
relative to that folder; the client never sends a path, only a page id.
Boxes in ``lines`` are in the page's own coordinates (``pages.width``/``height``, unit px or pt);
``page_png`` returns the image and the scale factor from page coordinates to image pixels.
"""
from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

RENDER_DPI = 150  # for text-layer PDF pages, which have no stored image


def pages_dir(db_path: str | Path) -> Path:
    db_path = Path(db_path)
    return db_path.with_name(db_path.stem + ".pages")


def _source_of(db, page: dict) -> str:
    row = db.execute("SELECT source_path FROM records WHERE id = ?", (page["record_id"],)).fetchone()
    return row[0]


def page_image(db, db_path: str | Path, page_id: int) -> tuple[Image.Image, float]:
    """Return (image, scale) where image pixels = page coordinates * scale."""
    page = next(db.query("SELECT * FROM pages WHERE id = ?", [page_id]), None)
    if page is None:
        raise KeyError(page_id)
    if page["image_path"]:
        img = Image.open(pages_dir(db_path) / page["image_path"])
        img.load()
        scale = img.width / page["width"] if page["width"] else 1.0
        return img, scale
    ref = page["source_ref"]
    if ref.startswith("pdf:"):
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument(_source_of(db, page))
        try:
            pdf_page = pdf[int(ref[4:])]
            scale = RENDER_DPI / 72.0
            img = pdf_page.render(scale=scale).to_pil()
        finally:
            pdf.close()
        if page["unit"] == "px" and page["width"]:
            scale = img.width / page["width"]
        return img, scale
    img = Image.open(ref)
    img.load()
    scale = img.width / page["width"] if page["width"] else 1.0
    return img, scale


def page_png(db, db_path: str | Path, page_id: int, *, max_width: int | None = None) -> tuple[bytes, float]:
    img, scale = page_image(db, db_path, page_id)
    if max_width and img.width > max_width:
        ratio = max_width / img.width
        img = img.resize((max_width, round(img.height * ratio)))
        scale *= ratio
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="PNG", optimize=False)
    return buf.getvalue(), scale
