"""Paginate documents onto A4 pages: wrap text, split tables, and keep the exact text of each line.

The page's truth text is the drawn lines in order (table cells joined by one space), which is also
what pdfplumber reads back from the text-layer PDF.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics

from .content import Doc, Record, Table, Text
from .fonts import FONT_NAME, register_font

PAGE_W, PAGE_H = A4
MARGIN_X = 50.0
TOP = 50.0
BOTTOM = 56.0
BODY_SIZE, BODY_LEAD = 10.5, 15.5
TITLE_SIZE, TITLE_LEAD = 16.0, 28.0
HEADER_SIZE, HEADER_LEAD = 8.5, 16.0
TABLE_SIZE, TABLE_LEAD = 8.0, 13.0
MIN_CELL_SIZE = 4.5   # a 23-character national drug code fits the code column at this size
CELL_PAD = 2.5
NO_LINE_START = set("，。；：、）】”’！？,.;:)%")


@dataclass
class Item:
    kind: str  # title | header | text | row | footer
    y: float  # baseline, from the top of the page
    size: float
    x: float = MARGIN_X
    text: str = ""
    cells: list = field(default_factory=list)  # [(x, width, text, size)] for rows
    rule_top: float | None = None  # rows: y of the ruling above the row


@dataclass
class Page:
    number: int
    doc_type: str
    items: list[Item] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        out = []
        for it in self.items:
            out.append(" ".join(c[2] for c in it.cells if c[2]) if it.kind == "row" else it.text)
        return out

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass
class Layout:
    pages: list[Page]
    sections: list[dict]  # {"document", "page", "name", "text"}
    ref_pages: dict  # id(plan object) → page number


@functools.cache
def _char_width(ch: str, size: float) -> float:
    register_font()
    return pdfmetrics.stringWidth(ch, FONT_NAME, size)


def text_width(text: str, size: float) -> float:
    return sum(_char_width(ch, size) for ch in text)


def wrap(text: str, width: float, size: float, keep: tuple[str, ...] = ()) -> list[str]:
    """Greedy line breaking that never splits a `keep` substring shorter than a line."""
    spans = []
    for k in keep:
        if k and text_width(k, size) <= width:
            pos = text.find(k)
            if pos >= 0:
                spans.append((pos, pos + len(k)))
    lines, start = [], 0
    while start < len(text):
        used, end = 0.0, start
        while end < len(text) and used + _char_width(text[end], size) <= width:
            used += _char_width(text[end], size)
            end += 1
        # closing punctuation never starts a line: let it hang past the margin
        while end < len(text) and text[end] in NO_LINE_START:
            end += 1
        if end < len(text):
            for a, b in spans:
                if a < end < b and a > start:
                    end = a
        line = text[start:end].strip()
        if line:
            lines.append(line)
        start = end
    return lines


class Paginator:
    def __init__(self, header: str):
        self.header = header
        self.pages: list[Page] = []
        self.sections: list[dict] = []
        self.ref_pages: dict = {}
        self.y = 0.0

    @property
    def page(self) -> Page:
        return self.pages[-1]

    def new_page(self, doc_type: str, title: str | None) -> None:
        self.pages.append(Page(len(self.pages) + 1, doc_type))
        self.y = TOP
        for line in title.split("\n") if title else []:
            self.y += TITLE_SIZE
            w = text_width(line, TITLE_SIZE)
            self.page.items.append(Item("title", self.y, TITLE_SIZE, x=(PAGE_W - w) / 2, text=line))
            self.y += TITLE_LEAD - TITLE_SIZE
        self.y += HEADER_SIZE
        self.page.items.append(Item("header", self.y, HEADER_SIZE, text=self.header))
        self.y += HEADER_LEAD - HEADER_SIZE + 4

    def room(self, lead: float) -> bool:
        return self.y + lead <= PAGE_H - BOTTOM

    def ensure(self, lead: float, doc: Doc) -> bool:
        if not self.room(lead):
            self.new_page(doc.title, None)
            return True
        return False

    def text(self, block: Text, doc: Doc) -> None:
        size = BODY_SIZE
        text = re.sub(r"[^\S\u3000]+", " ", block.text).strip()
        first = True
        for line in wrap(text, PAGE_W - 2 * MARGIN_X, size, block.keep):
            self.ensure(BODY_LEAD, doc)
            self.y += size
            self.page.items.append(Item("text", self.y, size, text=line))
            self.y += BODY_LEAD - size
            if first:
                if block.section:
                    self.sections.append({"document": doc.title, "page": self.page.number, "name": block.section,
                                          "text": block.section_text})
                if block.ref is not None:
                    self.ref_pages[id(block.ref)] = self.page.number
                first = False

    def _row(self, cells: list[str], widths: list[float]) -> Item:
        out, x = [], MARGIN_X
        for text, w in zip(cells, widths):
            text = re.sub(r"[^\S\u3000]+", " ", text).strip()
            size = TABLE_SIZE
            while size > MIN_CELL_SIZE and text_width(text, size) > w - 2 * CELL_PAD:
                size -= 0.5
            out.append((x, w, text, size))
            x += w
        return Item("row", 0.0, TABLE_SIZE, cells=out)

    def table(self, block: Table, doc: Doc) -> None:
        widths = [w for _, w in block.columns]
        header = [h for h, _ in block.columns]

        def put(cells, ref=None):
            item = self._row(cells, widths)
            item.rule_top = self.y
            self.y += TABLE_LEAD
            item.y = self.y - (TABLE_LEAD - TABLE_SIZE) / 2 - 1
            self.page.items.append(item)
            if ref is not None:
                self.ref_pages[id(ref)] = self.page.number

        self.ensure(TABLE_LEAD * (2 if block.header else 1), doc)
        if block.header:
            put(header)
        for cells, ref in zip(block.rows, block.refs or [None] * len(block.rows)):
            if self.ensure(TABLE_LEAD, doc) and block.header:
                put(header)
            put(cells, ref)
        self.y += 4

    def footer(self) -> None:
        for page in self.pages:
            text = f"第{page.number}页"
            page.items.append(Item("footer", PAGE_H - BOTTOM / 2, HEADER_SIZE, x=(PAGE_W - text_width(text, HEADER_SIZE)) / 2, text=text))


def paginate(record: Record) -> Layout:
    pg = Paginator(record.header)
    for doc in record.docs:
        pg.new_page(doc.title, doc.printed or doc.title)
        for block in doc.blocks:
            if isinstance(block, Table):
                pg.table(block, doc)
            else:
                pg.text(block, doc)
    pg.footer()
    return Layout(pg.pages, pg.sections, pg.ref_pages)


def find_page(layout: Layout, doc_type: str, text: str) -> int:
    """Page number of the first page of `doc_type` whose drawn text contains `text` on one line."""
    for page in layout.pages:
        if page.doc_type == doc_type and any(text in line for line in page.lines):
            return page.number
    raise LookupError(f"evidence text not drawn on any {doc_type} page: {text!r}")
