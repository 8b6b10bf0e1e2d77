"""One page, end to end: a text-layer page to ordered lines, or a page image through
preprocessing, OCR, the coverage check and reading order (optionally from the OCR cache)."""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np

from pipeline.record.page import Line
from pipeline.read import coverage, layout, preprocess, textlayer
from pipeline.read.config import PIPELINE_VERSION, ReadConfig
from pipeline.read.timing import StageClock


@dataclass
class OcrOutcome:
    image: np.ndarray       # the page as stored: upright, deskewed, contrast-normalized
    lines: list[Line]       # reading order, boxes in ``image`` pixels
    rotation: int           # clockwise degrees applied to the source image
    skew: float             # degrees of deskew rotation applied after that
    text_source: str        # 'ocr' | 'empty'
    note: str | None        # page-level problem that did not fail the record
    payload: dict | None    # what the OCR cache keeps (None when it came from the cache)


def pixels_sha256(gray: np.ndarray) -> str:
    h = hashlib.sha256(f"{gray.shape[0]}x{gray.shape[1]}:".encode())
    h.update(np.ascontiguousarray(gray).data)
    return h.hexdigest()


def cache_version(engine_version: str, cfg: ReadConfig) -> str:
    """Engine version plus every setting that changes the cached result."""
    flags = "".join(
        "1" if v else "0"
        for v in (cfg.detect_orientation, cfg.deskew, cfg.normalize_contrast, cfg.coverage_check)
    )
    return f"{engine_version}|{PIPELINE_VERSION}|{flags}"


def _flip(lines: list[Line], w: int, h: int) -> list[Line]:
    out = []
    for ln in lines:
        x0, y0, x1, y1 = ln.bbox
        poly = [[w - x, h - y] for x, y in ln.polygon] if ln.polygon else None
        # Keep the polygon's point order starting top-left of the now upright text.
        if poly and len(poly) == 4:
            poly = poly[2:] + poly[:2]
        out.append(Line(text=ln.text, bbox=(w - x1, h - y1, w - x0, h - y0), confidence=ln.confidence, polygon=poly))
    return out


def _note(cov: coverage.Coverage | None) -> str | None:
    if cov and cov.missing:
        return f"部分文字区域未能识别 ({cov.missing} text band(s) without OCR result)"
    return None


def ocr_image(gray: np.ndarray, engine, cfg: ReadConfig, *, source: str | None = None,
              cached: dict | None = None, inked: bool | None = None,
              clock: StageClock | None = None) -> OcrOutcome:
    """Read one page image. ``cached`` is a payload from an earlier run on the same pixels;
    ``inked`` is ``coverage.has_ink(gray)`` when the caller knows it; ``clock`` collects the time
    of each step."""
    clock = clock or StageClock()
    if cached is not None:
        with clock("deskew"):
            img = preprocess.apply(gray, cached["rotation"], cached["skew"], cfg.normalize_contrast)
        lines = [Line(**{**d, "bbox": tuple(d["bbox"])}) for d in cached["lines"]]
        return OcrOutcome(img, lines, cached["rotation"], cached["skew"], cached["text_source"],
                          cached.get("note"), None)
    if not (coverage.has_ink(gray) if inked is None else inked):
        payload = {"rotation": 0, "skew": 0.0, "lines": [], "text_source": "empty", "note": None}
        return OcrOutcome(gray, [], 0, 0.0, "empty", None, payload)
    rotation, skew = 0, 0.0
    with clock("deskew"):
        if cfg.detect_orientation or cfg.deskew:
            quarter, measured = preprocess.analyse(gray, max_skew_deg=cfg.max_skew_deg)
            rotation = quarter if cfg.detect_orientation else 0
            if cfg.deskew and abs(measured) >= cfg.min_skew_deg:
                skew = round(measured, 2)
        img = preprocess.apply(gray, rotation, skew, cfg.normalize_contrast)
    with clock("ocr"):
        lines = engine.recognize(img, source, clock=clock)
    flipped = engine.upside_down_fraction()
    if cfg.detect_orientation and flipped is not None and flipped > 0.5:
        # The line classifier read most lines upside down: the page is turned by 180°.
        with clock("deskew"):
            rotation = (rotation + 180) % 360
            h, w = img.shape[:2]
            img = preprocess.apply(gray, rotation, skew, cfg.normalize_contrast)
            lines = _flip(lines, w, h)
    cov = None
    if cfg.coverage_check and lines:
        with clock("coverage"):
            lines, cov = coverage.recover(img, lines, engine)
    with clock("layout"):
        lines = layout.order(lines)
    note = _note(cov)
    payload = {
        "rotation": rotation, "skew": skew, "text_source": "ocr", "note": note,
        "lines": [asdict(ln) for ln in lines],
    }
    return OcrOutcome(img, lines, rotation, skew, "ocr", note, payload)


def text_layer_lines(pc: textlayer.PageChars, cfg: ReadConfig) -> list[Line] | None:
    """The page's text-layer lines in reading order, or None when the page needs OCR."""
    decision = textlayer.decide(pc, min_text_chars=cfg.min_text_chars, min_good_char_ratio=cfg.min_good_char_ratio)
    if not decision.use_text:
        return None
    found = textlayer.lines(pc)
    if textlayer.runs_vertically(found, decision.n_chars):
        return None
    return layout.order(found)


def mean_confidence(lines: list[Line]) -> float | None:
    if not lines:
        return None
    total = sum(len(ln.text) for ln in lines) or 1
    return sum(ln.confidence * len(ln.text) for ln in lines) / total
