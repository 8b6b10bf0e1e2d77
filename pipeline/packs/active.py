"""The knowledge a run checks: the shipped national pack, then the latest version of every
imported pack in name order. A point with an id already in force replaces it, ``disabled: true``
removes it, a new id extends the set, and a point that ``supersedes`` one in force from an earlier
pack retires it. ``PackSet.version`` digests the applied packs, so flags know which knowledge
raised them."""
from __future__ import annotations

import dataclasses
import functools
import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pipeline.packs import store
from pipeline.packs.schema import KnowledgePoint
from pipeline.packs.store import Pack


@dataclass(frozen=True)
class Merged:
    """The outcome of applying the packs in order (pack ids name where each point came from)."""

    points: dict[str, KnowledgePoint]                 # in force, by kp_id
    origin: dict[str, str]                            # kp_id → pack id of the point in force
    overridden: dict[str, list[tuple[KnowledgePoint, str]]]   # kp_id → points it replaced, with their pack
    disabled: dict[str, tuple[KnowledgePoint | None, str]]    # kp_id → point switched off (None: unknown id), by pack
    history: dict[str, tuple[KnowledgePoint, str]]   # kp_id → superseded point, with its pack


@dataclass(frozen=True)
class PackSet:
    """The applied packs, national first; the merge runs on first use of the points, the version
    needs only the packs' metadata."""

    packs: tuple[Pack, ...]

    @property
    def version(self) -> str:
        listing = "".join(f"{p.name}\t{p.version}\t{p.content_hash}\n" for p in self.packs)
        return hashlib.sha256(listing.encode()).hexdigest()[:8]

    @cached_property
    def merged(self) -> Merged:
        return merge(self.packs)

    @property
    def points(self) -> dict[str, KnowledgePoint]:
        return self.merged.points

    @property
    def rule_classes(self) -> dict[str, dict]:
        """Rule class name → metadata (tier, GZ code, has_kp_detail), the national pack's first."""
        out: dict[str, dict] = {}
        for p in self.packs:
            for name, meta in p.rule_classes.items():
                out.setdefault(name, meta)
        return out

    @cached_property
    def index(self):
        """The points in force by code, prefix and name (``pipeline.packs.index.CodeIndex``), built once."""
        from pipeline.packs.index import CodeIndex   # numpy and the normalizer: only when matching

        return CodeIndex(self.points.values())

    def __len__(self) -> int:
        return len(self.points)


def merge(packs) -> Merged:
    points: dict[str, KnowledgePoint] = {}
    origin: dict[str, str] = {}
    overridden: dict[str, list] = {}
    disabled: dict[str, tuple] = {}
    history: dict[str, tuple] = {}
    for pack in packs:
        for p in pack.points:
            if p.superseded_by:
                history[p.kp_id] = (p, pack.id)
            elif p.disabled:
                old = points.pop(p.kp_id, None)
                origin.pop(p.kp_id, None)
                disabled[p.kp_id] = (old, pack.id)
            else:
                if p.kp_id in points:
                    overridden.setdefault(p.kp_id, []).append((points[p.kp_id], origin[p.kp_id]))
                points[p.kp_id] = p
                origin[p.kp_id] = pack.id
        for p in pack.points:   # a newer batch retiring a point of an earlier pack
            target = p.supersedes
            if (target and not p.superseded_by and not p.disabled and target in points
                    and origin[target] != pack.id and origin.get(p.kp_id) == pack.id):
                history[target] = (dataclasses.replace(points.pop(target), superseded_by=p.kp_id), origin.pop(target))
    return Merged(points, origin, overridden, disabled, history)


@functools.lru_cache(maxsize=8)
def _load(root: str, listing: tuple) -> PackSet:
    return PackSet((store.national(),) + tuple(store.latest(Path(root))))


def load_active(root: Path | None = None) -> PackSet:
    """The packs in force under ``root`` (default: ``$MEDREVIEW_PACKS`` or the repository's
    ``packs/``); cached per process until a pack is imported there."""
    r = store.packs_root(root)
    return _load(str(r.resolve()), store.listing(r))
