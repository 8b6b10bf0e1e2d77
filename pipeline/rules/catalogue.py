"""Load and validate the rule catalogue and a region's override file.

The catalogue (``data/catalogue.yaml``) is versioned data; every error names the file and the
key so whoever edits it can fix it. A region override file looks like::

    region: 某县医保局 2026
    rules:
      XR-SPLIT-ADMISSION: {params: {window_days: 7}}
      CH-NO-ORDER: {enabled: false}

It may only change ``enabled`` and existing parameters (type- and range-checked); the resulting
catalogue version becomes ``<version>+<hash of the override>`` so flags record which parameters
produced them. Which families and checks exist is the caller's to say (``pipeline.rules.ruleset``),
so this module knows nothing of the check code.
"""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.rules.errors import CatalogueError, read_yaml

DEFAULT_PATH = Path(__file__).parent / "data" / "catalogue.yaml"
SEVERITIES = ("明确违规", "可疑")
PARAM_TYPES = {"int": int, "float": (int, float), "bool": bool, "str": str, "list": list}
RULE_KEYS = {"id", "name", "category", "violation_type", "legal_basis", "severity", "score", "family",
             "check", "enabled", "evidence", "params"}
REQUIRED = ("id", "name", "category", "violation_type", "legal_basis", "severity", "family", "check")


@dataclass
class Rule:
    id: str
    name: str
    category: str
    violation_type: str
    legal_basis: str
    severity: str
    family: str      # the checks module: cross_record | timeline | charges | clinical
    check: str       # a function in that module's CHECKS
    score: float = 0.5
    enabled: bool = True
    evidence: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    param_specs: dict[str, dict] = field(default_factory=dict)


@dataclass
class Catalogue:
    version: str
    rules: list[Rule]
    path: str = ""

    def enabled(self, family: str | None = None) -> list[Rule]:
        return [r for r in self.rules if r.enabled and (family is None or r.family == family)]

    def get(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


def _check_value(where: str, name: str, spec: dict, value: Any) -> Any:
    typ = spec["type"]
    expected = PARAM_TYPES[typ]
    # bool is an int subclass: reject True for an int parameter and 1 for a bool one.
    if (typ in ("int", "float") and isinstance(value, bool)) or not isinstance(value, expected):
        raise CatalogueError(f"{where}: 参数 {name} 应为 {typ} 类型, 实际为 {value!r}")
    if typ in ("int", "float"):
        if "min" in spec and value < spec["min"]:
            raise CatalogueError(f"{where}: 参数 {name}={value} 小于下限 {spec['min']}")
        if "max" in spec and value > spec["max"]:
            raise CatalogueError(f"{where}: 参数 {name}={value} 大于上限 {spec['max']}")
    return value


def parse(data: Any, source: str, known_checks: dict[str, set[str]]) -> Catalogue:
    """Validate catalogue data (already parsed YAML) against ``known_checks`` (family → check
    names); ``source`` names the file in errors."""
    if not isinstance(data, dict):
        raise CatalogueError(f"{source}: 顶层应为映射 (version, rules)")
    version = data.get("version")
    if not isinstance(version, str) or not version:
        raise CatalogueError(f"{source}: 缺少 version (字符串)")
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise CatalogueError(f"{source}: rules 应为非空列表")
    rules, seen = [], set()
    for i, raw in enumerate(raw_rules):
        where = f"{source}: rules[{i}]"
        if not isinstance(raw, dict):
            raise CatalogueError(f"{where}: 应为映射")
        if "id" in raw:
            where = f"{source}: rules[{i}] ({raw['id']})"
        for key in REQUIRED:
            if not raw.get(key):
                raise CatalogueError(f"{where}: 缺少必填项 {key}")
        unknown = set(raw) - RULE_KEYS
        if unknown:
            raise CatalogueError(f"{where}: 未知的键 {', '.join(sorted(unknown))}")
        if raw["id"] in seen:
            raise CatalogueError(f"{where}: 规则 id 重复")
        seen.add(raw["id"])
        if raw["severity"] not in SEVERITIES:
            raise CatalogueError(f"{where}: severity 应为 {' | '.join(SEVERITIES)}, 实际为 {raw['severity']!r}")
        if raw["family"] not in known_checks:
            raise CatalogueError(f"{where}: 未知的 family {raw['family']!r} (可选: {', '.join(sorted(known_checks))})")
        if raw["check"] not in known_checks[raw["family"]]:
            raise CatalogueError(f"{where}: family {raw['family']} 没有 check {raw['check']!r}")
        score = raw.get("score", 0.5)
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 1:
            raise CatalogueError(f"{where}: score 应为 0–1 之间的数")
        specs = raw.get("params") or {}
        if not isinstance(specs, dict):
            raise CatalogueError(f"{where}: params 应为映射")
        params = {}
        for name, spec in specs.items():
            pwhere = f"{where}.params.{name}"
            if not isinstance(spec, dict) or "default" not in spec or spec.get("type") not in PARAM_TYPES:
                raise CatalogueError(f"{pwhere}: 应为 {{default, type: {'|'.join(PARAM_TYPES)}}}")
            params[name] = _check_value(where, name, spec, spec["default"])
        rules.append(Rule(
            id=raw["id"], name=raw["name"], category=raw["category"], violation_type=raw["violation_type"],
            legal_basis=raw["legal_basis"], severity=raw["severity"], family=raw["family"], check=raw["check"],
            score=float(score), enabled=bool(raw.get("enabled", True)), evidence=raw.get("evidence", ""),
            params=params, param_specs=specs,
        ))
    return Catalogue(version=version, rules=rules, path=source)


def apply_override(cat: Catalogue, data: Any, source: str) -> Catalogue:
    """Return a copy of ``cat`` with a region's overrides applied (validated)."""
    if not isinstance(data, dict):
        raise CatalogueError(f"{source}: 顶层应为映射 (region, rules)")
    unknown = set(data) - {"region", "rules"}
    if unknown:
        raise CatalogueError(f"{source}: 未知的键 {', '.join(sorted(unknown))} (允许: region, rules)")
    region = data.get("region")
    if not isinstance(region, str) or not region.strip():
        raise CatalogueError(f"{source}: 缺少 region (统筹区名称)")
    changes = data.get("rules") or {}
    if not isinstance(changes, dict):
        raise CatalogueError(f"{source}: rules 应为 规则id → 修改 的映射")
    out = copy.deepcopy(cat)
    by_id = {r.id: r for r in out.rules}
    for rule_id, change in changes.items():
        where = f"{source}: rules.{rule_id}"
        if rule_id not in by_id:
            raise CatalogueError(f"{where}: 规则目录中没有此规则")
        if not isinstance(change, dict):
            raise CatalogueError(f"{where}: 应为映射 (enabled, params)")
        bad = set(change) - {"enabled", "params"}
        if bad:
            raise CatalogueError(f"{where}: 只能修改 enabled 与 params, 不能修改 {', '.join(sorted(bad))}")
        rule = by_id[rule_id]
        if "enabled" in change:
            if not isinstance(change["enabled"], bool):
                raise CatalogueError(f"{where}.enabled: 应为 true 或 false")
            rule.enabled = change["enabled"]
        params = change.get("params") or {}
        if not isinstance(params, dict):
            raise CatalogueError(f"{where}.params: 应为映射")
        for name, value in params.items():
            if name not in rule.param_specs:
                raise CatalogueError(f"{where}.params.{name}: 规则没有此参数 (可选: {', '.join(rule.param_specs) or '无'})")
            rule.params[name] = _check_value(f"{where}.params", name, rule.param_specs[name], value)
    digest = hashlib.sha256(yaml.safe_dump(data, allow_unicode=True, sort_keys=True).encode()).hexdigest()[:8]
    out.version = f"{cat.version}+{digest}"
    out.path = f"{cat.path} + {source}"
    return out


def read(path: str | Path | None, override: str | Path | None, known_checks: dict[str, set[str]]) -> Catalogue:
    """The catalogue at ``path`` (default: the packaged one) checked against ``known_checks``
    (family → check names), with an optional region override applied."""
    path = Path(path) if path else DEFAULT_PATH
    cat = parse(read_yaml(path), str(path), known_checks)
    if override:
        cat = apply_override(cat, read_yaml(Path(override)), str(override))
    return cat
