"""The "scanned" form: rasterize the text PDF, then age it like a photocopied, scanned page.

Defects: paper tone, uneven lighting, skew (±3°), blur, sensor noise and specks, JPEG artifacts,
and now and then a red stamp or a handwritten mark. All randomness comes from the caller's seed,
so the same record gives the same bytes.
"""
from __future__ import annotations

import io
import random

import cv2
import numpy as np
import pypdfium2 as pdfium
from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

from .fonts import font_path

DPI_CHOICES = (150, 200, 200, 200, 300)
MAX_SKEW_DEG = 3.0


def choose_dpi(rng: random.Random) -> int:
    return rng.choice(DPI_CHOICES)


def _lighting(h: int, w: int, rng: np.random.Generator, paper: float) -> np.ndarray:
    """Paper brightness per pixel (uint8): a tilted gradient plus a soft vignette, computed small."""
    sh, sw = max(2, h // 16), max(2, w // 16)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    yy /= sh - 1
    xx /= sw - 1
    angle = rng.uniform(0, 2 * np.pi)
    grad = (np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5)) * rng.uniform(0.05, 0.18)
    vignette = ((xx - 0.5) ** 2 + (yy - 0.5) ** 2) * rng.uniform(0.0, 0.25)
    field = np.clip((1.0 - np.clip(grad + 0.09, 0, None) - vignette) * paper, 0, 255).astype(np.uint8)
    return cv2.resize(field, (w, h), interpolation=cv2.INTER_LINEAR)


def _handwriting(img: np.ndarray, rng: np.random.Generator, dpi: int) -> None:
    """A pen tick, underline or scribble in the right margin or under a line."""
    h, w = img.shape
    x0 = int(rng.uniform(0.55, 0.85) * w)
    y0 = int(rng.uniform(0.15, 0.85) * h)
    n = int(rng.integers(5, 12))
    xs = x0 + np.cumsum(rng.normal(dpi * 0.06, dpi * 0.03, n))
    ys = y0 + np.cumsum(rng.normal(0, dpi * 0.03, n))
    pts = np.stack([xs, ys], axis=1).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(img, [pts], False, int(rng.integers(20, 70)), thickness=max(2, dpi // 90), lineType=cv2.LINE_AA)


def _stamp(rgb: Image.Image, rng: np.random.Generator, dpi: int, text: str) -> Image.Image:
    size = int(dpi * 1.5)
    layer = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(layer)
    width = max(3, dpi // 50)
    draw.ellipse((width, width, size - width, size - width), outline=255, width=width)
    font = ImageFont.truetype(str(font_path()), max(10, size // 9), index=0)
    label = text[:8]
    tw = draw.textlength(label, font=font)
    draw.text(((size - tw) / 2, size * 0.30), label, fill=255, font=font)
    small = ImageFont.truetype(str(font_path()), max(8, size // 11), index=0)
    sub = "医保结算专用章"
    sw = draw.textlength(sub, font=small)
    draw.text(((size - sw) / 2, size * 0.58), sub, fill=255, font=small)
    layer = layer.rotate(float(rng.uniform(-25, 25)), resample=Image.BILINEAR)
    alpha = np.asarray(layer, dtype=np.float32) / 255.0 * rng.uniform(0.55, 0.85)
    x = int(rng.uniform(0.5, 0.8) * (rgb.width - size))
    y = int(rng.uniform(0.55, 0.95) * (rgb.height - size))
    arr = np.asarray(rgb, dtype=np.float32)
    region = arr[y:y + size, x:x + size]
    red = np.array([200, 40, 45], dtype=np.float32)
    a = alpha[: region.shape[0], : region.shape[1], None]
    # multiply-blend: ink darkens the paper but text underneath stays visible
    arr[y:y + size, x:x + size] = region * (1 - a) + np.minimum(region, red) * a
    return Image.fromarray(arr.astype(np.uint8))


def degrade(gray: np.ndarray, rng: np.random.Generator, dpi: int, stamp_text: str | None) -> Image.Image:
    h, w = gray.shape
    paper = rng.uniform(228, 248)
    # paper tone and lighting in one saturating uint8 multiply (float maths on full pages is slow)
    img = cv2.multiply(gray, _lighting(h, w, rng, paper), scale=1 / 255.0)
    if rng.random() < 0.2:
        _handwriting(img, rng, dpi)
    angle = float(rng.uniform(-MAX_SKEW_DEG, MAX_SKEW_DEG))
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    img = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=int(paper))
    if rng.random() < 0.75:
        sigma = float(rng.uniform(0.4, 1.1)) * dpi / 200
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    # sensor noise: a random tile repeated over the page (full-page random draws dominate the cost)
    tile = rng.integers(0, int(rng.integers(4, 9)), size=(256, 256), dtype=np.uint8)
    img = cv2.subtract(img, np.tile(tile, (h // 256 + 1, w // 256 + 1))[:h, :w])
    specks = int(h * w * rng.uniform(2e-5, 1.5e-4))
    ys, xs = rng.integers(0, h, specks), rng.integers(0, w, specks)
    img[ys, xs] = rng.integers(0, 90, specks).astype(np.uint8)
    out = Image.fromarray(img)
    if stamp_text:
        out = _stamp(out.convert("RGB"), rng, dpi, stamp_text)
    return out


def encode(image: Image.Image, fmt: str, dpi: int, quality: int) -> bytes:
    buf = io.BytesIO()
    if fmt == "png":
        image.save(buf, "PNG", dpi=(dpi, dpi), compress_level=3)
    else:
        image.save(buf, "JPEG", dpi=(dpi, dpi), quality=quality, optimize=False)
    return buf.getvalue()


def scan_pages(pdf_bytes: bytes, *, seed: int, dpi: int, fmt: str, stamp_text: str, stamp_pages: set[int]) -> list[bytes]:
    """One image file (JPEG or PNG bytes) per page of the text PDF."""
    rng = np.random.default_rng(seed)
    quality = int(rng.integers(40, 80))
    pdf = pdfium.PdfDocument(pdf_bytes)
    out = []
    try:
        for i in range(len(pdf)):
            page = pdf[i]
            bitmap = page.render(scale=dpi / 72.0, grayscale=True)
            gray = np.ascontiguousarray(bitmap.to_numpy().reshape(bitmap.height, bitmap.width, -1)[:, :, 0])
            stamped = (i + 1) in stamp_pages or rng.random() < 0.05
            image = degrade(gray, rng, dpi, stamp_text if stamped else None)
            out.append(encode(image, "png" if fmt == "png" else "jpg", dpi, quality))
            page.close()
    finally:
        pdf.close()
    return out


def image_pdf(images: list[bytes], title: str) -> bytes:
    """An image-only PDF (no text layer), one scanned JPEG per A4 page, embedded as is."""
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=1)
    c.setTitle(title)
    c.setCreator("medreview synth")
    for data in images:
        c.drawImage(ImageReader(io.BytesIO(data)), 0, 0, width=A4[0], height=A4[1])
        c.showPage()
    c.save()
    return buf.getvalue()
