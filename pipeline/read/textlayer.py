"""PDF text layers: is a page's text layer usable, and its lines with boxes (PDF points,
top-left origin).

Characters come from pdfminer.six, the parser under pdfplumber, driven directly with a device
that keeps only characters and images: faster than pdfplumber, same characters (bench/ocr.py
prints the pages per second). pypdfium2's text extraction is faster still but drops glyphs: in
the sample records it loses "℃" drawn from reportlab's second font subset, which pdfminer maps
exactly. A page goes to OCR when it has no characters (image-only scan, or glyphs that cannot be
mapped), when its characters are mostly garbage (unmapped CID fonts, private-use
code points), when a few characters sit on a page-sized image (a scan with a stamped page
number), when it carries a /Rotate (the renderer draws it unrotated), or when its text runs
vertically.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from pipeline.record.page import Line

_CID = re.compile(r"^\(cid:\d+\)$")  # pdfminer's rendering of an unmapped glyph
_GOOD_RANGES = (
    (0x20, 0x7E),      # ASCII
    (0xA0, 0x17F),     # Latin-1 and Latin Extended-A (°, ±, ×, µ, é)
    (0x370, 0x3FF),    # Greek (α, β, μ)
    (0x2000, 0x23FF),  # punctuation, super/subscripts, ℃, Ⅲ, arrows, ≤ ≥
    (0x2460, 0x24FF),  # ①
    (0x2500, 0x25FF),  # box drawing, ■ □
    (0x3000, 0x303F),  # CJK punctuation
    (0x3400, 0x4DBF),  # CJK Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xFF00, 0xFFEF),  # full-width forms
)


@dataclass
class Char:
    text: str
    x0: float
    top: float
    x1: float
    bottom: float


@dataclass
class PageChars:
    """A page's characters in content order, and the boxes of its images (PDF points)."""

    width: float
    height: float
    chars: list[Char] = field(default_factory=list)
    images: list[tuple[float, float, float, float]] = field(default_factory=list)
    rotation: int = 0
    rotation_matches_render: bool = True  # False: /Rotate page, boxes in viewer space, not the renderer's


@dataclass
class Decision:
    use_text: bool
    reason: str  # text | no-text | rotated-page | garbage | scan-with-few-chars | vertical-text
    n_chars: int
    good_ratio: float


class PdfTextReader:
    """Characters of each page of one PDF: ``with PdfTextReader(path) as r: r.page(i)``."""

    def __init__(self, path):
        self._fp = open(path, "rb")
        try:
            from pdfminer.converter import PDFLayoutAnalyzer
            from pdfminer.pdfdocument import PDFDocument
            from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
            from pdfminer.pdfpage import PDFPage
            from pdfminer.pdfparser import PDFParser

            class _CharDevice(PDFLayoutAnalyzer):
                def paint_path(self, gstate, stroke, fill, evenodd, path):
                    pass  # rules and boxes: not text

                def receive_layout(self, ltpage):
                    self.ltpage = ltpage

            rsrc = PDFResourceManager(caching=True)
            self._device = _CharDevice(rsrc, pageno=1, laparams=None)
            self._interp = PDFPageInterpreter(rsrc, self._device)
            self._pages = PDFPage.create_pages(PDFDocument(PDFParser(self._fp)))
            self._next = 0
        except Exception:
            self._fp.close()
            raise

    def page(self, index: int) -> PageChars:
        """Page ``index`` (0-based); pages must be asked for in increasing order."""
        if index < self._next:
            raise ValueError("pages must be read in order")
        for _ in range(index - self._next):
            next(self._pages)
        page = next(self._pages)
        self._next = index + 1
        self._interp.process_page(page)
        return _page_chars(self._device.ltpage, page.rotate or 0)

    def close(self) -> None:
        self._fp.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _page_chars(ltpage, rotation: int) -> PageChars:
    from pdfminer.layout import LTChar, LTContainer, LTImage

    h = ltpage.height
    pc = PageChars(width=float(ltpage.width), height=float(h), rotation=rotation,
                   rotation_matches_render=not rotation % 360)
    stack = [ltpage]
    while stack:
        for obj in stack.pop():
            if isinstance(obj, LTChar):
                pc.chars.append(Char(obj.get_text(), obj.x0, h - obj.y1, obj.x1, h - obj.y0))
            elif isinstance(obj, LTImage):
                pc.images.append((obj.x0, h - obj.y1, obj.x1, h - obj.y0))
            elif isinstance(obj, LTContainer):
                stack.append(obj)
    return pc


def _good(ch: str) -> bool:
    o = ord(ch)
    return any(a <= o <= b for a, b in _GOOD_RANGES)


def decide(pc: PageChars, *, min_text_chars: int = 10, min_good_char_ratio: float = 0.8) -> Decision:
    """Whether the page's text layer is worth using instead of OCR."""
    texts = [c.text for c in pc.chars if not c.text.isspace()]
    n = len(texts)
    if n == 0:
        return Decision(False, "no-text", 0, 0.0)
    if not pc.rotation_matches_render:
        return Decision(False, "rotated-page", n, 1.0)
    good = sum(1 for t in texts if not _CID.match(t) and all(_good(ch) for ch in t))
    ratio = good / n
    if ratio < min_good_char_ratio:
        return Decision(False, "garbage", n, ratio)
    if n < min_text_chars:
        area = pc.width * pc.height or 1.0
        covered = sum(max(0.0, min(x1, pc.width) - max(x0, 0.0)) * max(0.0, min(y1, pc.height) - max(y0, 0.0))
                      for x0, y0, x1, y1 in pc.images)
        if covered / area > 0.5:
            return Decision(False, "scan-with-few-chars", n, ratio)
    return Decision(True, "text", n, ratio)


def lines(pc: PageChars) -> list[Line]:
    """Lines of the text layer, unordered, one per run of text (table cells apart).

    Characters join while they continue to the right on the same baseline band; a gap of up
    to two spaces (0.6 em) becomes one space, a wider gap (table column, spaced-out form
    fields) starts a new line.
    """
    out: list[Line] = []
    cur: dict | None = None
    pending_space = False
    for c in pc.chars:
        if c.text.isspace():
            pending_space = True
            continue
        size = max(c.bottom - c.top, 1.0)
        if cur is not None:
            mid = (c.top + c.bottom) / 2
            same_row = cur["top"] <= mid <= cur["bottom"] and c.x0 >= cur["x1"] - 0.2 * size
            gap = c.x0 - cur["x1"]
            if same_row and gap <= 0.6 * size:
                if pending_space or gap >= 0.15 * size:
                    cur["text"] += " "
                cur["text"] += c.text
                cur["x1"] = max(cur["x1"], c.x1)
                pending_space = False
                continue
            out.append(_line(cur))
        cur = dict(text=c.text, x0=c.x0, x1=c.x1, top=c.top, bottom=c.bottom)
        pending_space = False
    if cur is not None:
        out.append(_line(cur))
    return out


def runs_vertically(found: list[Line], n_chars: int) -> bool:
    """Text laid out top to bottom (or a page drawn turned): almost every line is one character."""
    return n_chars >= 20 and len(found) >= 0.7 * n_chars


def _line(d: dict) -> Line:
    text = unicodedata.normalize("NFC", d["text"].strip())
    return Line(text=text, bbox=(float(d["x0"]), float(d["top"]), float(d["x1"]), float(d["bottom"])), confidence=1.0)
