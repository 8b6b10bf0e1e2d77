"""A fast, deterministic stand-in for OCR in tests.

Boxes come from the image itself (dark ink grouped into text lines), so rotation, deskew and
reading order run on real geometry. Text comes from a sidecar next to the page's source file:
``<source>.ocr.json`` (a list of {text, bbox, confidence}, taken as is) or ``<stem>.txt``
(one line of text per detected line, top to bottom); without a sidecar each line reads
``L<n>`` numbered top to bottom.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from pipeline.record.page import Line


def check() -> tuple[bool, str]:
    return True, "built-in test engine (ink boxes + sidecar text)"


def ink_line_boxes(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Boxes of text lines: dark pixels smeared horizontally into line blobs."""
    ink = (gray < 128).astype(np.uint8)
    # Character height: strokes smeared a little merge into characters and words first.
    words = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(words, connectivity=8)
    heights = stats[1:, cv2.CC_STAT_HEIGHT]
    heights = heights[heights >= 3]
    if not len(heights):
        return []
    # Gaps up to about two characters (a space, a full-width colon) stay inside a line.
    k = max(3, int(2 * np.median(heights)))
    blobs = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, 1)))
    n, _, stats, _ = cv2.connectedComponentsWithStats(blobs, connectivity=8)
    boxes = []
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        if area < 12 or bh < 3:
            continue
        boxes.append((int(x), int(y), int(x + bw), int(y + bh)))
    boxes.sort(key=lambda b: ((b[1] + b[3]) / 2, b[0]))
    return boxes


def version(**_options) -> str:
    return "fake-1"


class FakeEngine:
    name = "fake"
    version = version()

    def __init__(self, threads: int = 1, **_options):
        self.calls = 0
        self.flipped: float | None = None

    def recognize(self, image: np.ndarray, source: str | None = None, clock=None) -> list[Line]:
        self.calls += 1
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        if source:
            src = Path(source)
            js = src.with_name(src.name + ".ocr.json")
            if js.is_file():
                return [
                    Line(text=d["text"], bbox=tuple(d["bbox"]), confidence=d.get("confidence", 0.99))
                    for d in json.loads(js.read_text(encoding="utf-8"))
                ]
        boxes = ink_line_boxes(gray)
        texts = [f"L{i + 1}" for i in range(len(boxes))]
        if source:
            txt = Path(source).with_suffix(".txt")
            if txt.is_file():
                wanted = [t for t in txt.read_text(encoding="utf-8").splitlines() if t.strip()]
                texts[: len(wanted)] = wanted[: len(texts)]
        return [Line(text=t, bbox=tuple(map(float, b)), confidence=0.99) for t, b in zip(texts, boxes)]

    def upside_down_fraction(self) -> float | None:
        return self.flipped
