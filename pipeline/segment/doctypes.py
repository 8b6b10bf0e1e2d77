"""Document types and boundaries: which lines of a record form which document.

A document starts at a title line: a short line matching a title of ``doc_titles.yaml`` exactly
(anywhere on a page, so two documents can share a page) or fuzzily (only among the first lines
of a page, or centred, where titles sit). Inside a progress-note document every line that starts
with a date-time and carries little else starts a new note, so each note is its own document
with its own time; the patient banner printed between a title and its first date line
(``banner_labels``) is part of the title block, not a note of its own. A page without a title
continues the previous document unless its content cues clearly name another type, or starts
one typed by its content when there is none.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.dates import find_datetime
from pipeline.segment.config import Titles
from pipeline.segment.model import Document, SLine, squash

OTHER = "other"
# Contract document types (docs/ARCHITECTURE.md) a dated note falls back to.
NOTE_DEFAULT, NOTE_ROUNDS = "日常病程记录", "上级医师查房记录"
_DT_STRIP = re.compile(
    r"(?:(?:19|20)\d{2}\s*[-./年]\s*)?\d{1,2}\s*[-./月]\s*\d{1,2}\s*日?"
    r"(?:\s*\d{1,2}\s*[:：时]\s*\d{2}(?:\s*[:：]\s*\d{2})?\s*分?)?"
)
_HOSPITAL_TAIL = ("医院", "卫生院", "中心", "分院", "门诊部")


@dataclass(frozen=True)
class TitleMatch:
    doc_type: str
    title: str
    exact: bool      # the line is the title (plus a date-time) and nothing else
    distance: int    # edit distance of a fuzzy match, 0 when contained


def edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, giving up (returning limit + 1) once it exceeds ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
        if min(cur) > limit:
            return limit + 1
        prev = cur
    return prev[-1]


class TitleMatcher:
    def __init__(self, cfg: Titles):
        self.cfg = cfg
        pairs = [(squash(t), name) for name, d in cfg.doc_types.items() for t in d.titles]
        self.titles = sorted(pairs, key=lambda p: -len(p[0]))
        self.max_len = max(len(t) for t, _ in pairs) + cfg.max_extra_chars

    def match(self, text: str, fuzzy: bool = True) -> TitleMatch | None:
        """The title on this line; ``fuzzy`` also tries near misses (only where titles sit)."""
        s = squash(_DT_STRIP.sub(" ", text))
        if not s or len(s) > self.max_len:
            return None
        for t, name in self.titles:
            pos = s.find(t)
            if pos < 0:
                continue
            prefix, suffix = s[:pos], s[pos + len(t):]
            if len(prefix) + len(suffix) > self.cfg.max_extra_chars:
                continue
            if prefix and suffix and len(suffix) > 3 and not prefix.endswith(_HOSPITAL_TAIL):
                continue  # a title inside other words ('开始时间长期医嘱内容医师…') is a table header
            bare = not suffix and (not prefix or prefix.endswith(_HOSPITAL_TAIL))
            return TitleMatch(name, t, bare, 0)
        if not fuzzy:
            return None
        best = None
        chars = set(s)
        for t, name in self.titles:
            if len(t) < 4:
                continue  # short titles are too easy to hit by accident
            if len(set(t) - chars) > 2:
                continue  # cheap bound: more than two of the title's characters are missing
            limit = 1 if len(t) < 7 else 2
            for cand in {s, s[-len(t):], s[:len(t)]}:
                d = edit_distance(cand, t, limit)
                if d <= limit and (best is None or d < best.distance):
                    best = TitleMatch(name, t, False, d)
        return best


def is_furniture(line: SLine, cfg: Titles) -> bool:
    return any(p.search(line.text) for p in cfg.furniture)


_LABEL = re.compile(r"[\u4e00-\u9fff]{1,6}\s*[:：]")


def _is_page_header(line: SLine, cfg: Titles) -> bool:
    """Hospital name, page number or patient banner (姓名：… 住院号：…) printed above a title."""
    s = squash(line.text)
    return (not s or s.endswith(_HOSPITAL_TAIL) or is_furniture(line, cfg)
            or len(_LABEL.findall(line.text)) >= 2)


def _banner_rows(lines: list[SLine], cfg: Titles) -> set[int]:
    """Ids of the lines of patient-banner rows: two or more banner labels in the row read as one
    text (cells joined: a label the reading split at a wide gap, '姓' | '名：…'), with a colon or
    glued to their value at the start of a word ('姓名张三 住院号ZY…'), and no date."""
    if not cfg.banner_labels:
        return set()
    alts = [r"\s*".join(re.escape(ch) for ch in lab) for lab in sorted(cfg.banner_labels, key=len, reverse=True)]
    rx = re.compile(r"(?:(?<![\u4e00-\u9fff])|(?<=\s))(" + "|".join(alts) + r")(?=\s*[:：]|\S)")
    groups: dict[tuple, list[SLine]] = {}
    for ln in lines:
        groups.setdefault((ln.page_no, ln.row_no if ln.row_no is not None else f"l{ln.id}"), []).append(ln)
    out: set[int] = set()
    for row in groups.values():
        text = " ".join(ln.text for ln in row)
        found = {squash(m.group(1)) for m in rx.finditer(text)}
        if len(found) >= 2 and not find_datetime(text):
            out |= {ln.id for ln in row}
    return out


def _is_banner(line: SLine, cfg: Titles, banners: set[int] = frozenset()) -> bool:
    """Hospital name, page furniture or the patient banner, as printed between a note's title
    and its date line; body text with labels is not."""
    s = squash(line.text)
    if not s or s.endswith(_HOSPITAL_TAIL) or is_furniture(line, cfg) or line.id in banners:
        return True
    labels = [m.group(0).rstrip(":： ") for m in _LABEL.finditer(line.text)]
    return sum(1 for lab in labels if lab.endswith(cfg.banner_labels)) >= 2


def _centred(line: SLine) -> bool:
    if not line.has_box or not line.page_width:
        return False
    mid = (line.x0 + line.x1) / 2
    return abs(mid - line.page_width / 2) < 0.12 * line.page_width


def note_start(line: SLine, matcher: TitleMatcher) -> str | None:
    """The progress-note type a dated line opens ('2020-03-06 09:30 日常病程记录'), or None."""
    found = find_datetime(line.text)
    if not found or found[1] > 2:
        return None
    rest = line.text[found[2]:]
    m = matcher.match(rest) if squash(rest) else None
    if m and matcher.cfg.doc_types[m.doc_type].progress:
        return m.doc_type
    if not re.search(r"[:时]", line.text[found[1]:found[2]]):
        return None  # a bare date inside a note is more likely a lab or exam date
    rest = squash(rest)
    if len(rest) > matcher.cfg.max_extra_chars:
        return None
    return NOTE_ROUNDS if "查房" in rest else NOTE_DEFAULT


def _names_type(line: SLine, matcher: TitleMatcher) -> bool:
    """Whether a dated note line names a specific note type (not just '病程记录')."""
    found = find_datetime(line.text)
    m = matcher.match(line.text[found[2]:]) if found else None
    return m is not None and m.title not in {squash(t) for t in matcher.cfg.doc_types[NOTE_DEFAULT].titles}


def _cue_scores(lines: list[SLine], cfg: Titles) -> dict[str, int]:
    text = squash("".join(ln.text for ln in lines))
    return {name: sum(1 for c in d.cues if squash(c) in text) for name, d in cfg.doc_types.items()}


def _content_type(lines: list[SLine], cfg: Titles, current: str | None) -> str | None:
    """Type named by the page's content, when it beats continuing ``current``."""
    scores = _cue_scores(lines, cfg)
    best = max(scores, key=lambda k: (scores[k], -list(cfg.doc_types).index(k)))
    if scores[best] < cfg.doc_types[best].min_cues:
        return None
    if current is not None and (best == current or scores[best] <= scores.get(current, 0) + 1):
        return None
    return best


def document_time(doc: Document, cfg: Titles, year: int | None = None) -> str | None:
    """The document's own date-time: a labelled one (记录时间, 报告日期), else the first one on
    its title lines or first lines."""
    def fmt(d):
        return d.strftime("%Y-%m-%d %H:%M")

    if cfg.doc_types.get(doc.doc_type) and cfg.doc_types[doc.doc_type].progress:
        # a note's date line is in its title block, however many banner lines (a banner split
        # into cells, a hospital name above the title) come before it
        head = [ln for ln in doc.lines if ln.id in doc.title_ids] + doc.lines[:3]
        for ln in head:
            got = find_datetime(ln.text, year=year)
            if got:
                return fmt(got[0])
    for label in cfg.at_labels:
        key = squash(label)
        for k, ln in enumerate(doc.lines):
            s = ln.text
            pos = squash(s).find(key)
            if pos < 0:
                continue
            idx = s.find(label)
            got = find_datetime(s[idx + len(label):] if idx >= 0 else s, year=year)
            nxt = doc.lines[k + 1] if k + 1 < len(doc.lines) else None
            if not got and nxt is not None and ln.row_no is not None and nxt.row_no == ln.row_no:
                got = find_datetime(nxt.text, year=year)   # a grid: the label's cell, then its value's
            if got:
                return fmt(got[0])
    for ln in doc.lines[:3]:
        got = find_datetime(ln.text, year=year)
        if got:
            return fmt(got[0])
    return None


def split_documents(lines: list[SLine], cfg: Titles) -> list[Document]:
    """Cut the record's lines (reading order, page by page) into typed documents."""
    matcher = TitleMatcher(cfg)
    banners = _banner_rows(lines, cfg)
    docs: list[Document] = []
    pages: dict[int, list[SLine]] = {}
    for ln in lines:
        pages.setdefault(ln.page_no, []).append(ln)

    def start(doc_type, line, title=None, confidence=1.0, group=""):
        doc = Document(doc_type, [line], title=title, confidence=confidence, group=group)
        if title is not None:
            doc.title_ids.add(line.id)
        docs.append(doc)
        return doc

    for page_no in sorted(pages):
        page = pages[page_no]
        content = [ln for ln in page if not is_furniture(ln, cfg) and squash(ln.text)]
        top = {ln.id for ln in content[: cfg.top_lines]}
        per_row: dict[int, int] = {}
        for ln in page:
            if ln.row_no is not None:
                per_row[ln.row_no] = per_row.get(ln.row_no, 0) + 1
        matches = {}
        spaced = _spaced_titles(page, matcher)   # first cell id → (match, the row's other cell ids)
        absorbed = {i for _, rest in spaced.values() for i in rest}
        for ln in content:
            if ln.id in spaced:
                matches[ln.id] = spaced[ln.id][0]
                continue
            if per_row.get(ln.row_no, 1) > 1 and not _centred(ln):
                continue  # one cell of a table row ('长期医嘱内容') is not a title
            m = matcher.match(ln.text, fuzzy=ln.id in top or _centred(ln))
            if m and (m.exact or ln.id in top or _centred(ln)):
                matches[ln.id] = m
        first_title = next((i for i, ln in enumerate(content) if ln.id in matches), len(content))
        head = content[:first_title]
        cur = docs[-1] if docs else None
        if head and first_title >= min(cfg.top_lines, len(content)):
            kind = _content_type(head, cfg, cur.doc_type if cur else None)
            if kind is None and cur is None:
                kind = OTHER
            if kind is not None:  # typed by content: the document starts with the page
                cur = start(kind, page[0], confidence=0.6)
        else:
            kind = None
        skip = {page[0].id} if kind is not None else set()
        # Hospital name and patient banner above a page's title belong to the new document.
        banner = ([x for x in page if x.id not in skip and page.index(x) < page.index(content[first_title])]
                  if kind is None and first_title < len(content) and all(_is_page_header(x, cfg) for x in head)
                  else [])
        skip |= {x.id for x in banner}
        for ln in page:
            if ln.id in skip:
                continue
            if ln.id in absorbed and cur is not None:   # the other characters of a spaced-out title
                cur.lines.append(ln)
                cur.title_ids.add(ln.id)
                continue
            m = matches.get(ln.id)
            if m is not None:
                title = " ".join(x.raw.strip() for x in page if x.id == ln.id or x.id in spaced.get(ln.id, (None, ()))[1])
                cur = start(m.doc_type, ln, title=title or ln.raw.strip(),
                            confidence=1.0 if m.distance == 0 else 0.9)
                if banner:
                    cur.lines[:0] = banner
                    cur.title_ids |= {x.id for x in banner}
                    banner = []
                continue
            if cur is None:
                cur = start(OTHER, ln, confidence=0.5)
                continue
            if cfg.doc_types.get(cur.doc_type) and cfg.doc_types[cur.doc_type].progress:
                kind = note_start(ln, matcher)
                if kind is not None:
                    body = [x for x in cur.lines if x.id not in cur.title_ids]
                    if cur.title_ids and body and all(_is_banner(x, cfg, banners) for x in body):
                        # Only the patient banner lies between the title and this date line:
                        # the banner belongs to the title block and the date opens this note.
                        cur.title_ids |= {x.id for x in body}
                        body = []
                    if not body:  # the opening date line of this very note
                        if _names_type(ln, matcher):
                            cur.doc_type = kind  # "…术后首次病程记录" under a 日常病程记录 title
                        cur.title_ids.add(ln.id)
                        cur.lines.append(ln)
                        continue
                    cur = start(kind, ln, title=ln.raw.strip(), group=cur.group)
                    continue
                if all(x.id in cur.title_ids for x in cur.lines):
                    # "2020-03-07 10:05" then "赵主治医师查房记录": the note's own title line
                    m = matcher.match(ln.text)
                    if m is not None and cfg.doc_types[m.doc_type].progress:
                        cur.doc_type, cur.title = m.doc_type, ln.raw.strip()
                        cur.title_ids.add(ln.id)
            cur.lines.append(ln)
    return _merge_bare_titles(docs, cfg, banners)


def _spaced_titles(page: list[SLine], matcher: TitleMatcher) -> dict[int, tuple[TitleMatch, set[int]]]:
    """Titles printed with wide gaps between their characters ('入　院　记　录'), which the reading
    gives as one cell per character: a row of three or more one- or two-character cells whose
    joined text is exactly a title."""
    rows: dict = {}
    for ln in page:
        if ln.row_no is not None:
            rows.setdefault(ln.row_no, []).append(ln)
    out = {}
    for cells in rows.values():
        if len(cells) < 3 or any(len(squash(c.text)) > 2 for c in cells):
            continue
        m = matcher.match("".join(c.text for c in cells), fuzzy=False)
        if m and m.exact:
            out[cells[0].id] = (m, {c.id for c in cells[1:]})
    return out


def _merge_bare_titles(docs: list[Document], cfg: Titles, banners: set[int] = frozenset()) -> list[Document]:
    """A generic title ('病程记录') directly followed by a note's own title line belongs to
    that note rather than being an empty document of its own (the patient banner printed
    under the title included)."""
    out: list[Document] = []
    for doc in docs:
        prev = out[-1] if out else None
        if (prev is not None and prev.title_ids
                and all(x.id in prev.title_ids or _is_banner(x, cfg, banners) for x in prev.lines)
                and cfg.doc_types.get(doc.doc_type) and cfg.doc_types[doc.doc_type].progress
                and cfg.doc_types.get(prev.doc_type) and cfg.doc_types[prev.doc_type].progress):
            doc.lines = prev.lines + doc.lines
            doc.title_ids |= {x.id for x in prev.lines}
            doc.group = prev.group
            out[-1] = doc
        else:
            out.append(doc)
    return out
