"""Plain data the segmentation modules pass around: lines, table rows, documents, sections."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from pipeline.dates import normalize_text

# Characters that OCR adds, drops or swaps around titles and labels; ignored when matching.
_NOISE = re.compile(r"[\s:：,，.。、;；()（）\[\]【】{}<>《》\-—_|/\\\"'“”‘’*·•~～]+")


@functools.lru_cache(maxsize=65536)
def squash(text: str) -> str:
    """Normalized text without spaces or punctuation, for matching titles and labels."""
    return _NOISE.sub("", normalize_text(text))


# Full-width digits, letters and number punctuation (OCR output) read as ASCII; other
# characters (，（）Ⅱ) stay as the hospital wrote them.
_HALF = {c: chr(c - 0xFEE0) for c in [*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B),
                                      0xFF0E, 0xFF05, 0xFF0F, 0xFF0B, 0xFF0D]}


def as_written(line: "SLine", text: str) -> str:
    """``text`` (found in the normalized line) with the characters the line was written with,
    e.g. the '，' of a diagnosis name or the 'Ⅱ' of Ⅱ级护理, but with ASCII digits and letters;
    unchanged when the two cannot be aligned."""
    idx = line.text.find(text)
    if idx < 0:
        return text
    # Map normalized offsets back to raw ones character by character ('Ⅱ' became 'II').
    starts, pos = {}, 0
    for k, ch in enumerate(line.raw):
        starts.setdefault(pos, k)
        pos += len(normalize_text(ch))
    starts[pos] = len(line.raw)
    a, b = starts.get(idx), starts.get(idx + len(text))
    if a is None or b is None or pos != len(line.text):
        return text
    return line.raw[a:b].translate(_HALF)


@dataclass
class SLine:
    """One line of the reading stage (``lines`` row) with its page context."""

    id: int
    page_id: int
    page_no: int
    line_no: int
    raw: str
    x0: float | None = None
    y0: float | None = None
    x1: float | None = None
    y1: float | None = None
    row_no: int | None = None
    col_no: int | None = None
    page_width: float | None = None
    text: str = ""  # normalize_text(raw), filled in __post_init__

    def __post_init__(self):
        self.text = normalize_text(self.raw)

    @property
    def has_box(self) -> bool:
        return None not in (self.x0, self.x1)


@dataclass
class Row:
    """Cells of one table/form row: one line per cell, or a single line holding the whole row."""

    cells: list[SLine]

    @property
    def text(self) -> str:
        return "  ".join(c.text for c in self.cells)

    @property
    def first(self) -> SLine:
        return self.cells[0]


def rows_of(lines: list[SLine]) -> list[Row]:
    """Group lines into rows: consecutive lines sharing (page, row_no); a line without row_no
    is a row of its own."""
    rows: list[Row] = []
    for ln in lines:
        prev = rows[-1].cells[-1] if rows else None
        if (prev is not None and ln.row_no is not None and prev.row_no == ln.row_no
                and prev.page_id == ln.page_id):
            rows[-1].cells.append(ln)
        else:
            rows.append(Row([ln]))
    return rows


@dataclass
class Document:
    doc_type: str
    lines: list[SLine]
    title: str | None = None
    title_ids: set[int] = field(default_factory=set)  # title / note-date lines (not body text)
    at: str | None = None
    confidence: float = 1.0
    group: str = ""  # type of the titled document a split-off note belongs to (its page title)

    def __post_init__(self):
        self.group = self.group or self.doc_type


@dataclass
class Section:
    name: str
    header: str | None
    parts: list[tuple[SLine, str]]  # body lines in reading order, with the header cut off
    header_line: SLine | None = None

    @property
    def text(self) -> str:
        return "\n".join(t for _, t in self.parts)

    @property
    def anchor(self) -> SLine:
        return self.parts[0][0] if self.parts else self.header_line


@dataclass
class Value:
    """One extracted value with its evidence line."""

    name: str
    value: str | None
    raw: str
    line: SLine
    seq: int = 0
    code: str | None = None
    at: str | None = None
    source: str | None = None  # None: read from its label; else what it was derived from (identity.py)
