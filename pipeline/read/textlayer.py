"""PDF text layers: is a page's text layer usable, and its lines with boxes (PDF points,
top-left origin).

Two readers give the same characters and lines (ReadConfig.text_reader). ``pdfminer``: pdfminer.six,
the parser under pdfplumber, driven directly with a device that keeps only characters and images;
its content-stream parsing is pure Python. ``pdfium`` (the default): pdfium's text page on the
document the stage already opened, with pdfminer's geometry (a box from the origin, the advance
wide, one font size tall from the descent), so the same lines come out.

pdfium leaves out of its text page a text object with no glyph that has an outline: WenQuanYi's
"℃" is an empty glyph (it prints as nothing), so "体温(℃)" drawn as three objects reads "体温( )"
there, and a lone space is dropped the same way. Such objects are put back from a walk of the
content stream (``contentstream`` tokens, pdfminer's fonts), which must reproduce pdfium's
characters of every other object. A page goes to pdfminer (with the fast tokenizer) when that walk
cannot place them, or on an unmapped glyph (code 0, U+FFFD, U+FFFE, a Unicode map error), a form
XObject, a /Rotate, turned, mirrored or stretched text, or a text object overlapping one of the few
before it (pdfium drops repeats drawn for fake bold); the page's ``reader`` says which one read it.

A page goes to OCR when it has no characters (image-only scan, or glyphs that cannot be
mapped), when its characters are mostly garbage (unmapped CID fonts, private-use
code points), when a few characters sit on a page-sized image (a scan with a stamped page
number), when it carries a /Rotate (the renderer draws it unrotated), or when its text runs
vertically.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from pipeline.read import contentstream
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

            self.resources = rsrc = PDFResourceManager(caching=True)
            self._device = _CharDevice(rsrc, pageno=1, laparams=None)
            interp = _fast_interpreter_class() if fast_tokens else PDFPageInterpreter
            self._interp = interp(rsrc, self._device)
            self._pages = PDFPage.create_pages(PDFDocument(PDFParser(self._fp)))
            self._next = 0
            self._last: tuple[int, object] | None = None
        except Exception:
            self._fp.close()
            raise

    def pdf_page(self, index: int):
        """pdfminer's ``PDFPage`` ``index``; the last one asked for can be asked for again."""
        if self._last is not None and self._last[0] == index:
            return self._last[1]
        if index < self._next:
            raise ValueError("pages must be read in order")
        for _ in range(index - self._next):
            next(self._pages)
        page = next(self._pages)
        self._next = index + 1
        self._last = (index, page)
        return page

    def page(self, index: int, ppage=None) -> PageChars:
        """Page ``index`` (0-based); pages must be asked for in increasing order. ``ppage`` is
        ignored (``PdfiumTextReader``'s signature)."""
        page = self.pdf_page(index)
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
            pc, dropped = _pdfium_chars(ppage)
        finally:
            if own:
                ppage.close()
        if pc is not None and not dropped:
            return pc
        if self._miner is None:
            self._miner = PdfTextReader(self._path, fast_tokens=True)
        if pc is not None:
            try:
                return _restore(pc, dropped, self._miner.pdf_page(index), self._miner.resources)
            except contentstream.Unsupported:
                pass
        return self._miner.page(index)

    def close(self) -> None:
        if self._miner is not None:
            self._miner.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@dataclass
class _Dropped:
    """Text objects pdfium left out of its text page: their places among the page's text objects
    and origins (PDF user space) and scale."""

    n_text: int
    objects: dict[int, tuple[float, float, float]]
    mx0: float
    top: float


def _pdfium_chars(ppage) -> tuple[PageChars | None, _Dropped | None]:
    """The page's characters in content order with pdfminer's boxes and the text objects pdfium's
    text page dropped (to restore from the content stream), or (None, None) when pdfium's view of
    the page may differ from pdfminer's in other ways (see the module docstring)."""
    import ctypes

    import pypdfium2.raw as c

    if ppage.get_rotation() % 360:
        return None, None
    mx0, my0, mx1, my1 = (_as_written(v) for v in ppage.get_mediabox())
    raw = ppage.raw
    images = []
    dropped: dict[int, tuple[float, float, float]] = {}
    recent: list[tuple[float, float, float, float]] = []
    l, b, r, t = ctypes.c_float(), ctypes.c_float(), ctypes.c_float(), ctypes.c_float()
    m = c.FS_MATRIX()
    text_kind, image_kind, form_kind = c.FPDF_PAGEOBJ_TEXT, c.FPDF_PAGEOBJ_IMAGE, c.FPDF_PAGEOBJ_FORM
    get_object, kind_of, bounds, matrix_of = c.FPDFPage_GetObject, c.FPDFPageObj_GetType, c.FPDFPageObj_GetBounds, c.FPDFPageObj_GetMatrix
    n_text = 0
    for k in range(c.FPDFPage_CountObjects(raw)):
        obj = get_object(raw, k)
        kind = kind_of(obj)
        if kind == text_kind:
            matrix_of(obj, m)
            if m.b or m.c or m.a <= 0 or m.a != m.d:
                return None, None  # turned, mirrored or stretched text: the loose box is not pdfminer's box
            bounds(obj, l, b, r, t)
            box = (l.value, b.value, r.value, t.value)
            if box[0] == box[2]:
                dropped[n_text] = (m.e, m.f, m.a)  # no glyph with an outline: not in the text page
            else:
                for o in recent:
                    # pdfium drops a text object that repeats one of the few before it (fake bold)
                    if min(o[2], box[2]) > max(o[0], box[0]) and min(o[3], box[3]) > max(o[1], box[1]):
                        return None, None
                recent = (recent + [box])[-5:]
            n_text += 1
        elif kind == image_kind:
            bounds(obj, l, b, r, t)
            images.append((l.value - mx0, my1 - t.value, r.value - mx0, my1 - b.value))
        elif kind == form_kind:
            return None, None
    tp = c.FPDFText_LoadPage(raw)
    if not tp:
        return None, None
    try:
        chars = _text_page_chars(c, tp, mx0, my1)
    finally:
        c.FPDFText_ClosePage(tp)
    if chars is None:
        return None, None
    pc = PageChars(width=float(mx1 - mx0), height=float(my1 - my0), chars=chars, images=images, reader="pdfium")
    return pc, (_Dropped(n_text, dropped, mx0, my1) if dropped else None)


def _as_written(v: float) -> float:
    """pdfium's 32-bit float as the shortest decimal within two of its steps: the number the file
    wrote (pdfminer's value), as pdfium's parse is not always the nearest 32-bit float."""
    import numpy as np

    step = 2 * float(np.spacing(np.float32(v)))
    for digits in range(9):
        r = round(v, digits)
        if abs(r - v) <= step:
            return r
    return v


def _restore(pc: PageChars, dropped: _Dropped, page, rsrcmgr) -> PageChars:
    """``pc`` with the characters of the dropped text objects put back in content order.

    The page's content stream is walked for its text operators (font, spacing, strings): each
    text-showing operator with a string is one of pdfium's text objects. The walk's characters of
    the objects pdfium kept must equal pdfium's, or ``Unsupported``; the dropped objects' boxes are
    pdfminer's (origin from pdfium, advance and descent from pdfminer's font)."""
    from pdfminer.pdffont import PDFType3Font
    from pdfminer.pdftypes import PDFObjRef, dict_value, list_value, resolve1, stream_value
    from pdfminer.psparser import PSKeyword, literal_name

    data = b"".join(stream_value(s).get_data() for s in list_value(resolve1(page.contents) or []))
    resources = dict_value(page.resources) if page.resources else {}
    fontdict = dict_value(resources.get("Font", {}))
    states, fonts = [], {}
    font, size, tc, tw, tz, ts = None, 0.0, 0.0, 0.0, 100.0, 0.0
    shown: list[tuple[list[tuple[str, float]], bool, tuple]] = []  # per text object: (text, advance) per char
    args: list = []
    for obj in contentstream.objects(data):
        if not isinstance(obj, PSKeyword):
            args.append(obj)
            continue
        op = obj.name
        strings = None
        if op == b"Tf" and len(args) >= 2:
            name, size = literal_name(args[-2]), args[-1]
            font = fonts.get(name)
            if font is None:
                ref = fontdict.get(name)
                if ref is None:
                    raise contentstream.Unsupported("unknown font")
                font = fonts[name] = rsrcmgr.get_font(ref.objid if isinstance(ref, PDFObjRef) else None, dict_value(ref))
                if isinstance(font, PDFType3Font) or font.is_vertical():
                    raise contentstream.Unsupported("type 3 or vertical font")
        elif op == b"Tc" and args:
            tc = args[-1]
        elif op == b"Tw" and args:
            tw = args[-1]
        elif op == b"Tz" and args:
            tz = args[-1]
        elif op == b"Ts" and args:
            ts = args[-1]
        elif op == b"q":
            states.append((font, size, tc, tw, tz, ts))
        elif op == b"Q" and states:
            font, size, tc, tw, tz, ts = states.pop()
        elif op == b"Tj" or op == b"'":
            if args and args[-1]:
                strings = [args[-1]]
        elif op == b'"' and len(args) >= 3:
            tw, tc = args[-3], args[-2]
            if args[-1]:
                strings = [args[-1]]
        elif op == b"TJ" and args and isinstance(args[-1], list):
            if any(isinstance(x, bytes) for x in args[-1]):
                strings = args[-1]
        elif op == b"gs" and args:
            gs = dict_value(dict_value(resources.get("ExtGState", {})).get(literal_name(args[-1]), {}))
            if "Font" in gs:
                raise contentstream.Unsupported("font set by a graphics state")
        args = []
        if strings is None:
            continue
        if font is None or not isinstance(size, (int, float)) or not all(isinstance(x, (int, float)) for x in (tc, tw, tz, ts)):
            raise contentstream.Unsupported("text state")
        if len(shown) in dropped.objects and (not isinstance(strings[0], bytes) or ts):
            raise contentstream.Unsupported("dropped text object starts with a kerning or is raised")
        scaling = tz * 0.01
        chars, need_space = [], False
        for x in strings:
            if not isinstance(x, bytes):
                chars.append(("", -x * 0.001 * size * scaling))  # a kerning move
                need_space = True
                continue
            for cid in font.decode(x):
                try:
                    text = font.to_unichr(cid)
                except Exception as exc:
                    raise contentstream.Unsupported("unmapped glyph") from exc
                if not text:
                    raise contentstream.Unsupported("glyph without text")
                chars.append((text, (tc * scaling if need_space else 0.0), font.char_width(cid) * size * scaling,
                              tw * scaling if cid == 32 and tw else 0.0))
                need_space = True
        shown.append((chars, font.get_descent() * size + ts, size))
    if len(shown) != dropped.n_text:
        raise contentstream.Unsupported("text objects do not line up with pdfium's")
    kept = "".join(ch[0] for k, (chars, _, _) in enumerate(shown) if k not in dropped.objects for ch in chars)
    if kept != "".join(ch.text for ch in pc.chars) or any(len(ch[0]) > 1 for chars, _, _ in shown for ch in chars):
        raise contentstream.Unsupported("characters differ from pdfium's")
    out, i, top, mx0 = [], 0, dropped.top, dropped.mx0
    for k, (chars, low, size) in enumerate(shown):
        n = sum(1 for ch in chars if ch[0])
        if k not in dropped.objects:
            out += pc.chars[i:i + n]
            i += n
            continue
        e, f, a = dropped.objects[k]
        x = 0.0
        for ch in chars:
            if not ch[0]:
                x += ch[1]
                continue
            text, space, adv, word = ch
            x += space
            out.append(Char(text, e + a * x - mx0, top - (f + a * (low + size)), e + a * (x + adv) - mx0, top - (f + a * low)))
            x += adv + word
    pc.chars = out
    return pc


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
