"""Table documents: 医嘱单 orders, 检验报告 labs, 费用清单 bill lines (and 体温单/首页 tables).

Rows come from the reading order, in either of two shapes: one line per cell grouped by
``lines.row_no`` (OCR and PDF text layers), or one line per row with cells separated by spaces.
A header row is recognised by its column names (``fields.yaml`` tables); data rows below it map
cells to columns by horizontal position when cells have boxes, and otherwise by aligning the
row's tokens to the columns in order, each token going to a column whose kind fits
(date, number, code, text...). The header carries over to continuation pages.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.dates import find_datetime, normalize_text, parse_datetime
from pipeline.segment.config import Column, TableDef
from pipeline.segment.model import Row, SLine, as_written, rows_of, squash

_NUMBER = re.compile(r"^[-+]?\d+(?:\.\d+)?$")
_CODE = re.compile(r"^(?=.*\d)[A-Z0-9][A-Z0-9.\-x×+]{3,}$")
_RANGE = re.compile(r"^(?:[<>≤≥]\s*\d+(?:\.\d+)?|\d+(?:\.\d+)?\s*(?:-|~|～|—|–)\s*\d+(?:\.\d+)?|阴性(?:\(-\))?|未见|正常)$")
_FLAG = re.compile(r"^(?:↑|↓|H|L|高|低|阳性|\+|-|偏高|偏低)$")
_UNIT = re.compile(r"^(?:[A-Za-zμµ%‰×^0-9]*[/^][A-Za-zμµ0-9^]+|%|g/L|mmHg|[a-zA-Zμµ]{1,5}|[个次支盒瓶袋片粒套日天项组小时部位毫升克]+)$")
_SPLIT_WIDE = re.compile(r"\s{2,}|\t|\|")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def token_kind(tok: str) -> str:
    t = tok.strip()
    if re.fullmatch(r"0\d{3,}|\d{9,}", t):
        return "code"  # item codes are long digit strings, often with leading zeros
    if _NUMBER.match(t):
        return "number"
    md = re.fullmatch(r"(\d{2})[-./](\d{2})", t)
    if md and 1 <= int(md.group(1)) <= 12 and 1 <= int(md.group(2)) <= 31:
        return "date"  # '03-10' on order sheets; lab ranges are not written zero-padded
    if _RANGE.match(t):
        return "range"
    if parse_datetime(t) is not None:
        return "datetime" if re.search(r"[:：时]", t) else "date"
    if re.match(r"^\d{1,2}[-./月]\d{1,2}日?$", t):
        return "date"
    if re.match(r"^\d{1,2}(?:[:：]\d{2}(?:[:：]\d{2})?|时(?:\d{1,2}分(?:\d{1,2}秒)?)?)$", t):
        return "time"
    if _FLAG.match(t):
        return "flag"
    if _CODE.match(t):
        return "code"
    if _UNIT.match(t) and not _CJK.search(t[:1] or "x") or t in {"次", "日", "支", "盒", "瓶", "袋", "片", "粒", "套", "项", "组", "小时", "部位"}:
        return "unit"
    return "text"


# How well a token of one kind fits a column of another kind (higher is better).
_FIT = {
    ("text", "text"): 3, ("date", "date"): 3, ("datetime", "datetime"): 3, ("date", "datetime"): 3,
    ("time", "time"): 3, ("number", "number"): 3, ("code", "code"): 3, ("number", "code"): 2,
    ("flag", "flag"): 3, ("range", "range"): 3, ("unit", "unit"): 3, ("datetime", "date"): 2,
    ("time", "datetime"): 2,
}


def _fit(tok_kind: str, col_kind: str) -> float:
    if col_kind == "any":
        return 2.0 if tok_kind == "text" else 1.0
    if col_kind == "text":  # order content and item names carry doses and codes ('0.5g ivgtt qd')
        return 3.0 if tok_kind in ("text", "unit") else 0.5
    return _FIT.get((tok_kind, col_kind), -5.0)


def _score(token: str, kind: str, col: Column) -> float:
    if col.pattern is not None:  # a column with a value pattern takes exactly its values
        return 4.0 if col.pattern.fullmatch(token.strip()) else -5.0
    return _fit(kind, col.kind)


def _absorbs(col: Column, prev_kind: str, kind: str) -> bool:
    return col.kind in ("text", "any") or (col.kind == "datetime" and prev_kind == "date" and kind == "time")


def align(tokens: list[str], columns: tuple[Column, ...]) -> dict[str, list[int]]:
    """Assign each token (in order) to a column (in order) maximising kind fit; a text column
    may take several consecutive tokens. Returns column name → token indexes."""
    if not tokens:
        return {}
    kinds = [token_kind(t) for t in tokens]
    n, m = len(tokens), len(columns)
    neg = float("-inf")
    best = [[neg] * m for _ in range(n)]
    back = [[-1] * m for _ in range(n)]
    for c in range(m):
        best[0][c] = _score(tokens[0], kinds[0], columns[c])
    for t in range(1, n):
        run = neg, -1  # best over columns strictly left of c
        for c in range(m):
            score, frm = run
            # A further token in the same column fits a little worse than a column of its own,
            # so that tokens spread over text columns (name, category) when both are possible.
            absorb = best[t - 1][c] - (1.5 if _absorbs(columns[c], kinds[t - 1], kinds[t]) else 6)
            if frm >= 0 and score >= absorb:
                best[t][c] = score + _score(tokens[t], kinds[t], columns[c])
                back[t][c] = frm
            elif absorb > neg:
                best[t][c] = absorb + _score(tokens[t], kinds[t], columns[c])
                back[t][c] = c
            if best[t - 1][c] >= run[0]:
                run = best[t - 1][c], c
    c = max(range(m), key=lambda k: (best[n - 1][k], k))
    out: dict[str, list[int]] = {}
    for t in range(n - 1, -1, -1):
        out.setdefault(columns[c].name, []).insert(0, t)
        c = back[t][c]
    return out


@dataclass
class Cell:
    text: str
    line: SLine
    x0: float | None = None
    x1: float | None = None


@dataclass
class Header:
    cells: list[tuple[str | None, Cell]]  # every header cell in order; None = not a known column

    @property
    def names(self) -> set[str]:
        return {n for n, _ in self.cells if n}


def cells_of(row: Row) -> list[Cell]:
    if len(row.cells) > 1:
        return [Cell(c.text.strip(), c, c.x0, c.x1) for c in row.cells if c.text.strip()]
    ln = row.first
    parts = [p for p in _SPLIT_WIDE.split(ln.text.strip()) if p.strip()]
    if len(parts) == 1:
        parts = ln.text.split()
    return [Cell(p.strip(), ln) for p in parts]


def _header_column(text: str, tdef: TableDef) -> str | None:
    s = squash(text)
    if not s:
        return None
    exact = [c.name for c in tdef.columns for n in c.names if squash(n) == s]
    if exact:
        return exact[0]
    contained = [(len(squash(n)), c.name) for c in tdef.columns for n in c.names
                 if len(squash(n)) >= 2 and s.startswith(squash(n)) and len(s) <= len(squash(n)) + 4]
    if contained:
        return max(contained)[1]
    # OCR misreads one character of a long name (长期医喝内容 for 长期医嘱内容)
    misread = [(len(squash(n)), c.name) for c in tdef.columns for n in c.names
               if len(squash(n)) >= 4 and len(s) <= len(squash(n)) + 4
               and sum(a != b for a, b in zip(s, squash(n))) == 1 and len(s) >= len(squash(n))]
    return max(misread)[1] if misread else None


def match_header(row: Row, tdef: TableDef) -> Header | None:
    cells = [(_header_column(c.text, tdef), c) for c in cells_of(row)]
    if len({n for n, _ in cells if n}) < tdef.min_header:
        return None
    return Header(cells)


def _by_position(cells: list[Cell], header: Header) -> dict[str, list[Cell]]:
    """Each cell goes under the header cell it overlaps most (nearest centre when none);
    cells under columns we do not read (住院日数, 医师签名...) are dropped."""
    out: dict[str, list[Cell]] = {}
    for cell in cells:
        def score(item):
            _, h = item
            overlap = min(cell.x1, h.x1) - max(cell.x0, h.x0)
            centre = abs((cell.x0 + cell.x1) / 2 - (h.x0 + h.x1) / 2)
            return (max(overlap, 0.0), -centre)
        name = max(header.cells, key=score)[0]
        if name:
            out.setdefault(name, []).append(cell)
    return out


_UNREAD = Column("", ("",), "any")


def read_table(lines: list[SLine], tdef: TableDef):
    """Yield (values, first line per column, row line) per data row below a header row."""
    by_name = {c.name: c for c in tdef.columns}
    header: Header | None = None
    for row in rows_of(lines):
        h = match_header(row, tdef)
        if h is not None:
            header = h
            continue
        if header is None:
            continue
        cells = cells_of(row)
        if not cells:
            continue
        positional = (len(row.cells) > 1 and all(c.x0 is not None for c in cells)
                      and all(c.x0 is not None for _, c in header.cells))
        if positional:
            groups = _by_position(cells, header)
            values = {k: " ".join(c.text for c in v) for k, v in groups.items()}
            first = {k: v[0].line for k, v in groups.items()}
        else:
            order = tuple(by_name[n] if n else _UNREAD for n, _ in header.cells)
            groups = align([c.text for c in cells], order)
            groups.pop("", None)
            values = {k: " ".join(cells[i].text for i in v) for k, v in groups.items()}
            first = {k: cells[v[0]].line for k, v in groups.items()}
        yield values, first, row.first


def to_float(text: str | None) -> float | None:
    if not text:
        return None
    m = re.search(r"[-+]?\d+(?:,\d{3})*(?:\.\d+)?", text)
    return float(m.group(0).replace(",", "")) if m else None


def combine_at(*parts: str | None, year: int | None = None) -> str | None:
    """'2020-03-05' + '14:30' → '2020-03-05 14:30'; a date without a year takes ``year``."""
    text = " ".join(x for x in parts if x)
    got = find_datetime(text, year=year)
    if not got:
        return None
    d, start, end = got
    timed = re.search(r"[:：时]", normalize_text(text)[start:end])  # '2024-01-2008:50' has a time
    return d.strftime("%Y-%m-%d %H:%M") if timed else d.strftime("%Y-%m-%d")


def _first_line(first: dict[str, SLine], row_line: SLine, *names: str) -> SLine:
    for n in names:
        if n in first:
            return first[n]
    return row_line


def _find_term(text: str, terms: tuple[str, ...]) -> str | None:
    """The longest listed term standing as a word in ``text`` (latin terms need word bounds)."""
    for term in sorted(terms, key=len, reverse=True):
        if re.search(r"[A-Za-z]", term):
            if re.search(r"(?<![A-Za-z])" + re.escape(term) + r"(?![A-Za-z])", text, re.I):
                return term
        elif term in text:
            return term
    return None


_UNITS = ("mg", "g", "ml", "μg", "ug", "µg", "iu", "u", "l", "mmol")


def _unglue(text: str, terms) -> str:
    """Put back the spaces OCR drops between a dose unit, a route and a frequency ('50mgiv bid',
    'ivgttqd'): a run of latin letters that splits wholly into known pieces is written as those pieces."""
    vocab = {t.lower() for t in terms if re.fullmatch(r"[A-Za-zμµ]+", t)} | set(_UNITS)

    def split(run: str) -> list[str] | None:
        # fewest pieces wins, so a whole term ('ivgtt') beats its fragments
        best: list[list[str] | None] = [[]] + [None] * len(run)
        for end in range(1, len(run) + 1):
            for start in range(end):
                piece = run[start:end].lower()
                if piece in vocab and best[start] is not None and (
                        best[end] is None or len(best[start]) + 1 < len(best[end])):
                    best[end] = best[start] + [run[start:end]]
        return best[-1]

    def fix(m: re.Match) -> str:
        pieces = split(m.group(0))
        return " ".join(pieces) if pieces and len(pieces) > 1 else m.group(0)

    return re.sub(r"[A-Za-zμµ]{2,}", fix, text)


_DOSE = re.compile(r"(?<![\d.A-Za-z])(\d+(?:\.\d+)?\s*(?:mg|g|ml|mL|μg|ug|µg|IU|U|万U|万单位|单位|片|粒|支|袋|瓶|mmol|L|滴))(?![A-Za-z])")


def _leading_datetime(text: str, year: int | None) -> tuple[str | None, str]:
    """A date-time opening ``text`` (date and clock time) and the text after it."""
    t = normalize_text(text or "").strip()
    got = find_datetime(t, year=year)
    if not got or got[1] != 0 or not re.search(r"[:：时]", t[: got[2]]):
        return None, t
    return t[: got[2]], t[got[2]:].strip()


def orders(doc_lines: list[SLine], kind: str, tdef: TableDef, routes, frequencies, year: int | None):
    """Order rows of a 长期/临时医嘱单 document as dicts (line = evidence)."""
    out = []
    for v, first, row_line in read_table(doc_lines, tdef):
        content = (v.get("content") or "").strip()
        starts = (v.get("start_date"), v.get("start_at"), v.get("start_time"))
        # OCR merges the start cell with the content beside it ('2024-08-31 10:57 I级护理'):
        # one cell lands in the other column, so split it back at the date-time.
        lead, rest = _leading_datetime(content, year)
        if lead and rest:
            content = rest
            if not any(starts):
                starts = (lead,)
        elif not content and v.get("start_at"):
            lead, rest = _leading_datetime(v["start_at"], year)
            if lead and rest:
                content, starts = rest, (v.get("start_date"), lead, v.get("start_time"))
        if not content or not _CJK.search(content + (v.get("dose") or "")) and not re.search(r"[A-Za-z]{3,}", content):
            continue
        start_at = combine_at(*starts, year=year)
        if start_at is None:
            continue  # every order has its start; a row without one is page furniture or noise
        stop_at = combine_at(v.get("stop_date"), v.get("stop_at"), year=year)
        spaced = _unglue(content, (*routes, *frequencies))
        dose = v.get("dose") or (m.group(1) if (m := _DOSE.search(spaced)) else None)
        route = v.get("route") or _find_term(spaced, routes)
        freq = v.get("frequency") or _find_term(spaced, frequencies)
        out.append({
            "kind": kind, "start_at": start_at, "stop_at": stop_at,
            "content": as_written(first.get("content", row_line), content),
            "dose": dose, "route": route, "frequency": freq, "qty": to_float(v.get("qty")),
            "line": _first_line(first, row_line, "content"),
        })
    return out


def labs(doc_lines: list[SLine], tdef: TableDef, at: str | None):
    out = []
    for v, first, row_line in read_table(doc_lines, tdef):
        item = (v.get("item") or "").strip()
        value = (v.get("value") or "").strip()
        if not item or not value or ":" in item or not _CJK.search(item) and not re.search(r"[A-Za-z]", item):
            continue  # signatures ('检验者：…') are not results
        flag = (v.get("flag") or "").strip() or None
        m = re.search(r"\s*(↑|↓|H|L)$", value)
        if m and not flag:
            flag, value = m.group(1), value[: m.start()].strip()
        out.append({"item": as_written(first.get("item", row_line), item),
                    "value": as_written(first.get("value", row_line), value), "unit": v.get("unit") or None, "flag": flag,
                    "ref_range": v.get("ref_range") or None, "at": at,
                    "line": _first_line(first, row_line, "item")})
    return out


_TOTAL = re.compile(r"^(?:合计|小计|总计|本页合计|累计)")


def bill_lines(doc_lines: list[SLine], tdef: TableDef, year: int | None):
    out = []
    for v, first, row_line in read_table(doc_lines, tdef):
        name = (v.get("item_name") or "").strip()
        amount = to_float(v.get("amount"))
        if not name or amount is None or _TOTAL.match(squash(name)) or _TOTAL.match(squash(row_line.text)):
            continue
        out.append({
            "at": combine_at(v.get("date"), year=year), "item_code": (v.get("item_code") or None),
            "item_name": as_written(first.get("item_name", row_line), name), "category": v.get("category") or None, "qty": to_float(v.get("qty")),
            "unit_price": to_float(v.get("unit_price")), "amount": amount,
            "line": _first_line(first, row_line, "item_name"),
        })
    return out
