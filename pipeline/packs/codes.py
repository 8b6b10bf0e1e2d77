"""National 医保 code families and the prefix that names one product in each.

Drug codes (西药 ``X`` + 22, 中成药 ``Z`` + 19) end in specification, package and manufacturer
digits; a knowledge point lists the codes it knew of, and a bill may carry another package or
manufacturer of the same product. The prefix key cuts a code to the part that names the product:
for 西药 the class, generic name and dosage form, for 中成药 the class, name and form, for
15-digit service items the national base item (its last four digits are sub-item extensions),
and for 中药饮片 the whole code. ``bench/pack_matching.py`` measures the choice on the pack."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class CodeFamily:
    key: str            # X, Z, T, S
    label: str
    length: int
    pattern: re.Pattern
    prefix_len: int     # characters of a code that name the product

    def prefix(self, code: str) -> str:
        return f"{self.key}:{code[:self.prefix_len]}"


FAMILIES = (
    CodeFamily("X", "西药", 23, re.compile(r"X[A-Z0-9]{22}"), 14),
    CodeFamily("Z", "中成药", 20, re.compile(r"Z[A-Z0-9]{19}"), 11),
    CodeFamily("T", "中药饮片", 10, re.compile(r"T\d{9}"), 10),
    CodeFamily("S", "医疗服务项目", 15, re.compile(r"\d{15}"), 11),
)
BY_KEY = {f.key: f for f in FAMILIES}
_SPACES = re.compile(r"\s+")


def normalize(code: str | None) -> str:
    """A code as the index compares it: NFKC (full-width → ASCII), no spaces, upper case."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", code or "")).upper()


def family(code: str | None) -> CodeFamily | None:
    """The national family of a normalized code, or None (a local code, a typo, nothing)."""
    if not code:
        return None
    for f in FAMILIES:
        if len(code) == f.length and f.pattern.fullmatch(code):
            return f
    return None


def prefix_key(code: str | None) -> str | None:
    """The product key of a normalized national code (``X:XL02BBA326A001``), or None."""
    f = family(code)
    return f.prefix(code) if f else None
