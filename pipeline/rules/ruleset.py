"""The rules one scoring run applies: the catalogue checked against the checks that exist, with a
region's override, the knowledge tables and the knowledge packs in force; they evaluate a record
view or all stays and stamp each flag with the version of the catalogue and knowledge that raised it."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pipeline.packs import active as packs_active
from pipeline.packs.active import PackSet
from pipeline.rules import catalogue as catalogue_mod
from pipeline.rules import knowledge
from pipeline.rules.catalogue import Catalogue
from pipeline.rules.checks import FAMILIES, PER_RECORD, known_checks
from pipeline.rules.flags import Flag
from pipeline.rules.knowledge import Knowledge


def load_catalogue(path: str | Path | None = None, override: str | Path | None = None) -> Catalogue:
    """The catalogue at ``path`` (default: the packaged one), every entry naming an existing check,
    with an optional region override."""
    return catalogue_mod.read(path, override, known_checks())


@dataclass(frozen=True)
class RuleSet:
    """A validated catalogue, knowledge tables and knowledge packs, loaded once per run and shared
    by its workers (the packs' points are read on first use)."""

    catalogue: Catalogue
    kb: Knowledge
    packs: PackSet

    @property
    def version(self) -> str:
        """What flags, stays and rule-based scores record as the rules that produced them: the
        catalogue's version (with a region override's hash), the knowledge tables' digest and the
        packs' digest, so records scored under other parameters or other knowledge are known to be
        stale."""
        return f"{self.catalogue.version}+kb.{self.kb.digest}+kp.{self.packs.version}"

    @property
    def violation_types(self) -> list[str]:
        return sorted({r.violation_type for r in self.catalogue.rules})

    @cached_property
    def knowledge(self) -> Knowledge:
        """What every check receives: the knowledge tables, with the packs beside them."""
        return self.kb.with_packs(self.packs)

    def evaluate(self, view) -> list[Flag]:
        """All enabled per-record rules over one record view, each violation counted once."""
        out: list[Flag] = []
        for rule in self.catalogue.rules:
            if rule.enabled and rule.family in PER_RECORD:
                out += [f.stamp(rule, self.version)
                        for f in FAMILIES[rule.family][rule.check](view, rule.params, self.knowledge)]
        return counted_once(out)

    def evaluate_stays(self, stays) -> list[Flag]:
        """All enabled cross-record rules over every stay (``checks.cross_record.Stay``)."""
        out: list[Flag] = []
        for rule in self.catalogue.enabled("cross_record"):
            out += [f.stamp(rule, self.version)
                    for f in FAMILIES["cross_record"][rule.check](stays, rule.params, self.knowledge)]
        return out


def counted_once(flags: list[Flag]) -> list[Flag]:
    """A violation counted once where a national rule (a flag with ``knowledge``) and a rule of
    the knowledge tables find it on the same charge lines, for the same violation type: a table
    rule's flag whose lines national flags that decided (verdict 违规) all cover is dropped, the
    national flag names the published point; a national flag that could not decide (无法判定,
    限定条件未解析) is dropped where other flags that decided cover all its lines."""
    national: dict[str, set[int]] = defaultdict(set)
    decided: dict[str, set[int]] = defaultdict(set)
    for f in flags:
        if f.knowledge is None or f.knowledge.get("verdict") == "违规":
            decided[f.violation_type] |= set(f.charge_ids)
            if f.knowledge is not None:
                national[f.violation_type] |= set(f.charge_ids)
    out = []
    for f in flags:
        ids = set(f.charge_ids)
        if ids and f.knowledge is None and ids <= national[f.violation_type]:
            continue
        if ids and f.knowledge is not None and f.knowledge.get("verdict") != "违规" and ids <= decided[f.violation_type]:
            continue
        out.append(f)
    return out


def load(catalogue_path: str | Path | None = None, override: str | Path | None = None,
         knowledge_dir: str | Path | None = None, packs_root: str | Path | None = None) -> RuleSet:
    """The packaged rules, or those at the given paths, with the packs in force under ``packs_root``
    (default: ``$MEDREVIEW_PACKS`` or the repository's ``packs/``); a bad file raises
    ``CatalogueError`` (``PackError`` for a pack)."""
    return RuleSet(load_catalogue(catalogue_path, override), knowledge.load(str(knowledge_dir) if knowledge_dir else None),
                   packs_active.load_active(Path(packs_root) if packs_root else None))
