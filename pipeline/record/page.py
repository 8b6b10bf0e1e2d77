"""A page as the reading stage produces it, before it is stored: lines with boxes in reading order."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Line:
    """One line of text on a page, in reading order, with geometry in page coordinates."""

    text: str
    bbox: tuple[float, float, float, float]  # x0, y0, x1, y1 (top-left origin)
    confidence: float = 1.0
    polygon: list[list[float]] | None = None
    row_no: int | None = None
    col_no: int | None = None


@dataclass
class PageText:
    """What the reading stage produces for one page."""

    page_no: int  # 1-based within the record
    source_ref: str  # 'pdf:<index>' or image path
    width: float
    height: float
    unit: str  # 'pt' for PDF text layers, 'px' for images
    text_source: str  # 'pdf-text' | 'ocr' | 'empty'
    lines: list[Line] = field(default_factory=list)
    dpi: int | None = None
    engine: str | None = None
    engine_version: str | None = None
    mean_confidence: float | None = None
    rotation: int = 0
    skew: float = 0.0
    image_path: str | None = None  # relative to the store's page-image folder
    image_sha256: str | None = None
    error: str | None = None  # page-level problem that did not fail the record

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)
