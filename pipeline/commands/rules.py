"""`medreview rules list | check`: the effective catalogue and knowledge versions; validate the
catalogue, override and knowledge files."""
from __future__ import annotations

from pathlib import Path

from pipeline.commands import EXIT_OK, console, error
from pipeline.packs.schema import PackError
from pipeline.rules import ruleset
from pipeline.rules.errors import CatalogueError


def _versions(rules: ruleset.RuleSet) -> None:
    kb = rules.kb
    console.print(f"知识表版本: {', '.join(f'{n} {v}' for n, v in sorted(kb.versions.items()))}", markup=False)
    console.print(f"知识包: {', '.join(p.id for p in rules.packs.packs)} (kp.{rules.packs.version})", markup=False)
    console.print(f"评分记录的规则版本 (flags/stays): {rules.version}", markup=False)


def list_rules(override: Path | None = None) -> int:
    try:
        rules = ruleset.load(override=override)
    except (CatalogueError, PackError) as exc:
        return error(exc)
    cat = rules.catalogue
    console.print(f"规则目录版本 {cat.version}  ({cat.path})", markup=False)
    _versions(rules)
    for r in cat.rules:
        state = "启用" if r.enabled else "停用"
        params = ", ".join(f"{k}={v}" for k, v in r.params.items())
        console.print(f"{r.id:28} {r.name}  [{r.category}|{r.severity}|{state}]  {r.legal_basis}"
                      + (f"\n{'':28} 参数: {params}" if params else ""), markup=False)
    return EXIT_OK


def check(override: Path | None = None, path: Path | None = None) -> int:
    try:
        rules = ruleset.load(path, override)
    except (CatalogueError, PackError) as exc:
        return error(exc)
    cat, kb = rules.catalogue, rules.kb
    console.print(f"通过: 规则目录 {cat.version}，{len(cat.rules)} 条规则 ({len(cat.enabled())} 条启用)，知识表 {len(kb)} 张",
                  markup=False)
    _versions(rules)
    return EXIT_OK
