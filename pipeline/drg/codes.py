"""The 病案首页's codes against a scheme's 医保版 tables: a code the table has is used as written
(full-width characters and an OCR'd capital X folded first); one it lacks is recoded through the
scheme's 国临版 → 医保版 map (``diagnosis_map`` / ``procedure_map``) where the map has it, and
recorded; anything else is not a 医保版 code. Names find codes too (a 初步诊断 written without one)."""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import asdict, dataclass

from pipeline.drg.scheme import Scheme

OK, MAPPED, UNKNOWN = "医保版", "国临版转医保版", "非医保版编码"
MAPS = {"diagnosis": "diagnosis_map", "procedure": "procedure_map"}
TABLES = {"diagnosis": "diagnoses", "procedure": "procedures"}


@dataclass(frozen=True)
class Code:
    raw: str                  # as written on the 首页
    code: str | None          # the 医保版 code the grouper gets; None: none
    status: str               # 医保版 | 国临版转医保版 | 非医保版编码
    name: str | None = None   # the 医保版 name

    def to_dict(self) -> dict:
        return asdict(self)


def fold(raw: str) -> str:
    """A code as typed or read: NFKC (full width → ASCII), no spaces, chapter letter upper case."""
    s = re.sub(r"\s+", "", unicodedata.normalize("NFKC", raw or ""))
    return s[:1].upper() + s[1:]


def check(scheme: Scheme, raw: str, kind: str) -> Code:
    """``kind``: diagnosis | procedure."""
    table = scheme.code_set(TABLES[kind])
    names = scheme.diagnosis_names if kind == "diagnosis" else scheme.procedure_names
    s = fold(raw)
    for cand in (s, s[:1] + s[1:].replace("X", "x")):
        if cand in table:
            return Code(raw, cand, OK, names.get(cand))
    mapping = scheme.mapping(MAPS[kind]) if MAPS[kind] in scheme.tables else {}
    for cand in (s, s[:1] + s[1:].replace("X", "x")):
        got = mapping.get(cand)
        if got and got in table:
            return Code(raw, got, MAPPED, names.get(got))
    return Code(raw, None, UNKNOWN)


def _name_key(name: str) -> str:
    s = unicodedata.normalize("NFKC", name or "")
    return re.sub(r"[\s,，、()（）\[\]【】]", "", s)


@functools.lru_cache(maxsize=4)
def _name_index(scheme: Scheme) -> dict[str, str]:
    out: dict[str, str] = {}
    for code, name in scheme.diagnosis_names.items():
        out.setdefault(_name_key(name), code)
    return out


def _bigrams(s: str) -> set[str]:
    return {s[i:i + 2] for i in range(len(s) - 1)}


@functools.lru_cache(maxsize=4)
def _bigram_index(scheme: Scheme) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key in _name_index(scheme):
        for b in _bigrams(key):
            out.setdefault(b, []).append(key)
    return out


def diagnosis_by_name(scheme: Scheme, name: str, similarity: float = 0.6) -> str | None:
    """The 医保版 code whose name is ``name`` (spaces, brackets and commas ignored); else the code of
    the longest 医保版 name written inside it that covers at least 60% of it (急性胃肠炎 → 胃肠炎);
    else of the name most alike in character bigrams (Dice ≥ ``similarity``: 短暂性脑缺血发作 →
    短暂性大脑缺血性发作); else None."""
    index = _name_index(scheme)
    key = _name_key(name)
    if key in index:
        return index[key]
    need = max(3, -(-len(key) * 3 // 5))
    for size in range(len(key) - 1, need - 1, -1):
        for start in range(len(key) - size + 1):
            got = index.get(key[start:start + size])
            if got:
                return got
    mine = _bigrams(key)
    shared: dict[str, int] = {}
    for b in mine:
        for other in _bigram_index(scheme).get(b, ()):
            shared[other] = shared.get(other, 0) + 1
    best, score = None, similarity
    for other, n in sorted(shared.items()):
        dice = 2 * n / (len(mine) + len(_bigrams(other)))
        if dice > score or (dice == score and best is None):
            best, score = other, dice
    return index[best] if best else None
