"""Page image preparation before OCR: the gray page (raster.py) upright (0/90/180/270), deskewed
and contrast-stretched.

Boxes are later stored in the coordinates of the image this module returns, which is also the
image stored for the review UI. ``apply`` replays a recorded rotation and skew exactly, so a
cached OCR result matches the regenerated image pixel for pixel.
"""
from __future__ import annotations

import cv2
import numpy as np

_WORK_WIDTH = 1000  # skew/orientation analysis runs on a downscaled copy; enough for ±0.05°


def _small_ink(gray: np.ndarray) -> np.ndarray:
    """Binary ink (1) of a downscaled copy; all zero for a blank page."""
    h, w = gray.shape
    scale = min(1.0, _WORK_WIDTH / max(w, h))
    small = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    # Divide out the paper (a max filter wider than strokes removes the text): uneven lighting or a
    # dark scanner border would otherwise pass Otsu as a slanted slab of "ink" and win the skew search.
    paper = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_RECT, (25, 25)))
    flat = cv2.divide(small, paper, scale=255)
    _, ink = cv2.threshold(flat, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    if ink.mean() > 0.5:  # Otsu on a blank page marks paper as ink
        ink[:] = 0
    return ink


def _profile_score(xs: np.ndarray, ys: np.ndarray, angle_deg: float) -> float:
    """How sharply ink falls into rows when the page is rotated by ``angle_deg``."""
    t = np.deg2rad(angle_deg)
    proj = ys * np.cos(t) - xs * np.sin(t)
    # One-pixel bins at every angle: np.histogram's range-fitted bins alias at exactly 0°.
    hist = np.bincount(np.rint(proj - proj.min()).astype(np.int64))
    mean = hist.mean()
    return float(((hist - mean) ** 2).mean() / (mean * mean)) if mean > 0 else 0.0


def _best_angle(xs, ys, max_deg) -> float:
    coarse = np.arange(-max_deg, max_deg + 1e-6, 0.5)
    best = float(coarse[int(np.argmax([_profile_score(xs, ys, a) for a in coarse]))])
    fine = np.arange(best - 0.5, best + 0.5 + 1e-6, 0.05)
    return float(fine[int(np.argmax([_profile_score(xs, ys, a) for a in fine]))])


def _text_rows(xs: np.ndarray, ys: np.ndarray, angle_deg: float) -> int:
    """Number of text rows along the profile: bands of ink separated by gaps of at least a
    quarter of a band (the gap between characters of one line is smaller)."""
    t = np.deg2rad(angle_deg)
    hist = np.bincount(np.rint((ys * np.cos(t) - xs * np.sin(t)) - (ys * np.cos(t) - xs * np.sin(t)).min()).astype(np.int64))
    occupied = hist > 0.02 * hist.max()
    edges = np.diff(np.concatenate(([0], occupied.astype(np.int8), [0])))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    if len(starts) == 0:
        return 0
    band = float(np.median(ends - starts))
    gaps = starts[1:] - ends[:-1]
    return 1 + int((gaps >= 0.25 * band).sum())


def _elongated(ink: np.ndarray, *, vertical: bool) -> int:
    """Ink area in blobs at least 4x longer than wide once neighbouring characters are joined along
    one axis: lines of text. On a sparse page the profiles alone can prefer the left-aligned
    line starts, which form sharp columns."""
    joined = cv2.dilate(ink, cv2.getStructuringElement(cv2.MORPH_RECT, (1, 4) if vertical else (4, 1)))
    _, _, stats, _ = cv2.connectedComponentsWithStats(joined)
    w, h = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]
    long_side, short_side = (h, w) if vertical else (w, h)
    return int(stats[1:, cv2.CC_STAT_AREA][long_side >= 4 * short_side].sum())


def analyse(gray: np.ndarray, *, max_skew_deg: float = 10.0) -> tuple[int, float]:
    """(quarter_turn, skew): clockwise quarter turn (0 or 90) that makes text lines horizontal,
    then the correction in degrees to pass to ``deskew``. 0/180 and 90/270 look alike here; the
    OCR engine's line classifier settles that afterwards."""
    ink = _small_ink(gray)
    ys, xs = np.nonzero(ink)
    if len(xs) < 50:
        return 0, 0.0
    xs, ys = xs.astype(np.float32), ys.astype(np.float32)
    h_angle = _best_angle(xs, ys, max_skew_deg)
    # The same on the transposed page: text running top to bottom forms sharp columns.
    v_angle = _best_angle(ys, xs, max_skew_deg)
    # Lines of joined characters say which way text runs; where they do not clearly (tables, stamps),
    # a turned page needs clearly sharper columns than rows, and several of them: one short line
    # of square characters also looks like columns.
    along_v, along_h = _elongated(ink, vertical=True), _elongated(ink, vertical=False)
    if along_v > 1.5 * along_h or (
            along_h <= 1.5 * along_v
            and _profile_score(ys, xs, v_angle) > 1.3 * _profile_score(xs, ys, h_angle)
            and _text_rows(ys, xs, v_angle) >= 3):
        # After a clockwise quarter turn, columns become rows and the skew changes sign.
        return 90, -v_angle
    return 0, h_angle


def text_height(gray: np.ndarray) -> float | None:
    """Median height in pixels of the text lines of an upright page; None when it shows no text.

    Characters joined along their line form one blob a line high; table rules (a pixel or two
    high), specks and stamps' rings drop out by shape, and the median ignores the odd title."""
    ink = _small_ink(gray)
    scale = ink.shape[0] / gray.shape[0]
    joined = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (5, 1)))
    _, _, stats, _ = cv2.connectedComponentsWithStats(joined)
    h, w = stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_WIDTH]
    lines = h[(h >= 3) & (w >= 2 * h)]
    if len(lines) < 3:
        return None
    return float(np.median(lines)) / scale


def rotate_quarter(image: np.ndarray, degrees: int) -> np.ndarray:
    codes = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
    degrees %= 360
    return image if degrees == 0 else cv2.rotate(image, codes[degrees])


def deskew(gray: np.ndarray, skew_deg: float) -> np.ndarray:
    """Rotate by ``skew_deg`` (counter-clockwise, as returned by ``analyse``) onto a canvas large enough to keep
    the corners, filled with white."""
    if skew_deg == 0:
        return gray
    h, w = gray.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), skew_deg, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(round(h * sin + w * cos)), int(round(h * cos + w * sin))
    m[0, 2] += nw / 2.0 - w / 2.0
    m[1, 2] += nh / 2.0 - h / 2.0
    out = cv2.warpAffine(gray, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=255)
    return _trim_to_frame(out, w, h)


def _trim_to_frame(out: np.ndarray, w: int, h: int) -> np.ndarray:
    """Crop the enlarged canvas back to the original frame (centred) unless ink was turned out of
    it: the OCR engine's time grows with the pixels it is given, and the corners are usually margin."""
    nh, nw = out.shape[:2]
    x0, y0 = (nw - w) // 2, (nh - h) // 2
    x1, y1 = x0 + w, y0 + h
    ink = _small_ink(out)
    ys, xs = np.nonzero(ink)
    if len(xs):
        sy, sx = nh / ink.shape[0], nw / ink.shape[1]
        pad = 8  # pixels of paper kept around the outermost ink
        x0 = max(0, min(x0, int(xs.min() * sx) - pad))
        y0 = max(0, min(y0, int(ys.min() * sy) - pad))
        x1 = min(nw, max(x1, int((xs.max() + 1) * sx) + pad))
        y1 = min(nh, max(y1, int((ys.max() + 1) * sy) + pad))
    return out[y0:y1, x0:x1]


def normalize_contrast(gray: np.ndarray) -> np.ndarray:
    """Stretch the 1st–99th percentile to full range when a scan is faint or grey."""
    lo, hi = np.percentile(gray[:: 4, :: 4], (1, 99))
    if hi - lo < 20 or (lo <= 10 and hi >= 245):
        return gray
    lut = np.clip((np.arange(256, dtype=np.float32) - lo) * 255.0 / (hi - lo), 0, 255).astype(np.uint8)
    return cv2.LUT(gray, lut)


def apply(gray: np.ndarray, rotation: int, skew: float, contrast: bool) -> np.ndarray:
    """Replay a recorded correction: quarter turns (clockwise), then skew, then contrast."""
    out = deskew(rotate_quarter(gray, rotation), skew)
    return normalize_contrast(out) if contrast else out
