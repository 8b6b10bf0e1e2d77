"""A DRG grouping scheme as data: ``grouping.json`` (the decision procedure) and the tables it
names, loaded by name from a folder, validated against the closed vocabulary of the schema
(``pipeline/drg/README.md``) and indexed once: code lists become sets, tables dicts keyed by
code. A region's scheme, or CHS-DRG 2.0, is another folder with the same files."""
from __future__ import annotations

import copy
import csv
import functools
import gzip
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

SCHEMES_DIR = Path(__file__).parent / "schemes"
DEFAULT = "chs-drg-1.1"
ENV = "MEDREVIEW_DRG_SCHEMES"   # a folder of further scheme folders, searched before the packaged ones

# Condition keys (README "Conditions") and the shape of their value.
CONDITION_KINDS = {
    "always": bool, "all": list, "any": list, "not": dict,
    "main_diagnosis_in": list, "any_diagnosis_in": list, "main_procedure_in": list, "any_procedure_in": list,
    "main_procedure_in_table": str, "any_procedure_in_table": str,
    "sex": int, "age_years_eq": int, "age_days_max": int, "weight_g": list,
    "procedure_groups": dict, "distinct_regions_min": dict,
}
DRG_CONDITIONS = ("always", "mcc", "mcc_or_cc")
VALIDATION_CHECKS = ("sex_present", "sex_valid", "age_present", "parse_error", "age_day_required_if_age_0",
                     "weight_required_if_age_days_max", "diagnoses_present")
TABLE_ROLES = ("mcc", "cc", "cce", "drg_names", "diagnoses", "procedures")   # tables the engine itself reads


class SchemeError(Exception):
    """A scheme folder that is missing, unreadable or outside the schema; the message names the
    file and the place."""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    @functools.cached_property
    def codes(self) -> frozenset[str]:
        return frozenset(r[0] for r in self.rows)

    def column(self, col: str) -> dict[str, str]:
        """First column → ``col`` (the first row wins for a repeated code)."""
        i = self.columns.index(col)
        out: dict[str, str] = {}
        for r in self.rows:
            out.setdefault(r[0], r[i])
        return out


@dataclass(eq=False)   # compared and hashed by identity: one loaded scheme, many caches
class Scheme:
    name: str
    title: str
    version: str
    grouping: dict
    tables: dict[str, Table]
    meta: dict = field(default_factory=dict)
    folder: Path | None = None

    # The engine's indexes (built once per scheme).
    @functools.cached_property
    def mcc(self) -> dict[str, str]:
        return self.tables["mcc"].column("exclusion_table")

    @functools.cached_property
    def cc(self) -> dict[str, str]:
        return self.tables["cc"].column("exclusion_table")

    @functools.cached_property
    def cce(self) -> dict[str, str]:
        return self.tables["cce"].column("exclusion_table")

    @functools.cached_property
    def drg_names(self) -> dict[str, str]:
        return self.tables["drg_names"].column("name")

    @functools.cached_property
    def diagnosis_names(self) -> dict[str, str]:
        return self.tables["diagnoses"].column("name")

    @functools.cached_property
    def procedure_names(self) -> dict[str, str]:
        return self.tables["procedures"].column("name")

    def code_set(self, table: str) -> frozenset[str]:
        return self.tables[table].codes

    def mapping(self, table: str) -> dict[str, str]:
        t = self.tables[table]
        return t.column(t.columns[1])

    @functools.cached_property
    def adrgs(self) -> dict[str, dict]:
        """ADRG code → its entry (condition, drgs), with ``mdc`` added."""
        return {a["adrg"]: {**a, "mdc": m["mdc"]} for m in self.grouping["mdcs"] for a in m["adrgs"]}

    @functools.cached_property
    def drg_adrg(self) -> dict[str, str]:
        return {d["drg"]: a["adrg"] for m in self.grouping["mdcs"] for a in m["adrgs"] for d in a["drgs"]}

    @functools.cached_property
    def main_diagnosis_mdcs(self) -> dict[str, list[str]]:
        """Main-diagnosis code → the MDCs whose entry condition lists it (what a code may be the
        main diagnosis of)."""
        out: dict[str, list[str]] = {}
        for m in self.grouping["mdcs"]:
            for code in _main_list(m["entry_condition"]):
                out.setdefault(code, []).append(m["mdc"])
        return out

    def derived(self, grouping: dict | None = None, tables: dict[str, Table] | None = None, suffix: str = "mutated") -> Scheme:
        """A copy with some data replaced (benchmarks break a table row to show a comparison fails)."""
        g = grouping if grouping is not None else copy.deepcopy(self.grouping)
        t = dict(self.tables, **(tables or {}))
        validate(g, t, where=f"{self.name}+{suffix}")
        return Scheme(self.name, self.title, f"{self.version}+{suffix}", g, t, self.meta, self.folder)


def _main_list(cond: dict) -> list[str]:
    if "main_diagnosis_in" in cond:
        return cond["main_diagnosis_in"]
    for c in cond.get("all", ()):
        if "main_diagnosis_in" in c:
            return c["main_diagnosis_in"]
    return []


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SchemeError(f"{path}: 无法读取 ({exc.strerror or exc})") from None
    return gzip.decompress(data) if path.suffix == ".gz" else data


def read_table(path: Path, name: str) -> Table:
    text = _read_bytes(path).decode("utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise SchemeError(f"{path}: 空表 (no header)")
    columns = tuple(lines[0].split("\t"))
    rows = []
    for i, ln in enumerate(lines[1:], 2):
        cells = tuple(ln.split("\t"))
        if len(cells) != len(columns):
            raise SchemeError(f"{path}:{i}: {len(cells)} 列，表头 {len(columns)} 列")
        rows.append(cells)
    return Table(name, columns, tuple(rows))


def _check_condition(c, where: str, tables: dict[str, Table]) -> None:
    if not isinstance(c, dict) or len(c) != 1:
        raise SchemeError(f"{where}: 条件应为只含一个键的对象: {str(c)[:80]}")
    kind, v = next(iter(c.items()))
    if kind not in CONDITION_KINDS:
        raise SchemeError(f"{where}: 未知条件 {kind!r} (可选: {', '.join(CONDITION_KINDS)})")
    if not isinstance(v, CONDITION_KINDS[kind]) or (CONDITION_KINDS[kind] is int and isinstance(v, bool)):
        raise SchemeError(f"{where}.{kind}: 取值类型应为 {CONDITION_KINDS[kind].__name__}")
    if kind in ("all", "any"):
        for i, x in enumerate(v):
            _check_condition(x, f"{where}.{kind}[{i}]", tables)
    elif kind == "not":
        _check_condition(v, f"{where}.not", tables)
    elif kind.endswith("_in") and not all(isinstance(x, str) for x in v):
        raise SchemeError(f"{where}.{kind}: 编码应为字符串")
    elif kind.endswith("_in_table") and v not in tables:
        raise SchemeError(f"{where}.{kind}: 未知的表 {v!r}")
    elif kind == "weight_g" and (len(v) != 2 or not all(x is None or isinstance(x, int) for x in v)):
        raise SchemeError(f"{where}.weight_g: 应为 [min 或 null, max 或 null]")
    elif kind == "procedure_groups" and not (isinstance(v.get("groups"), dict) and isinstance(v.get("require"), list)
                                             and all(isinstance(r, list) for r in v["require"])):
        raise SchemeError(f"{where}.procedure_groups: 应为 {{groups: {{编码: 组号}}, require: [[组号...]...]}}")
    elif kind == "distinct_regions_min" and not (isinstance(v.get("min"), int) and isinstance(v.get("regions"), dict)):
        raise SchemeError(f"{where}.distinct_regions_min: 应为 {{min: 整数, regions: {{编码: 部位}}}}")


def validate(g: dict, tables: dict[str, Table], where: str) -> None:
    """Raise SchemeError unless ``g`` and ``tables`` follow the schema."""
    for key in ("tables", "validation", "drg_conditions", "mdc_order", "on_no_adrg_in_mdc", "no_mdc_result", "mdcs", "results"):
        if key not in g:
            raise SchemeError(f"{where}: grouping.json 缺少 {key}")
    for role in TABLE_ROLES:
        if role not in tables:
            raise SchemeError(f"{where}: 缺少表 {role}")
    for role, col in (("mcc", "exclusion_table"), ("cc", "exclusion_table"), ("cce", "exclusion_table"),
                      ("drg_names", "name"), ("diagnoses", "name"), ("procedures", "name")):
        if col not in tables[role].columns:
            raise SchemeError(f"{where}: 表 {role} 缺少列 {col}")
    if g["on_no_adrg_in_mdc"] != "continue_with_next_mdc":
        raise SchemeError(f"{where}: on_no_adrg_in_mdc 只支持 continue_with_next_mdc")
    if unknown := set(g["drg_conditions"]) - set(DRG_CONDITIONS):
        raise SchemeError(f"{where}: 未知的 DRG 条件 {sorted(unknown)}")
    for i, v in enumerate(g["validation"]):
        if v.get("check") not in VALIDATION_CHECKS or "status" not in v or "message" not in v:
            raise SchemeError(f"{where}: validation[{i}] 应为 {{check: {'|'.join(VALIDATION_CHECKS)}, status, message}}")
    cm = g.get("code_mapping") or {}
    if cm.get("enabled"):
        for k in ("diagnosis_table", "procedure_table"):
            if cm.get(k) not in tables:
                raise SchemeError(f"{where}: code_mapping.{k} 未知的表 {cm.get(k)!r}")
    if [m.get("mdc") for m in g["mdcs"]] != g["mdc_order"]:
        raise SchemeError(f"{where}: mdcs 与 mdc_order 顺序不一致")
    names = tables["drg_names"].codes
    for m in g["mdcs"]:
        mw = f"{where}: {m['mdc']}"
        _check_condition(m.get("entry_condition"), f"{mw}.entry_condition", tables)
        adrgs = {a.get("adrg"): a for a in m.get("adrgs", [])}
        for s in m.get("steps", []):
            if "adrg" in s:
                if s["adrg"] not in adrgs:
                    raise SchemeError(f"{mw}.steps: 未定义的 ADRG {s['adrg']}")
            elif "ambiguity_check" in s:
                a = s["ambiguity_check"]
                _check_condition(a.get("condition"), f"{mw}.ambiguity_check", tables)
                if not isinstance(a.get("enabled"), bool) or not a.get("result_drg"):
                    raise SchemeError(f"{mw}.ambiguity_check: 需要 enabled 与 result_drg")
            else:
                raise SchemeError(f"{mw}.steps: 步骤应为 adrg 或 ambiguity_check")
        for code, a in adrgs.items():
            _check_condition(a.get("condition"), f"{mw}.{code}.condition", tables)
            if not a.get("drgs"):
                raise SchemeError(f"{mw}.{code}: 没有 DRG")
            for d in a["drgs"]:
                if d.get("condition") not in g["drg_conditions"]:
                    raise SchemeError(f"{mw}.{code}.{d.get('drg')}: 未知的 DRG 条件 {d.get('condition')!r}")
                if d.get("drg") not in names:
                    raise SchemeError(f"{mw}.{code}.{d.get('drg')}: DRG 名称表中没有此编码")


def _verify(folder: Path, meta: dict) -> None:
    for fname, digest in (meta.get("files") or {}).items():
        path = folder / fname
        try:
            got = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise SchemeError(f"{path}: 无法读取 ({exc.strerror or exc})") from None
        if got != digest:
            raise SchemeError(f"{path}: 内容与 scheme.json 记录的哈希不符 (文件被改动)")


def folder_of(name_or_path: str | Path | None) -> Path:
    """Where a scheme lives: a folder path, else a name under $MEDREVIEW_DRG_SCHEMES, else a
    packaged scheme."""
    name = str(name_or_path or DEFAULT)
    p = Path(name)
    if p.is_dir():
        return p
    for base in ([Path(os.environ[ENV])] if os.environ.get(ENV) else []) + [SCHEMES_DIR]:
        if (base / name / "scheme.json").is_file():
            return base / name
    raise SchemeError(f"分组方案 {name!r} 不存在 (可选: {', '.join(available()) or '无'})")


def available() -> list[str]:
    bases = ([Path(os.environ[ENV])] if os.environ.get(ENV) else []) + [SCHEMES_DIR]
    return sorted({p.parent.name for b in bases if b.is_dir() for p in b.glob("*/scheme.json")})


@functools.lru_cache(maxsize=4)
def _load(folder: str) -> Scheme:
    base = Path(folder)
    try:
        meta = json.loads((base / "scheme.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SchemeError(f"{base / 'scheme.json'}: 无法读取 ({exc})") from None
    _verify(base, meta)
    try:
        g = json.loads(_read_bytes(base / meta.get("grouping", "grouping.json.gz")))
    except ValueError as exc:
        raise SchemeError(f"{base}: grouping.json 不是合法 JSON ({exc})") from None
    tables = {name: read_table(base / fname, name) for name, fname in (g.get("tables") or {}).items()}
    validate(g, tables, where=str(base))
    return Scheme(meta.get("name", base.name), meta.get("title", base.name), meta.get("version", ""), g, tables, meta, base)


def load(name_or_path: str | Path | None = None) -> Scheme:
    """The scheme by name (default CHS-DRG 1.1) or folder; cached per folder."""
    return _load(str(folder_of(name_or_path).resolve()))


def sample_cases(scheme: Scheme) -> list[dict]:
    """The reference cases shipped with a scheme (``sample_cases.csv[.gz]``), as CSV rows."""
    for fname in ("sample_cases.csv.gz", "sample_cases.csv"):
        path = (scheme.folder or Path()) / fname
        if path.is_file():
            return list(csv.DictReader(io.StringIO(_read_bytes(path).decode("utf-8"))))
    return []
