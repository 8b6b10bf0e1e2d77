"""Date-time parsing tolerant of the forms found in records and exports (and OCR variants)."""
from __future__ import annotations

import datetime as dt
import re
import unicodedata

# The clock time after a date: 14:30, 14:30:05, 14时30分, 14时30分05秒, 8时5分, 8时 (hour only).
_TIME = (r"(?P<H>\d{1,2})\s*(?:[:：]\s*(?P<M>\d{2})(?:\s*[:：]\s*(?P<S>\d{2}))?"
         r"|时(?:\s*(?P<M2>\d{1,2})\s*分(?:\s*(?P<S2>\d{1,2})\s*秒)?)?)")
_DATE_RE = re.compile(
    r"(?P<y>(?:19|20)\d{2})\s*[-./年]\s*(?P<m>\d{1,2})\s*[-./月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:\s*(?:[T.,·_]|\s)?\s*" + _TIME + r")?"
)
_CN_DIGITS = {"〇": "0", "零": "0", "○": "0", "Ｏ": "0", "一": "1", "二": "2", "三": "3", "四": "4", "五": "5",
              "六": "6", "七": "7", "八": "8", "九": "9"}
# 二〇二四年三月八日, 二〇二四年十二月二十日 (dates of consent forms and signatures)
_CN_DATE = re.compile(r"([〇零○Ｏ一二三四五六七八九]{4})年([一二三四五六七八九十]{1,3})月([一二三四五六七八九十]{1,3})日")


def _cn_number(s: str) -> str:
    """一 … 三十一 as digits."""
    if "十" not in s:
        return "".join(_CN_DIGITS[c] for c in s)
    tens, _, ones = s.partition("十")
    return str((int(_CN_DIGITS[tens]) if tens else 1) * 10 + (int(_CN_DIGITS[ones]) if ones else 0))


def _cn_dates(t: str) -> str:
    if "年" not in t:
        return t
    return _CN_DATE.sub(lambda m: f"{''.join(_CN_DIGITS[c] for c in m[1])}年{_cn_number(m[2])}月{_cn_number(m[3])}日", t)
_COMPACT_RE = re.compile(r"(?P<y>(?:19|20)\d{2})(?P<m>\d{2})(?P<d>\d{2})(?:\s*(?P<H>\d{2}):?(?P<M>\d{2})(?::?(?P<S>\d{2}))?)?$")


def normalize_text(s: str) -> str:
    """NFKC (full-width digits/punctuation → ASCII) and unify OCR variants such as °C/℃."""
    return unicodedata.normalize("NFKC", s).replace("°C", "℃").replace("ºC", "℃")


def parse_datetime(s: str) -> dt.datetime | None:
    """Parse '2020-03-05', '2020年3月5日', '2020.3.5 14:30', '2020-03-0509:30' and '2020-03-05.09:30'
    (OCR), '20200305'."""
    if not s:
        return None
    t = _cn_dates(normalize_text(s).strip())
    m = _DATE_RE.search(t) or _COMPACT_RE.match(t)
    if not m:
        return None
    return _build(m.groupdict(), int(m.group("y")))


def iso(d: dt.datetime | None) -> str | None:
    return d.isoformat(sep=" ", timespec="minutes" if d.second == 0 else "seconds") if d else None


_MONTH_DAY_RE = re.compile(
    r"(?<!\d)(?P<m>\d{1,2})\s*[-./月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:\s*" + _TIME + r")?(?!\d)"
)


def find_datetime(s: str, *, year: int | None = None) -> tuple[dt.datetime, int, int] | None:
    """The first date(-time) in ``s`` with its span in ``normalize_text(s)``.

    With ``year``, dates written without one ('3月5日 14:30', '03-05') are read in that year, as
    order sheets and progress notes often write them.
    """
    if not s:
        return None
    t = normalize_text(s)
    digits = None
    for m in _DATE_RE.finditer(t):
        got = _build(m.groupdict(), int(m.group("y")))
        if got:
            digits = got, m.start(), m.end()
            break
    cn = _CN_DATE.search(t) if "年" in t else None
    if cn and (digits is None or cn.start() < digits[1]):
        got = parse_datetime(cn.group(0))
        if got:
            return got, cn.start(), cn.end()
    if digits:
        return digits
    if year is not None:
        for m in _MONTH_DAY_RE.finditer(t):
            got = _build(m.groupdict(), year)
            if got:
                return got, m.start(), m.end()
    return None


def _build(g: dict, year: int) -> dt.datetime | None:
    minute = g.get("M") or g.get("M2") or 0
    second = g.get("S") or g.get("S2") or 0
    try:
        return dt.datetime(year, int(g["m"]), int(g["d"]), int(g.get("H") or 0), int(minute), int(second))
    except ValueError:
        return None
