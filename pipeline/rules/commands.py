"""`medreview rules list|check`: show the effective catalogue, validate catalogue/override files."""
from __future__ import annotations

from pipeline.rules import catalogue, knowledge
from pipeline.rules.catalogue import CatalogueError


def list_rules(override=None, echo=print) -> int:
    try:
        cat = catalogue.load(override=override)
    except CatalogueError as exc:
        echo(f"错误: {exc}")
        return 2
    echo(f"规则目录版本 {cat.version}  ({cat.path})")
    for r in cat.rules:
        state = "启用" if r.enabled else "停用"
        params = ", ".join(f"{k}={v}" for k, v in r.params.items())
        echo(f"{r.id:28} {r.name}  [{r.category}|{r.severity}|{state}]  {r.legal_basis}"
             + (f"\n{'':28} 参数: {params}" if params else ""))
    return 0


def check(override=None, path=None, echo=print) -> int:
    try:
        cat = catalogue.load(path, override)
        kb = knowledge.load()
    except CatalogueError as exc:
        echo(f"错误: {exc}")
        return 2
    echo(f"通过: 规则目录 {cat.version}，{len(cat.rules)} 条规则 ({len(cat.enabled())} 条启用)，知识表 {len(kb)} 张")
    return 0
