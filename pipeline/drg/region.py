"""A region's DRG payment parameters (统筹区): the scheme it groups with, the weight (相对权重) of
each DRG and the rate (费率, 元 per weight unit), with where they come from. The packaged
``regions/example.yaml`` is an EXAMPLE with made-up values, marked as such; a region supplies its
own file with the same keys (``medreview drg group --region FILE``, rule parameter ``region``).

Schema:
    region: str                 name shown in reports
    example: bool               true: not a real region's parameters (reports say so)
    version: str
    scheme: str                 scheme name (pipeline/drg/schemes/<name>) or folder
    rate: {value: number > 0, unit: 元/权重, source: str}
    weights_source: str
    weights: {DRG code: number > 0}   every code must be a DRG of the scheme
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.drg import scheme as scheme_mod

REGIONS_DIR = Path(__file__).parent / "regions"
DEFAULT = "example"


class RegionError(Exception):
    """A region file that is missing or outside the schema; the message names the file and key."""


@dataclass(frozen=True)
class Region:
    name: str
    example: bool
    version: str
    scheme: str
    rate: float
    rate_source: str
    weights_source: str
    weights: dict
    path: str
    digest: str

    def weight(self, drg: str | None) -> float | None:
        return self.weights.get(drg) if drg else None

    def amount(self, coded: str | None, supported: str | None) -> float | None:
        """(weight of the coded group − weight of the supported group) × rate, in 元; None when
        either weight is unknown."""
        a, b = self.weight(coded), self.weight(supported)
        if a is None or b is None:
            return None
        return round((a - b) * self.rate, 2)

    def describe(self) -> dict:
        return {"region": self.name, "example": self.example, "version": self.version, "scheme": self.scheme,
                "rate": self.rate, "rate_source": self.rate_source, "weights_source": self.weights_source,
                "digest": self.digest}


def path_of(name_or_path: str | Path | None) -> Path:
    name = str(name_or_path or DEFAULT)
    p = Path(name)
    if p.is_file():
        return p
    packaged = REGIONS_DIR / f"{name}.yaml"
    if packaged.is_file():
        return packaged
    raise RegionError(f"地区参数文件 {name!r} 不存在 (内置: {', '.join(sorted(x.stem for x in REGIONS_DIR.glob('*.yaml')))})")


def _number(v, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
        raise RegionError(f"{where}: 应为正数, 得到 {v!r}")
    return float(v)


@functools.lru_cache(maxsize=8)
def _load(path: str) -> Region:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RegionError(f"{path}: 无法读取 ({exc})") from None
    if not isinstance(data, dict):
        raise RegionError(f"{path}: 顶层应为映射")
    for key in ("region", "example", "version", "scheme", "rate", "weights_source", "weights"):
        if key not in data:
            raise RegionError(f"{path}: 缺少 {key}")
    if not isinstance(data["example"], bool):
        raise RegionError(f"{path}: example 应为 true 或 false")
    rate = data["rate"]
    if not isinstance(rate, dict) or "value" not in rate or not rate.get("source"):
        raise RegionError(f"{path}: rate 应为 {{value, unit, source}}")
    try:
        sch = scheme_mod.load(data["scheme"])
    except scheme_mod.SchemeError as exc:
        raise RegionError(f"{path}: scheme: {exc}") from None
    weights = data["weights"]
    if not isinstance(weights, dict) or not weights:
        raise RegionError(f"{path}: weights 应为 {{DRG编码: 权重}}")
    known = sch.drg_names
    out = {}
    for drg, w in weights.items():
        if str(drg) not in known:
            raise RegionError(f"{path}: weights.{drg}: 不是 {sch.name} 的 DRG 编码")
        out[str(drg)] = _number(w, f"{path}: weights.{drg}")
    digest = hashlib.sha256(json.dumps(data, ensure_ascii=False, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return Region(str(data["region"]), data["example"], str(data["version"]), sch.name,
                  _number(rate["value"], f"{path}: rate.value"), str(rate["source"]), str(data["weights_source"]),
                  out, path, digest)


def load(name_or_path: str | Path | None = None) -> Region:
    """The region by packaged name (default the example) or file path; cached per file."""
    return _load(str(path_of(name_or_path).resolve()))
