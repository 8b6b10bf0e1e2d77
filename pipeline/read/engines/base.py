"""What an OCR engine is: ``recognize(image) -> list[Line]`` in the image's pixel coordinates."""
from __future__ import annotations

from typing import Protocol

import numpy as np

from pipeline.record.page import Line


class EngineUnavailable(RuntimeError):
    """The engine is not installed or its local models are missing (``medreview doctor`` says which)."""


class Engine(Protocol):
    name: str
    version: str  # part of the OCR cache key: a new model or setting must not reuse old results

    def recognize(self, image: np.ndarray, source: str | None = None, clock=None) -> list[Line]:
        """Lines found in ``image`` (uint8 gray or BGR), unordered, boxes in its pixels.

        ``source`` names the page's origin; only test engines use it. ``clock`` (a
        ``timing.StageClock``), when given, is told the engine's own steps.
        """
        ...

    def upside_down_fraction(self) -> float | None:
        """Share of the lines of the last ``recognize`` call that read upside down (None: unknown)."""
        ...


def line_from_polygon(text: str, polygon, confidence: float) -> Line:
    pts = [[float(x), float(y)] for x, y in polygon]
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    return Line(
        text=text,
        bbox=(min(xs), min(ys), max(xs), max(ys)),
        confidence=float(confidence),
        polygon=pts,
    )
