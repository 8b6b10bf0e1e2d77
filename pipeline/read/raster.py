"""Page images from every kind of record: PDF pages (the embedded scan when a page is one
image, else rendered by pypdfium2), image files (multi-page TIFF included) and page-image folders.

Every opener checks its guards before decoding pixels, so a PDF bomb or a 100k×100k image fails
with a reason instead of exhausting memory. Images come back as 8-bit gray numpy arrays.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
import numpy as np
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from pipeline.read.config import ReadConfig, ReadError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}


def natural_key(name: str) -> list:
    """page-2 before page-10."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def check_file(path: Path, cfg: ReadConfig) -> None:
    if not path.exists():
        raise ReadError(f"文件不存在 (file not found): {path.name}")
    if path.is_file():
        size = path.stat().st_size
        if size == 0:
            raise ReadError(f"空文件 (empty file, 0 bytes): {path.name}")
        if size > cfg.max_file_bytes:
            raise ReadError(f"文件过大 (file too large: {size} bytes > {cfg.max_file_bytes}): {path.name}")


# ---------------------------------------------------------------------------------------------
# PDF


def open_pdf(path: Path, cfg: ReadConfig):
    """A pypdfium2 document, or ReadError naming why it cannot be read."""
    import pypdfium2 as pdfium

    check_file(path, cfg)
    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        msg = str(exc)
        if "password" in msg.lower():
            raise ReadError(f"PDF 已加密，需要密码 (encrypted PDF, password required): {path.name}") from exc
        raise ReadError(f"PDF 损坏或格式错误 (corrupt or not a PDF: {msg}): {path.name}") from exc
    n = len(pdf)
    if n == 0:
        pdf.close()
        raise ReadError(f"PDF 没有页面 (PDF has no pages): {path.name}")
    if n > cfg.max_pages:
        pdf.close()
        raise ReadError(f"PDF 页数异常 (page count {n} > limit {cfg.max_pages}): {path.name}")
    return pdf


def check_pdf_page(page, index: int, cfg: ReadConfig) -> tuple[float, float]:
    w, h = page.get_size()
    if w <= 0 or h <= 0 or max(w, h) > cfg.max_page_side_pt:
        raise ReadError(f"第{index + 1}页尺寸异常 (page {index + 1} size {w:.0f}×{h:.0f} pt is absurd)")
    return w, h


def embedded_scan(page, cfg: ReadConfig) -> tuple[np.ndarray, int] | None:
    """The page's single full-page image, unrendered (far cheaper than rendering), with its dpi.

    Only when the image is placed upright and unmirrored on an unrotated page and covers it; any
    other placement is rendered so the pixels match what a viewer shows.
    """
    import pypdfium2.raw as pdfium_c

    if page.get_rotation() % 360:
        return None
    objs = list(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2))
    if len(objs) != 1:
        return None
    obj = objs[0]
    m = obj.get_matrix()
    if abs(m.b) > 1e-6 or abs(m.c) > 1e-6 or m.a <= 0 or m.d <= 0:
        return None
    pw, ph = page.get_size()
    if m.a * m.d < 0.9 * pw * ph:
        return None
    px_w, px_h = obj.get_size()
    if px_w * px_h > cfg.max_page_pixels:
        raise ReadError(f"页面图像像素过多 (embedded image {px_w}×{px_h} exceeds {cfg.max_page_pixels} pixels)")
    try:
        img = obj.get_bitmap(render=False).to_pil()
    except Exception:
        return None  # unusual colour spaces or filters: rendering handles them
    dpi = round(px_w / (m.a / 72.0))
    return np.asarray(img.convert("L")), dpi


def render(page, dpi: int, cfg: ReadConfig) -> np.ndarray:
    w, h = page.get_size()
    pixels = (w * dpi / 72.0) * (h * dpi / 72.0)
    if pixels > cfg.max_page_pixels:
        raise ReadError(f"渲染像素过多 (page at {dpi} dpi would be {pixels:.0f} pixels > {cfg.max_page_pixels})")
    bitmap = page.render(scale=dpi / 72.0, grayscale=True)
    return np.asarray(bitmap.to_pil().convert("L"))


# ---------------------------------------------------------------------------------------------
# Image files and folders


@dataclass(frozen=True)
class ImagePage:
    path: Path
    frame: int  # index within a multi-page TIFF

    @property
    def ref(self) -> str:
        return str(self.path) if self.frame == 0 else f"{self.path}#{self.frame}"


def _open_image(path: Path, cfg: ReadConfig) -> Image.Image:
    check_file(path, cfg)
    try:
        img = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise ReadError(f"图像尺寸异常 (image dimensions absurd): {path.name}") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise ReadError(f"无法读取图像 (unreadable image: {exc.__class__.__name__}): {path.name}") from exc
    return img


def _check_size(img: Image.Image, name: str, cfg: ReadConfig) -> None:
    w, h = img.size
    if w <= 0 or h <= 0 or w * h > cfg.max_page_pixels:
        raise ReadError(f"图像尺寸异常 (image {w}×{h} exceeds {cfg.max_page_pixels} pixels): {name}")


def image_pages(path: Path, kind: str, cfg: ReadConfig) -> list[ImagePage]:
    """The pages of an image record in order: frames of one file, or a folder's files."""
    if kind == "image-folder":
        if not path.is_dir():
            raise ReadError(f"不是文件夹 (not a folder): {path.name}")
        files = sorted((p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                       key=lambda p: natural_key(p.name))
        if not files:
            raise ReadError(f"文件夹中没有页面图像 (no page images in folder): {path.name}")
    else:
        files = [path]
    pages: list[ImagePage] = []
    for f in files:
        img = _open_image(f, cfg)
        try:
            _check_size(img, f.name, cfg)
            n = getattr(img, "n_frames", 1)
        finally:
            img.close()
        pages.extend(ImagePage(f, i) for i in range(n))
        if len(pages) > cfg.max_pages:
            raise ReadError(f"页数异常 (page count > limit {cfg.max_pages}): {path.name}")
    return pages


def load_image_page(page: ImagePage, cfg: ReadConfig) -> tuple[np.ndarray, int | None]:
    """(gray pixels, dpi if the file says) of one page, upright per its EXIF orientation."""
    img = _open_image(page.path, cfg)
    try:
        frame = img
        if page.frame:
            frame = next(f for i, f in enumerate(ImageSequence.Iterator(img)) if i == page.frame)
        _check_size(frame, page.path.name, cfg)
        try:
            frame.load()
            upright = ImageOps.exif_transpose(frame) or frame
            gray = np.asarray(upright.convert("L"))
        except (OSError, ValueError, SyntaxError) as exc:
            raise ReadError(f"图像损坏 (truncated or corrupt image: {exc.__class__.__name__}): {page.path.name}") from exc
        dpi = frame.info.get("dpi", (None,))[0]
        return gray, (round(float(dpi)) if dpi else None)
    finally:
        img.close()

