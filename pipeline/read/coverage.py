"""Coverage check: find text the engine silently skipped and read it again.

OCR engines can drop a whole line (dense Latin and dosing abbreviations, "50mg po bid … ivgtt
q12h") with no low-confidence signal. Ink left outside every recognized box, once ruling lines
and specks are removed, marks such a line; each uncovered band is cropped and recognized alone.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from statistics import median

import cv2
import numpy as np

from pipeline.record.page import Line

MAX_BANDS = 8  # re-reading is a full engine call per band; stamps and scribbles must not explode it


@dataclass
class Coverage:
    bands: int = 0       # uncovered text-like bands found
    recovered: int = 0   # lines added by re-reading them
    missing: int = 0     # bands still unread (handwriting, stamps, or lost text)


def ink_mask(gray: np.ndarray) -> np.ndarray:
    _, ink = cv2.threshold(gray, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    if ink.mean() > 0.5:
        ink[:] = 0
    return ink


def has_ink(gray: np.ndarray, min_fraction: float = 0.0005) -> bool:
    """False for blank pages (only paper, perhaps a few specks of noise)."""
    small = cv2.resize(gray, (max(1, gray.shape[1] // 4), max(1, gray.shape[0] // 4)), interpolation=cv2.INTER_AREA)
    if int(small.max()) - int(small.min()) < 40:
        return False
    ink = ink_mask(small)
    ink = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    return ink.mean() >= min_fraction


def uncovered_bands(gray: np.ndarray, lines: list[Line]) -> list[tuple[int, int, int, int]]:
    """Boxes of text-like ink that no line covers, largest first."""
    if not lines:
        return []
    h, w = gray.shape
    line_h = median(max(1.0, ln.bbox[3] - ln.bbox[1]) for ln in lines)
    ink = ink_mask(gray)
    # Table rules and underlines are ink but not text.
    for k in ((max(15, w // 30), 1), (1, max(15, h // 30))):
        rules = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, k))
        ink &= 1 - rules
    pad = int(0.25 * line_h) + 1
    for ln in lines:
        x0, y0, x1, y1 = (int(round(v)) for v in ln.bbox)
        ink[max(0, y0 - pad): y1 + pad, max(0, x0 - pad): x1 + pad] = 0
    ink = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))  # salt noise
    # Join a line's characters and words (gaps up to ~2 characters) into one band.
    k = max(3, int(line_h * 2))
    blobs = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, 3)))
    n, _, stats, _ = cv2.connectedComponentsWithStats(blobs, connectivity=8)
    bands = []
    for i in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        ink_px = int(ink[y: y + bh, x: x + bw].sum())
        if 0.4 * line_h <= bh <= 3 * line_h and bw >= 1.5 * line_h and ink_px >= 0.04 * bw * bh:
            bands.append((x, y, x + bw, y + bh))
    bands.sort(key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)
    return bands


def recover(gray: np.ndarray, lines: list[Line], engine) -> tuple[list[Line], Coverage]:
    """Re-read the uncovered bands; return all lines and what was found."""
    bands = uncovered_bands(gray, lines)
    cov = Coverage(bands=len(bands))
    if not bands:
        return lines, cov
    h, w = gray.shape
    line_h = median(max(1.0, ln.bbox[3] - ln.bbox[1]) for ln in lines)
    out = list(lines)
    todo = bands[:MAX_BANDS]
    read_lines = getattr(engine, "recognize_lines", None)
    if read_lines is not None:
        # All bands of the page in one batched recognition call.
        m = int(0.25 * line_h)
        crops = [np.ascontiguousarray(gray[max(0, y0 - m): min(h, y1 + m), max(0, x0 - m): min(w, x1 + m)])
                 for x0, y0, x1, y1 in todo]
        found_per_band = [
            [Line(text=text, bbox=(float(x0), float(y0), float(x1), float(y1)), confidence=conf)] if text.strip() else []
            for (x0, y0, x1, y1), (text, conf) in zip(todo, read_lines(crops))
        ]
    else:
        found_per_band = [_recognize_crop(gray, band, line_h, engine) for band in todo]
    for found in found_per_band:
        if not found:
            cov.missing += 1
            continue
        cov.recovered += len(found)
        out.extend(found)
    cov.missing += max(0, len(bands) - MAX_BANDS)
    return out, cov


def _recognize_crop(gray: np.ndarray, band, line_h: float, engine) -> list[Line]:
    """Full detection + recognition on a crop around the band, boxes back in page pixels."""
    h, w = gray.shape
    x0, y0, x1, y1 = band
    m = int(0.5 * line_h)
    cx0, cy0, cx1, cy1 = max(0, x0 - m), max(0, y0 - m), min(w, x1 + m), min(h, y1 + m)
    found = []
    for ln in engine.recognize(np.ascontiguousarray(gray[cy0:cy1, cx0:cx1])):
        # Slivers of the neighbouring lines enter the crop; keep what is centred in the band.
        if not ln.text.strip() or not y0 <= (ln.bbox[1] + ln.bbox[3]) / 2 + cy0 <= y1:
            continue
        bx0, by0, bx1, by1 = ln.bbox
        poly = [[px + cx0, py + cy0] for px, py in ln.polygon] if ln.polygon else None
        found.append(replace(ln, bbox=(bx0 + cx0, by0 + cy0, bx1 + cx0, by1 + cy0), polygon=poly))
    return found
