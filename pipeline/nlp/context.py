"""ConText-style attributes (negated, uncertain, historical, family) from data/context_rules.yaml.

For each cue found in the text (longest match first; not inside an entity; not part of a
pseudo-cue), the scope runs forward and/or backward from the cue until a terminator: sentence
punctuation always, clause punctuation (，) for cues marked ``clause``, terminator words, and the
``max_gap`` distance. An entity wholly inside a scope gets the cue's attribute. Section defaults
(既往史 → historical, 家族史 → family) are added on top.

It judges the entities the NLP stage finds and the term mentions the rules search the record text
for (``pipeline.rules.knowledge``), so both read negation from the same cue file.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

RULES_PATH = Path(__file__).parent / "data" / "context_rules.yaml"
ATTRS = ("negated", "uncertain", "historical", "family")


class ContextRulesError(ValueError):
    """A malformed rules file (reported with the rule's position)."""


@dataclass(frozen=True)
class Cue:
    text: str
    attr: str
    direction: str
    clause: bool
    max_gap: int | None


@dataclass
class Rules:
    cues: list[Cue]
    pseudo: list[str]
    sentence_stops: str
    clause_stops: str
    stop_words: list[str]
    sections: dict[str, list[str]]


@lru_cache(maxsize=4)
def load_rules(path: str | None = None) -> Rules:
    path = path or str(RULES_PATH)
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    cues = []
    for i, c in enumerate(data.get("cues", [])):
        try:
            cue = Cue(str(c["cue"]), c["attr"], c.get("direction", "forward"), bool(c.get("clause", True)), c.get("max_gap"))
        except (KeyError, TypeError) as exc:
            raise ContextRulesError(f"{path}: cue #{i + 1}: missing {exc}") from exc
        if cue.attr not in ATTRS or cue.direction not in ("forward", "backward", "both"):
            raise ContextRulesError(f"{path}: cue #{i + 1} '{cue.text}': bad attr/direction")
        cues.append(cue)
    cues.sort(key=lambda c: -len(c.text))
    term = data.get("terminators", {})
    sections = data.get("sections", {}) or {}
    for name, attrs in sections.items():
        if set(attrs) - set(ATTRS):
            raise ContextRulesError(f"{path}: section '{name}': unknown attributes {attrs}")
    return Rules(cues, sorted(data.get("pseudo", []), key=len, reverse=True), term.get("sentence", "。\n"),
                 term.get("clause", "，"), list(term.get("words", [])), sections)


def _find_all(text: str, needle: str):
    i = text.find(needle)
    while i >= 0:
        yield i
        i = text.find(needle, i + 1)


def _between(spans: list[tuple[int, int]], a: int, b: int) -> bool:
    """Whether another entity lies wholly between offsets a and b: a cue with a short reach
    (max_gap) binds to the nearest entity only ("CT示肝转移可能": 可能 is about 肝转移, not CT)."""
    return any(a <= s and e <= b for s, e in spans)


def attributes(text: str, spans: list[tuple[int, int]], section: str | None = None, rules: Rules | None = None) -> list[dict]:
    """Attributes for each (start, end) span of ``text``: a list of {attr: bool} in span order."""
    rules = rules or load_rules()
    n = len(text)
    inside = bytearray(n + 1)  # 1 where a char belongs to an entity or a pseudo-cue
    for s, e in spans:
        inside[s:e] = b"\x01" * (e - s)
    for p in rules.pseudo:
        for i in _find_all(text, p):
            inside[i : i + len(p)] = b"\x01" * len(p)
    stops_all = set(rules.sentence_stops)
    stops_clause = stops_all | set(rules.clause_stops)
    word_stops = []
    for w in rules.stop_words:
        for i in _find_all(text, w):
            if not any(inside[i : i + len(w)]):
                word_stops.append((i, i + len(w)))
    taken = bytearray(n + 1)
    found = []  # (start, end, cue)
    by_text: dict[str, list[Cue]] = {}
    for cue in rules.cues:  # longest first, so 未见明显异常 wins over 未见 and 无
        by_text.setdefault(cue.text, []).append(cue)
    for cue_text, entries in by_text.items():
        L = len(cue_text)
        for i in _find_all(text, cue_text):
            if any(inside[i : i + L]) or any(taken[i : i + L]):
                continue
            taken[i : i + L] = b"\x01" * L
            found.extend((i, i + L, cue) for cue in entries)
    out = [dict.fromkeys(ATTRS, False) for _ in spans]
    for attr in rules.sections.get(section or "", []):
        for o in out:
            o[attr] = True
    for cs, ce, cue in found:
        stops = stops_clause if cue.clause else stops_all
        if cue.direction in ("forward", "both"):
            end = ce
            while end < n and text[end] not in stops:
                end += 1
            for ws, we in word_stops:
                if ws >= ce and ws < end:
                    end = ws
            limit = ce + cue.max_gap if cue.max_gap is not None else n
            for k, (s, e) in enumerate(spans):
                if s >= ce and e <= end and s <= limit and (cue.max_gap is None or not _between(spans, ce, s)):
                    out[k][cue.attr] = True
        if cue.direction in ("backward", "both"):
            start = cs
            while start > 0 and text[start - 1] not in stops:
                start -= 1
            for ws, we in word_stops:
                if we <= cs and we > start:
                    start = we
            limit = cs - cue.max_gap if cue.max_gap is not None else 0
            for k, (s, e) in enumerate(spans):
                if e <= cs and s >= start and e >= limit and (cue.max_gap is None or not _between(spans, e, cs)):
                    out[k][cue.attr] = True
    return out
