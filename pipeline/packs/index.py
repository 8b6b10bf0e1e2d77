"""Knowledge points by 医保 code, by product prefix and by item name, built once per pack set: a
charge line finds its points with a dict lookup (a name lookup, for lines without a national code,
goes through the normalizer's character index over the pack's names, never over the points)."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from pipeline.nlp.normalize import CharIndex
from pipeline.packs import codes
from pipeline.packs.schema import KnowledgePoint

# Lowest name similarity accepted as a match: chosen on the pack's own names with bill-style
# noise, where it keeps name matches precise (bench/pack_matching.py prints the table).
NAME_THRESHOLD = 0.8
PAIR_SEP = "×"
_UNIT = r"(?:mg|g|ml|l|μg|ug|iu|u|万u|万单位|%|片|粒|支|瓶|袋|丸|贴|盒|枚|揿|喷)"
# What bills append to an item's name: a specification, a package, a maker in brackets.
_SPEC_TAIL = re.compile(
    r"(?:[(\[（【][^)\]）】]*\d(?:\.\d+)?" + _UNIT + r"[^)\]）】]*[)\]）】]"
    r"|[(\[（【](?:国产|进口|[\u4e00-\u9fff]{2,4})[)\]）】]"
    r"|[*×x/:：]?\d+(?:\.\d+)?" + _UNIT + r"(?:[*×x/:：]\d*(?:\.\d+)?" + _UNIT + r"?)*"
    r"|/" + _UNIT + r")$", re.I)


@dataclass(frozen=True)
class PointMatch:
    """A point a charge line falls under. ``how``: code (the line's code is listed), prefix (same
    product, another package or maker) or name (no national code; matched by item name);
    ``score``: 1.0 for code and prefix, the name similarity for name; ``code``: the point's listed
    code the line stands for (for a pair, which item), None for a name match on a one-item point;
    ``name``: the pack name a name match found."""

    point: KnowledgePoint
    how: str
    score: float
    code: str | None = None
    name: str | None = None


def name_key(name: str | None) -> str:
    """An item name as the name index compares it: NFKC, no spaces."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name or ""))


def spec_cuts(name: str) -> list[str]:
    """The name, then the name less each thing a bill appends (a specification, a package, a maker
    in brackets), one at a time from the end."""
    out = [name]
    while True:
        cut = _SPEC_TAIL.sub("", out[-1])
        if cut == out[-1] or len(cut) < 2:
            return out
        out.append(cut)


def strip_spec(name: str) -> str:
    """The name without everything a bill appends."""
    return spec_cuts(name)[-1]


# An enantiomer is another drug with its own listing (左奥硝唑 is not 奥硝唑), however alike the names.
_ISOMER_PREFIXES = ("左旋", "右旋", "消旋", "左", "右", "精")


def _isomer(a: str, b: str) -> bool:
    """Whether one name is the other with an enantiomer prefix put in (left or right of a cut)."""
    short, long_ = sorted((name_key(a), name_key(b)), key=len)
    for pre in _ISOMER_PREFIXES:
        i = long_.find(pre)
        if i >= 0 and long_[:i] + long_[i + len(pre):] == short:
            return True
    return False


def item_names(point: KnowledgePoint) -> list[tuple[str, str | None]]:
    """(name, the listed code it names) for each item of a point: both items of a pair ``A×B``
    whose codes are listed in order, else the whole name for all the point's codes."""
    if not point.item_name:
        return []
    sides = point.item_name.split(PAIR_SEP)
    if len(sides) > 1 and len(sides) == len(point.med_codes):
        return [(name_key(s), c) for s, c in zip(sides, point.med_codes) if name_key(s)]
    return [(name_key(point.item_name), None)]


class CodeIndex:
    """The points in force by code, prefix key and item name."""

    def __init__(self, points: Iterable[KnowledgePoint], name_threshold: float = NAME_THRESHOLD):
        self.name_threshold = name_threshold
        self.by_code: dict[str, list[KnowledgePoint]] = {}
        self.by_prefix: dict[str, list[tuple[KnowledgePoint, str]]] = {}
        by_name: dict[str, list[tuple[KnowledgePoint, str | None]]] = {}
        for p in sorted(points, key=lambda p: p.kp_id):
            if p.disabled or p.superseded_by:
                continue
            seen_keys = set()
            for c in p.med_codes:
                self.by_code.setdefault(c, []).append(p)
                key = codes.prefix_key(c)
                if key and key not in seen_keys:
                    seen_keys.add(key)
                    self.by_prefix.setdefault(key, []).append((p, c))
            for n, c in item_names(p):
                by_name.setdefault(n, []).append((p, c))
        self.names = sorted(by_name)
        self.name_points = [by_name[n] for n in self.names]
        self.name_ids = {n: i for i, n in enumerate(self.names)}
        self._char_index: CharIndex | None = None
        self._name_cache: dict[str, tuple[int, float] | None] = {}

    def match(self, code: str | None, name: str | None = None) -> list[PointMatch]:
        """The points a charge line falls under: by its code when it is a national code (listed,
        then the same product's prefix), else by its name."""
        c = codes.normalize(code)
        if codes.family(c) is not None:
            out = [PointMatch(p, "code", 1.0, c) for p in self.by_code.get(c, ())]
            seen = {m.point.kp_id for m in out}
            out += [PointMatch(p, "prefix", 1.0, listed) for p, listed in self.by_prefix.get(codes.prefix_key(c), ())
                    if p.kp_id not in seen]
            return out
        return self.match_name(name)

    def match_name(self, name: str | None) -> list[PointMatch]:
        """The points of the pack name most like ``name``, when similar enough."""
        hit = self.best_name(name)
        if hit is None:
            return []
        i, score = hit
        return [PointMatch(p, "name", score, c, self.names[i]) for p, c in self.name_points[i]]

    def best_name(self, name: str | None) -> tuple[int, float] | None:
        """(index into ``names``, similarity) of the best pack name at or above the threshold."""
        q = name_key(name)
        if not q or not self.names:
            return None
        if q in self._name_cache:
            return self._name_cache[q]
        hit = self._lookup(q)
        if len(self._name_cache) < 100_000:   # bills repeat their item names
            self._name_cache[q] = hit
        return hit

    def _lookup(self, q: str) -> tuple[int, float] | None:
        cuts = spec_cuts(q)
        for cut in cuts:   # the longest exact name first: 葡萄糖耐量试验(口服)(500ml) is 葡萄糖耐量试验(口服)
            if cut in self.name_ids:
                return self.name_ids[cut], 1.0
        if self._char_index is None:
            self._char_index = CharIndex(self.names)
        best = None
        for variant in dict.fromkeys((q, cuts[-1])):
            sims = self._char_index.similarities(variant)
            j = int(np.argmax(sims))
            if best is None or sims[j] > best[1]:
                best = (j, float(sims[j]))
        if best and _isomer(q, self.names[best[0]]):
            return None
        return (best[0], round(best[1], 4)) if best and best[1] >= self.name_threshold else None
