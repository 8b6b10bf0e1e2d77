"""Sections inside a document, from the header table in ``sections.yaml``.

A header opens a line: optional numbering, a synonym (spaces inside tolerated), then ':'/'：',
whitespace or the end of the line. "主诉：咳嗽3天" gives the section 主诉 with body "咳嗽3天";
a header alone on its line starts the body on the next line; a header cut over two lines
("现病" + "史：…") is joined. Matching runs on the raw text so that bodies keep the characters
as read (the NLP stage maps its spans back onto these lines).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.segment.config import Sections, Titles
from pipeline.segment.doctypes import edit_distance, is_furniture
from pipeline.segment.model import Document, Section, squash

_NUM = r"(?:[（(]?\s*(?:[一二三四五六七八九十]{1,3}|\d{1,2})\s*[)）、.．]\s*)?"
_SEP = r"(?:\s*[:：]\s*|\s+|$)"


def _pattern(synonym: str) -> str:
    chars = [re.escape(c) for c in synonym if not c.isspace()]
    return r"\s*".join(chars)


@dataclass
class _Hit:
    name: str
    header: str
    rest: str          # body text after the header on the same line
    next_rest: str | None = None  # set when the header continued on the next line
    numbered: bool = False        # written with an Arabic list number ("3.查体：")


class HeaderMatcher:
    def __init__(self, cfg: Sections):
        self.cfg = cfg
        syns = sorted(((s, d) for d in cfg.defs for s in d.synonyms), key=lambda p: -len(p[0].replace(" ", "")))
        self.syns = [(re.compile(r"^\s*" + _NUM + "(" + _pattern(s) + ")" + _SEP), s, d) for s, d in syns]

    def _allowed(self, d, doc_type):
        return d.doc_types is None or doc_type in d.doc_types

    def match(self, line: str, doc_type: str, next_line: str | None = None) -> _Hit | None:
        for rx, _, d in self.syns:
            if not self._allowed(d, doc_type):
                continue
            m = rx.match(line)
            if m:
                return _Hit(d.name, m.group(1), line[m.end():], numbered=bool(_ARABIC_ITEM.match(line)))
        fuzzy = self._fuzzy(line, doc_type)
        if fuzzy is not None or next_line is None:
            return fuzzy
        # A header split over two lines: this line is a head of a synonym, the next its tail.
        m = re.match(r"^\s*" + _NUM + r"(\S+?)\s*$", line)
        if not m:
            return None
        head = m.group(1)
        for _, syn, d in self.syns:
            s = syn.replace(" ", "")
            if not self._allowed(d, doc_type) or not (0 < len(head) < len(s)) or not s.startswith(head):
                continue
            tail = s[len(head):]
            m2 = re.match(r"^\s*" + _pattern(tail) + r"(?:\s*[:：]\s*|\s*$)", next_line)
            if m2:
                return _Hit(d.name, head + tail, "", next_line[m2.end():])
        return None

    def _fuzzy(self, line: str, doc_type: str) -> _Hit | None:
        """A header with one misread character ('出院医瞩：'), when it stands before a colon or
        alone on its line; a tie between two headers is no match."""
        m = re.match(r"^\s*" + _NUM + r"([^\s:：]{4,8})\s*(?:[:：]\s*|$)", line)
        if not m:
            return None
        head = m.group(1)
        best, tie = None, False
        for _, syn, d in self.syns:
            s = syn.replace(" ", "")
            # same length: OCR swaps characters; a wrapped line '病情变化。' adds one
            if len(s) != len(head) or len(s) < 4 or not self._allowed(d, doc_type) or edit_distance(head, s, 1) > 1:
                continue
            if best is not None and best.name != d.name:
                tie = True
            best = best or _Hit(d.name, head, line[m.end():], numbered=bool(_ARABIC_ITEM.match(line)))
        return None if tie else best


_FORM_LABEL = re.compile(r"(?:^|\s)[\u4e00-\u9fff（）()]{2,8}\s*[:：]")


def _form_line(text: str, inline: frozenset[str]) -> bool:
    """'手术医师：A 助手：B' (two or more labelled values) or a bare '术中生命体征：'; lines
    that open with an ``inline`` label ('体温：36.5℃ 脉搏：…' in 体格检查) stay in the section."""
    first = _FORM_LABEL.match(text)
    if first is None or squash(first.group(0)) in inline:
        return False
    return len(_FORM_LABEL.findall(text)) >= 2 or \
        bool(re.fullmatch(r"\s*[\u4e00-\u9fff（）()]{2,8}\s*[:：]\s*", text))


_ARABIC_ITEM = re.compile(r"^\s*\d{1,2}\s*[.、．)）]")


def _list_item(hit: _Hit, cur: Section) -> bool:
    """An Arabic-numbered header while the section body is itself a numbered list."""
    return hit.numbered and any(_ARABIC_ITEM.match(t) for _, t in cur.parts)


def split_sections(doc: Document, cfg: Sections, titles: Titles, skip: set[int] | None = None,
                   matcher: HeaderMatcher | None = None, inline: frozenset[str] = frozenset()) -> list[Section]:
    """Sections of ``doc``; lines in ``skip`` (patient banners) and page furniture are left out;
    ``inline`` labels (vital signs) do not make a line a form line."""
    dt = titles.doc_types.get(doc.doc_type)
    if dt is not None and not dt.sections:
        return []
    matcher = matcher or HeaderMatcher(cfg)
    skip = skip or set()
    body = [ln for ln in doc.lines
            if ln.id not in doc.title_ids and ln.id not in skip and not is_furniture(ln, titles)
            and ln.raw.strip()]
    out: list[Section] = []
    cur: Section | None = None
    other = False  # text after a closed section is 'other', before the first header 'preamble'
    i = 0
    while i < len(body):
        ln = body[i]
        nxt = body[i + 1] if i + 1 < len(body) else None
        if any(p.search(ln.text) for p in cfg.stop_lines):
            cur, other = None, True  # a signature closes the section
            i += 1
            continue
        hit = matcher.match(ln.raw, doc.doc_type, nxt.raw if nxt is not None else None)
        if hit is not None and cur is not None and (hit.name == cur.name or _list_item(hit, cur)):
            hit = None  # "2.出院带药：…" in 出院医嘱, "3.查体：…" in 病例特点: items, not sections
        if hit is None:
            if cur is not None and cur.header is not None and _form_line(ln.text, inline):
                cur = None  # a form line or an unknown sub-heading ends a section's prose
                other = True
            if cur is None:
                cur = Section(cfg.other if other else cfg.preamble, None, [])
                out.append(cur)
            cur.parts.append((ln, ln.raw.strip()))
            i += 1
            continue
        cur = Section(hit.name, hit.header, [], header_line=ln)
        out.append(cur)
        if hit.next_rest is None:
            if hit.rest.strip():
                cur.parts.append((ln, hit.rest.strip()))
            i += 1
        else:
            if hit.next_rest.strip():
                cur.parts.append((nxt, hit.next_rest.strip()))
            i += 2
    if len(out) == 1 and out[0].header is None:
        out[0].name = cfg.body  # a document without any header: one body section
    return [s for s in out if s.parts or s.header is not None]
