"""The segmentation data files (titles, section headers, field labels) with schema checks.

Each file is validated at load; a problem raises ``SegmentDataError`` naming the file and key,
so a hospital template edited by hand fails loudly instead of segmenting silently wrong.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

DATA_DIR = Path(__file__).parent / "data"
KINDS = {"text", "date", "datetime", "time", "number", "code", "flag", "range", "unit", "any"}
FIELD_TYPES = {"text", "int", "sex", "date", "datetime", "money", "days", "code"}


class SegmentDataError(ValueError):
    """A segmentation data file does not follow its schema."""


def _fail(path: Path, where: str, msg: str):
    raise SegmentDataError(f"{path.name}: {where}: {msg}")


def _load(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SegmentDataError(f"{path.name}: cannot read: {exc}") from exc
    if not isinstance(data, dict):
        _fail(path, "top level", "must be a mapping")
    if data.get("version") != 1:
        _fail(path, "version", "must be 1")
    return data


def _strs(path, where, value, *, allow_empty=False) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        _fail(path, where, "must be a list of non-empty strings")
    if not value and not allow_empty:
        _fail(path, where, "must not be empty")
    return value


def _regex(path, where, value) -> re.Pattern:
    try:
        return re.compile(value)
    except (re.error, TypeError) as exc:
        _fail(path, where, f"bad regular expression: {exc}")


@dataclass(frozen=True)
class DocType:
    name: str
    titles: tuple[str, ...]
    cues: tuple[str, ...]
    min_cues: int
    progress: bool
    sections: bool


@dataclass(frozen=True)
class Titles:
    top_lines: int
    max_extra_chars: int
    furniture: tuple[re.Pattern, ...]
    at_labels: tuple[str, ...]
    doc_types: dict[str, DocType]
    banner_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class SectionDef:
    name: str
    synonyms: tuple[str, ...]
    doc_types: tuple[str, ...] | None


@dataclass(frozen=True)
class Sections:
    preamble: str
    body: str
    other: str
    defs: tuple[SectionDef, ...]
    stop_lines: tuple[re.Pattern, ...]


@dataclass(frozen=True)
class FieldDef:
    name: str
    labels: tuple[str, ...]
    type: str
    doc_types: tuple[str, ...]
    vocab: tuple[str, ...] = ()
    each: bool = False  # keep every 'label：value' in doc_types (seq 0..), not just the best one
    one_word: bool = False  # the value ends at its first space (names, departments: forms without colons)


@dataclass(frozen=True)
class VitalDef:
    name: str
    labels: tuple[str, ...]
    value: str
    unit: str


@dataclass(frozen=True)
class Column:
    name: str
    names: tuple[str, ...]
    kind: str
    pattern: re.Pattern | None = None  # a value of this column matches it in full


@dataclass(frozen=True)
class TableDef:
    name: str
    doc_types: tuple[str, ...]
    min_header: int
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class Fields:
    fields: dict[str, FieldDef]
    diagnoses: dict[str, str]
    icd10: re.Pattern
    icd9: re.Pattern
    icd10_ocr_letters: dict[str, str]
    vitals: dict[str, VitalDef]
    routes: tuple[str, ...]
    frequencies: tuple[str, ...]
    tables: dict[str, TableDef]


def _letters(path: Path, d) -> dict[str, str]:
    if not isinstance(d, dict) or not all(
            re.fullmatch(r"\d", str(k)) and re.fullmatch(r"[A-Z]", str(v)) for k, v in d.items()):
        _fail(path, "codes.icd10_ocr_letters", "must map single digits to capital letters")
    return {str(k): str(v) for k, v in d.items()}


def load_titles(path: Path | None = None) -> Titles:
    path = Path(path or DATA_DIR / "doc_titles.yaml")
    d = _load(path)
    types = d.get("doc_types")
    if not isinstance(types, dict) or not types:
        _fail(path, "doc_types", "must be a non-empty mapping")
    out = {}
    for name, spec in types.items():
        where = f"doc_types.{name}"
        if not isinstance(spec, dict):
            _fail(path, where, "must be a mapping")
        unknown = set(spec) - {"titles", "cues", "min_cues", "progress", "sections"}
        if unknown:
            _fail(path, where, f"unknown keys {sorted(unknown)}")
        min_cues = spec.get("min_cues", 3)
        if not isinstance(min_cues, int) or min_cues < 1:
            _fail(path, f"{where}.min_cues", "must be a positive integer")
        out[name] = DocType(
            name=name,
            titles=tuple(_strs(path, f"{where}.titles", spec.get("titles"))),
            cues=tuple(_strs(path, f"{where}.cues", spec.get("cues", []), allow_empty=True)),
            min_cues=min_cues,
            progress=bool(spec.get("progress", False)),
            sections=bool(spec.get("sections", True)),
        )
    for key in ("top_lines", "max_extra_chars"):
        if not isinstance(d.get(key), int) or d[key] < 0:
            _fail(path, key, "must be a non-negative integer")
    furniture = tuple(_regex(path, f"furniture[{i}]", r)
                      for i, r in enumerate(_strs(path, "furniture", d.get("furniture", []), allow_empty=True)))
    at_labels = tuple(_strs(path, "at_labels", d.get("at_labels", []), allow_empty=True))
    banner = tuple(_strs(path, "banner_labels", d.get("banner_labels", []), allow_empty=True))
    return Titles(d["top_lines"], d["max_extra_chars"], furniture, at_labels, out, banner)


def load_sections(path: Path | None = None, doc_types: set[str] | None = None) -> Sections:
    path = Path(path or DATA_DIR / "sections.yaml")
    d = _load(path)
    secs = d.get("sections")
    if not isinstance(secs, dict) or not secs:
        _fail(path, "sections", "must be a non-empty mapping")
    defs = []
    for name, spec in secs.items():
        where = f"sections.{name}"
        if not isinstance(spec, dict):
            _fail(path, where, "must be a mapping")
        unknown = set(spec) - {"synonyms", "doc_types"}
        if unknown:
            _fail(path, where, f"unknown keys {sorted(unknown)}")
        only = spec.get("doc_types")
        if only is not None:
            only = tuple(_strs(path, f"{where}.doc_types", only))
            if doc_types is not None and set(only) - doc_types:
                _fail(path, f"{where}.doc_types", f"unknown document types {sorted(set(only) - doc_types)}")
        defs.append(SectionDef(name, tuple(_strs(path, f"{where}.synonyms", spec.get("synonyms"))), only))
    for key in ("preamble", "body", "other"):
        if not isinstance(d.get(key), str) or not d[key]:
            _fail(path, key, "must be a non-empty string")
    stops = tuple(_regex(path, f"stop_lines[{i}]", r)
                  for i, r in enumerate(_strs(path, "stop_lines", d.get("stop_lines", []), allow_empty=True)))
    return Sections(d["preamble"], d["body"], d["other"], tuple(defs), stops)


def load_fields(path: Path | None = None, doc_types: set[str] | None = None) -> Fields:
    path = Path(path or DATA_DIR / "fields.yaml")
    d = _load(path)
    known_docs = (doc_types or set()) | {"*"}

    def check_docs(where, value):
        docs = tuple(_strs(path, where, value))
        if doc_types is not None and set(docs) - known_docs:
            _fail(path, where, f"unknown document types {sorted(set(docs) - known_docs)}")
        return docs

    fields = {}
    for name, spec in (d.get("fields") or {}).items():
        where = f"fields.{name}"
        if not isinstance(spec, dict):
            _fail(path, where, "must be a mapping")
        if spec.get("type") not in FIELD_TYPES:
            _fail(path, f"{where}.type", f"must be one of {sorted(FIELD_TYPES)}")
        for flag in ("each", "one_word"):
            if not isinstance(spec.get(flag, False), bool):
                _fail(path, f"{where}.{flag}", "must be true or false")
        fields[name] = FieldDef(name, tuple(_strs(path, f"{where}.labels", spec.get("labels"))),
                                spec["type"], check_docs(f"{where}.doc_types", spec.get("doc_types")),
                                tuple(_strs(path, f"{where}.vocab", spec.get("vocab", []), allow_empty=True)),
                                spec.get("each", False), spec.get("one_word", False))
    if not fields:
        _fail(path, "fields", "must be a non-empty mapping")
    diagnoses = d.get("diagnoses") or {}
    if not isinstance(diagnoses, dict) or not all(isinstance(v, str) for v in diagnoses.values()):
        _fail(path, "diagnoses", "must map labels to field names")
    codes = d.get("codes") or {}
    vitals = {}
    for name, spec in (d.get("vitals") or {}).items():
        where = f"vitals.{name}"
        if not isinstance(spec, dict):
            _fail(path, where, "must be a mapping")
        _regex(path, f"{where}.value", spec.get("value"))
        _regex(path, f"{where}.unit", spec.get("unit", ""))
        vitals[name] = VitalDef(name, tuple(_strs(path, f"{where}.labels", spec.get("labels"))),
                                spec["value"], spec.get("unit", ""))
    tables = {}
    for name, spec in (d.get("tables") or {}).items():
        where = f"tables.{name}"
        if not isinstance(spec, dict) or not isinstance(spec.get("columns"), dict):
            _fail(path, where, "must be a mapping with columns")
        cols = []
        for cname, cspec in spec["columns"].items():
            cw = f"{where}.columns.{cname}"
            if not isinstance(cspec, dict):
                _fail(path, cw, "must be a mapping")
            if cspec.get("kind") not in KINDS:
                _fail(path, f"{cw}.kind", f"must be one of {sorted(KINDS)}")
            pattern = _regex(path, f"{cw}.pattern", cspec["pattern"]) if "pattern" in cspec else None
            cols.append(Column(cname, tuple(_strs(path, f"{cw}.names", cspec.get("names"))), cspec["kind"], pattern))
        mh = spec.get("min_header", 2)
        if not isinstance(mh, int) or mh < 1:
            _fail(path, f"{where}.min_header", "must be a positive integer")
        tables[name] = TableDef(name, check_docs(f"{where}.doc_types", spec.get("doc_types")), mh, tuple(cols))
    for key in ("orders", "labs", "bill"):
        if key not in tables:
            _fail(path, f"tables.{key}", "is required")
    return Fields(
        fields=fields,
        diagnoses=diagnoses,
        icd10=_regex(path, "codes.icd10", codes.get("icd10")),
        icd9=_regex(path, "codes.icd9", codes.get("icd9")),
        icd10_ocr_letters=_letters(path, codes.get("icd10_ocr_letters") or {}),
        vitals=vitals,
        routes=tuple(_strs(path, "routes", d.get("routes", []), allow_empty=True)),
        frequencies=tuple(_strs(path, "frequencies", d.get("frequencies", []), allow_empty=True)),
        tables=tables,
    )


@dataclass(frozen=True)
class Config:
    titles: Titles
    sections: Sections
    fields: Fields


@functools.lru_cache(maxsize=8)
def load(data_dir: str | None = None) -> Config:
    """All three files from ``data_dir`` (default: the package's data), cross-checked."""
    base = Path(data_dir) if data_dir else DATA_DIR
    titles = load_titles(base / "doc_titles.yaml")
    names = set(titles.doc_types) | {"other"}
    return Config(titles, load_sections(base / "sections.yaml", names), load_fields(base / "fields.yaml", names))
