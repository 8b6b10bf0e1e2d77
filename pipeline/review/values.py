"""What review stores and reads must fit: ids in SQLite's integer range, finite amounts in a sane
range, integers written in ASCII digits, text that UTF-8 can store. The ``check_*`` / ``parse_*``
functions refuse bad input with a ReviewError (a 400, never a crash further down); ``stored_number``
and ``finite_tree`` read what is already in the database without failing on one bad row."""
from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

from pipeline.review.errors import ReviewError

MAX_ID = 2**63 - 1                       # SQLite INTEGER; larger values overflow in the driver
MAX_AMOUNT = 1e10                        # 元 per flag; anything larger is a typing error
MAX_MS_SPENT = 7 * 24 * 3600 * 1000      # time on a decision, measured by the page
MAX_TEXT = 2000                          # notes, reasons, rule names as stored
ASCII_INT = re.compile(r"[0-9]{1,19}")
ASCII_DECIMAL = re.compile(r"-?[0-9]{1,12}(?:\.[0-9]{1,6})?")
# C0/C1 controls other than tab and newline: invisible in the UI, break CSV and logs.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def check_id(value: Any, what: str = "编号") -> int:
    """A row id: an int (not a bool) from 1 to 2^63-1."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise ReviewError(f"{what}无效")
    return value


def parse_int(text: Any, what: str, *, maximum: int = MAX_ID) -> int | None:
    """A form field holding a whole number in ASCII digits; empty means None."""
    if text is None:
        return None
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        s = str(text).strip()
        if not s:
            return None
        if not ASCII_INT.fullmatch(s):
            raise ReviewError(f"{what}必须是数字")
        value = int(s)
    if not 0 <= value <= maximum:
        raise ReviewError(f"{what}超出范围")
    return value


def parse_amount(value: Any) -> float | None:
    """An amount in 元: finite, 0 ≤ amount ≤ MAX_AMOUNT, rounded to fen; None when absent."""
    if value is None:
        return None
    if isinstance(value, str):
        s = value.strip()
        if not s:
            return None
        if not ASCII_DECIMAL.fullmatch(s):
            raise ReviewError(f"金额无效: {s[:20]!r}")
        value = float(s)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ReviewError("金额无效")
    value = float(value)
    if not math.isfinite(value):
        raise ReviewError("金额必须是有限的数字")
    if value < 0:
        raise ReviewError("金额不能为负数")
    if value > MAX_AMOUNT:
        raise ReviewError("金额超出范围")
    return round(value, 2)


def parse_ms(value: Any) -> int | None:
    """Milliseconds a reviewer spent: measured by the page, so a bad value is dropped, not refused."""
    try:
        return parse_int(value, "用时", maximum=MAX_MS_SPENT)
    except ReviewError:
        return None


def clean_text(value: Any, *, limit: int | None = MAX_TEXT) -> str | None:
    """Text as stored: NFC, control characters removed, trimmed, cut to ``limit``; None when empty.

    A lone surrogate (possible in JSON, ``"\\ud800"``) cannot be written as UTF-8: refused."""
    if value is None:
        return None
    s = str(value)
    if any("\ud800" <= c <= "\udfff" for c in s):
        raise ReviewError("文字含无法保存的字符（孤立的代理码位），请删除后重试")
    s = CONTROL.sub("", unicodedata.normalize("NFC", s)).strip()
    if limit is not None:
        s = s[:limit]
    return s or None


def stored_number(value: Any) -> float | None:
    """A number read from the database or an event (amount, score, coordinate): a finite float,
    else None, so one bad row counts as no value rather than failing every view that uses it."""
    if isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return f if math.isfinite(f) else None


def finite_tree(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None, so it always encodes as JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_tree(v) for v in obj]
    if isinstance(obj, str) and any("\ud800" <= c <= "\udfff" for c in obj):
        return obj.encode("utf-8", "replace").decode("utf-8")
    return obj
