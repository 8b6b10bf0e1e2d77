"""Date-time parsing tolerant of the forms found in records and exports (and OCR variants)."""
from __future__ import annotations

import datetime as dt
import re
import unicodedata

_DATE_RE = re.compile(
    r"(?P<y>(?:19|20)\d{2})\s*[-./年]\s*(?P<m>\d{1,2})\s*[-./月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:\s*(?:[T.,·_]|\s)?\s*(?P<H>\d{1,2})\s*[:：时]\s*(?P<M>\d{2})(?:\s*[:：分]\s*(?P<S>\d{2}))?\s*(?:分|秒)?)?"
)
_COMPACT_RE = re.compile(r"(?P<y>(?:19|20)\d{2})(?P<m>\d{2})(?P<d>\d{2})(?:\s*(?P<H>\d{2}):?(?P<M>\d{2})(?::?(?P<S>\d{2}))?)?$")


def normalize_text(s: str) -> str:
    """NFKC (full-width digits/punctuation → ASCII) and unify OCR variants such as °C/℃."""
    return unicodedata.normalize("NFKC", s).replace("°C", "℃").replace("ºC", "℃")


def parse_datetime(s: str) -> dt.datetime | None:
    """Parse '2020-03-05', '2020年3月5日', '2020.3.5 14:30', '2020-03-0509:30' and '2020-03-05.09:30'
    (OCR), '20200305'."""
    if not s:
        return None
    t = normalize_text(s).strip()
    m = _DATE_RE.search(t) or _COMPACT_RE.match(t)
    if not m:
        return None
    g = m.groupdict()
    try:
        return dt.datetime(
            int(g["y"]), int(g["m"]), int(g["d"]),
            int(g["H"] or 0), int(g["M"] or 0), int(g["S"] or 0),
        )
    except ValueError:
        return None


def iso(d: dt.datetime | None) -> str | None:
    return d.isoformat(sep=" ", timespec="minutes" if d.second == 0 else "seconds") if d else None


_MONTH_DAY_RE = re.compile(
    r"(?<!\d)(?P<m>\d{1,2})\s*[-./月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:\s*(?P<H>\d{1,2})\s*[:：时]\s*(?P<M>\d{2})\s*分?)?(?!\d)"
)


def find_datetime(s: str, *, year: int | None = None) -> tuple[dt.datetime, int, int] | None:
    """The first date(-time) in ``s`` with its span in ``normalize_text(s)``.

    With ``year``, dates written without one ('3月5日 14:30', '03-05') are read in that year, as
    order sheets and progress notes often write them.
    """
    if not s:
        return None
    t = normalize_text(s)
    for m in _DATE_RE.finditer(t):
        got = _build(m.groupdict(), int(m.group("y")))
        if got:
            return got, m.start(), m.end()
    if year is not None:
        for m in _MONTH_DAY_RE.finditer(t):
            got = _build(m.groupdict(), year)
            if got:
                return got, m.start(), m.end()
    return None


def _build(g: dict, year: int) -> dt.datetime | None:
    try:
        return dt.datetime(year, int(g["m"]), int(g["d"]), int(g["H"] or 0), int(g["M"] or 0),
                           int(g.get("S") or 0))
    except ValueError:
        return None
