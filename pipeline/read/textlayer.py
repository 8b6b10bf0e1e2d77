"""PDF text layers: is a page's text layer usable, and its lines with boxes (PDF points,
top-left origin).

Two readers give the same characters (ReadConfig.text_reader). ``pdfminer``: pdfminer.six, the
parser under pdfplumber, driven directly with a device that keeps only characters and images; its
content-stream parsing is pure Python. ``pdfium`` (the default): pdfium's text page on the document
the stage already opened, with pdfminer's geometry (a box from the origin, the advance and the
font's size and descent), so the same lines come out. pdfium skips a text object whose glyphs have
no outline box: reportlab's subsets draw "℃" that way, and a lone "(℃)" then vanishes (pdfium puts
a generated space there). So a page goes to pdfminer when pdfium shows such an empty text object,
an unmapped glyph (code 0, U+FFFD, U+FFFE, a Unicode map error), a form XObject, a /Rotate or
turned, mirrored or stretched text; the page's ``reader`` says which one read it. A page goes to OCR when it has no characters (image-only scan, or glyphs that cannot be
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


@dataclass(slots=True)
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
    reader: str = "pdfminer"  # which reader produced the characters


@dataclass
class Decision:
    use_text: bool
    reason: str  # text | no-text | rotated-page | garbage | scan-with-few-chars | vertical-text
    n_chars: int
    good_ratio: float


class PdfTextReader:
    """Characters of each page of one PDF: ``with PdfTextReader(path) as r: r.page(i)``.

    ``fast_tokens``: content streams tokenized by ``contentstream`` (pdfminer's parser where it
    declines), the interpreter and its character boxes pdfminer's own."""

    def __init__(self, path, *, fast_tokens: bool = False):
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
            interp = _fast_interpreter_class() if fast_tokens else PDFPageInterpreter
            self._interp = interp(rsrc, self._device)
            self._pages = PDFPage.create_pages(PDFDocument(PDFParser(self._fp)))
            self._next = 0
        except Exception:
            self._fp.close()
            raise

    def page(self, index: int, ppage=None) -> PageChars:
        """Page ``index`` (0-based); pages must be asked for in increasing order. ``ppage`` is
        ignored (``PdfiumTextReader``'s signature)."""
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


def open_reader(path, pdf, reader: str = "pdfium"):
    """The text reader ``ReadConfig.text_reader`` names; ``pdf``: the open pypdfium2 document."""
    if reader == "pdfium":
        return PdfiumTextReader(path, pdf)
    if reader == "pdfminer":
        return PdfTextReader(path)
    raise ValueError(f"unknown text reader {reader!r}; choose from pdfium, pdfminer")


_UNMAPPED = {"\0", "\ufffd", "\ufffe"}


class PdfiumTextReader:
    """Characters of each page from pdfium's text page; pages pdfium cannot read faithfully come
    from pdfminer (``PdfTextReader``, opened on first need). ``pdf``: the open pypdfium2 document
    (the stage's); pages in increasing order, as for ``PdfTextReader``."""

    def __init__(self, path, pdf):
        self._path = path
        self._pdf = pdf
        self._miner: PdfTextReader | None = None
        self._next = 0

    def page(self, index: int, ppage=None) -> PageChars:
        """Page ``index`` (0-based); ``ppage``: that page of ``pdf`` when the caller holds it."""
        if index < self._next:
            raise ValueError("pages must be read in order")
        self._next = index + 1
        own = ppage is None
        ppage = self._pdf[index] if own else ppage
        try:
            pc = _pdfium_chars(ppage)
        finally:
            if own:
                ppage.close()
        if pc is None:
            if self._miner is None:
                self._miner = PdfTextReader(self._path, fast_tokens=True)
            pc = self._miner.page(index)
        return pc

    def close(self) -> None:
        if self._miner is not None:
            self._miner.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _pdfium_chars(ppage) -> PageChars | None:
    """The page's characters in content order with pdfminer's boxes, or None when pdfium's view
    of the page may differ from pdfminer's (see the module docstring)."""
    import ctypes

    import pypdfium2.raw as c

    if ppage.get_rotation() % 360:
        return None
    mx0, my0, mx1, my1 = ppage.get_mediabox()
    raw = ppage.raw
    images = []
    l, b, r, t = ctypes.c_float(), ctypes.c_float(), ctypes.c_float(), ctypes.c_float()
    m = c.FS_MATRIX()
    text_kind, image_kind, form_kind = c.FPDF_PAGEOBJ_TEXT, c.FPDF_PAGEOBJ_IMAGE, c.FPDF_PAGEOBJ_FORM
    get_object, kind_of, bounds, matrix_of = c.FPDFPage_GetObject, c.FPDFPageObj_GetType, c.FPDFPageObj_GetBounds, c.FPDFPageObj_GetMatrix
    for k in range(c.FPDFPage_CountObjects(raw)):
        obj = get_object(raw, k)
        kind = kind_of(obj)
        if kind == text_kind:
            matrix_of(obj, m)
            if m.b or m.c or m.a <= 0 or m.a != m.d:
                return None  # turned, mirrored or stretched text: the loose box is not pdfminer's box
            bounds(obj, l, b, r, t)
            if l.value == r.value:
                return None  # glyphs without outline boxes: left out of pdfium's text page
        elif kind == image_kind:
            bounds(obj, l, b, r, t)
            images.append((l.value - mx0, my1 - t.value, r.value - mx0, my1 - b.value))
        elif kind == form_kind:
            return None
    tp = c.FPDFText_LoadPage(raw)
    if not tp:
        return None
    try:
        chars = _text_page_chars(c, tp, mx0, my1)
    finally:
        c.FPDFText_ClosePage(tp)
    if chars is None:
        return None
    return PageChars(width=float(mx1 - mx0), height=float(my1 - my0), chars=chars, images=images, reader="pdfium")


def _text_page_chars(c, tp, mx0: float, top: float) -> list[Char] | None:
    n = c.FPDFText_CountChars(tp)
    if n <= 0:
        return []
    buf = (c.c_ushort * (n + 1))()
    c.FPDFText_GetText(tp, 0, n, buf)
    text = bytes(buf)[:2 * n].decode("utf-16-le", errors="replace")
    if len(text) != n:
        return None  # characters beyond the BMP: one index, two UTF-16 units
    generated, map_error, loose = c.FPDFText_IsGenerated, c.FPDFText_HasUnicodeMapError, c.FPDFText_GetLooseCharBox
    box = c.FS_RECTF()
    chars = []
    append = chars.append
    for k, ch in enumerate(text):
        if ch.isspace() and generated(tp, k):
            continue  # spaces and line breaks pdfium infers; pdfminer has none
        if ch in _UNMAPPED or map_error(tp, k):
            return None
        # The loose box is pdfminer's: from the origin, the advance wide, one font size tall from
        # the descent (pdfium takes it as a share of ascent - descent: a few hundredths of a point).
        loose(tp, k, box)
        append(Char(ch, box.left - mx0, top - box.top, box.right - mx0, top - box.bottom))
    return chars


_FAST_INTERPRETER = None


def _fast_interpreter_class():
    """pdfminer's page interpreter, fed by ``contentstream.objects``."""
    global _FAST_INTERPRETER
    if _FAST_INTERPRETER is not None:
        return _FAST_INTERPRETER
    from pdfminer.pdfinterp import PDFPageInterpreter
    from pdfminer.pdftypes import stream_value
    from pdfminer.psparser import PSKeyword, keyword_name

    from pipeline.read import contentstream

    operators: dict = {}  # keyword → (function, operand count), or None: pdfminer has no such operator

    class FastInterpreter(PDFPageInterpreter):
        def execute(self, streams) -> None:
            # pdfminer's loop (PDFPageInterpreter.execute), on pre-tokenized objects.
            valid = []
            self.stream_ids.clear()
            for obj in streams:
                stream = stream_value(obj)
                if stream.objid is None or stream.objid in self.parent_stream_ids:
                    return super().execute(streams)  # pdfminer logs and skips these
                valid.append(stream)
                self.stream_ids.add(stream.objid)
            try:
                objs = contentstream.objects(b"".join(st.get_data() for st in valid))
            except contentstream.Unsupported:
                return super().execute(streams)
            for obj in objs:
                if not isinstance(obj, PSKeyword):
                    self.argstack.append(obj)
                    continue
                op = operators.get(obj, False)
                if op is False:
                    name = keyword_name(obj)
                    method = "do_" + name.replace("*", "_a").replace('"', "_w").replace("'", "_q")
                    func = getattr(PDFPageInterpreter, method, None)
                    op = operators[obj] = (func, func.__code__.co_argcount - 1) if func else None
                if op is None:
                    continue
                func, nargs = op
                if nargs:
                    args = self.pop(nargs)
                    if len(args) == nargs:
                        func(self, *args)
                else:
                    func(self)

    _FAST_INTERPRETER = FastInterpreter
    return FastInterpreter


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


_GOOD_TEXT = re.compile("[" + "".join(f"\\u{a:04x}-\\u{b:04x}" for a, b in _GOOD_RANGES) + "]*")
_good_cache: dict[str, bool] = {}


def _good_text(t: str) -> bool:
    """A character's text is all in the good ranges and is not an unmapped-glyph placeholder."""
    ok = _good_cache.get(t)
    if ok is None:
        ok = _good_cache[t] = not _CID.match(t) and _GOOD_TEXT.fullmatch(t) is not None
        if len(_good_cache) > 100_000:
            _good_cache.clear()
    return ok


def decide(pc: PageChars, *, min_text_chars: int = 10, min_good_char_ratio: float = 0.8) -> Decision:
    """Whether the page's text layer is worth using instead of OCR."""
    texts = [c.text for c in pc.chars if not c.text.isspace()]
    n = len(texts)
    if n == 0:
        return Decision(False, "no-text", 0, 0.0)
    if not pc.rotation_matches_render:
        return Decision(False, "rotated-page", n, 1.0)
    good = sum(map(_good_text, texts))
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
    text: list[str] | None = None  # the line being built: its pieces and box
    x0 = x1 = top = bottom = 0.0
    pending_space = False
    for c in pc.chars:
        t = c.text
        if t.isspace():
            pending_space = True
            continue
        size = c.bottom - c.top
        if size < 1.0:
            size = 1.0
        if text is not None:
            mid = (c.top + c.bottom) / 2
            gap = c.x0 - x1
            if top <= mid <= bottom and c.x0 >= x1 - 0.2 * size and gap <= 0.6 * size:
                if pending_space or gap >= 0.15 * size:
                    text.append(" ")
                text.append(t)
                if c.x1 > x1:
                    x1 = c.x1
                pending_space = False
                continue
            out.append(_line("".join(text), x0, top, x1, bottom))
        text = [t]
        x0, x1, top, bottom = c.x0, c.x1, c.top, c.bottom
        pending_space = False
    if text is not None:
        out.append(_line("".join(text), x0, top, x1, bottom))
    return out


def runs_vertically(found: list[Line], n_chars: int) -> bool:
    """Text laid out top to bottom (or a page drawn turned): almost every line is one character."""
    return n_chars >= 20 and len(found) >= 0.7 * n_chars


def _line(text: str, x0: float, top: float, x1: float, bottom: float) -> Line:
    text = unicodedata.normalize("NFC", text.strip())
    return Line(text=text, bbox=(float(x0), float(top), float(x1), float(bottom)), confidence=1.0)
