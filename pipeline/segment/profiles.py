"""Per-hospital profiles: the label, title, section and column spellings one hospital prints
that the packaged segmentation data does not know, added by a user in a data file, no code.

One YAML file per hospital, ``<root>/<hospital id>.yaml`` (root: ``--profiles``, else
``$MEDREVIEW_PROFILES``, else the repository's ``profiles/``)::

    version: 1
    name: 某县人民医院              # optional, shown by `medreview profile show`
    labels: {sex: [性 别], admission_no: [住院号码]}     # fields.yaml field → extra labels
    titles: {出院记录: [出院小结单]}                     # document type → extra titles
    sections: {现病史: [病史摘要]}                        # section → extra synonyms
    columns: {bill: {date: [计费日期]}}                   # table → column → extra header names
    banner_labels: [住院号码]                             # extra patient-banner labels

Every key is checked against the packaged data (an unknown field, document type, section, table
or column is an error naming the file and key). The profile only adds spellings; a record of the
hospital is segmented with the packaged data plus its profile. ``digest`` names a profile's
content, so segmentation under another profile can be told apart.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from pipeline.segment.config import Config, SegmentDataError

REPO_ROOT = Path(__file__).resolve().parents[2]
KEYS = {"version", "name", "labels", "titles", "sections", "columns", "banner_labels"}


def root(path: str | Path | None = None) -> Path:
    return Path(path or os.environ.get("MEDREVIEW_PROFILES") or REPO_ROOT / "profiles")


@dataclass(frozen=True)
class Profile:
    hospital: str
    path: Path
    name: str | None
    labels: dict[str, tuple[str, ...]]
    titles: dict[str, tuple[str, ...]]
    sections: dict[str, tuple[str, ...]]
    columns: dict[str, dict[str, tuple[str, ...]]]
    banner_labels: tuple[str, ...]
    digest: str


def _fail(path: Path, where: str, msg: str):
    raise SegmentDataError(f"{path}: {where}: {msg}")


def _names(path: Path, where: str, value) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        _fail(path, where, "must be a list of non-empty strings")
    return tuple(value)


def _mapping(path: Path, where: str, value, known) -> dict[str, tuple[str, ...]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        _fail(path, where, "must be a mapping")
    out = {}
    for k, v in value.items():
        if k not in known:
            _fail(path, f"{where}.{k}", f"unknown; one of {sorted(known)}")
        out[k] = _names(path, f"{where}.{k}", v)
    return out


def parse(path: Path, cfg: Config) -> Profile:
    """A profile file checked against ``cfg`` (the packaged segmentation data)."""
    try:
        raw = path.read_bytes()
        data = yaml.safe_load(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SegmentDataError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(data, dict) or data.get("version") != 1:
        _fail(path, "version", "must be 1 (a mapping with version: 1)")
    if unknown := set(data) - KEYS:
        _fail(path, "top level", f"unknown keys {sorted(unknown)}")
    known_fields = set(cfg.fields.fields) | set(cfg.fields.diagnoses.values())
    columns = {}
    for table, cols in (data.get("columns") or {}).items():
        tdef = cfg.fields.tables.get(table)
        if tdef is None:
            _fail(path, f"columns.{table}", f"unknown table; one of {sorted(cfg.fields.tables)}")
        columns[table] = _mapping(path, f"columns.{table}", cols, {c.name for c in tdef.columns})
    return Profile(
        hospital=path.stem, path=path, name=data.get("name"),
        labels=_mapping(path, "labels", data.get("labels"), known_fields),
        titles=_mapping(path, "titles", data.get("titles"), set(cfg.titles.doc_types)),
        sections=_mapping(path, "sections", data.get("sections"), {d.name for d in cfg.sections.defs}),
        columns=columns,
        banner_labels=_names(path, "banner_labels", data["banner_labels"]) if "banner_labels" in data else (),
        digest=hashlib.sha256(raw).hexdigest()[:12],
    )


def find(hospital_id: str | None, cfg: Config, path: str | Path | None = None) -> Profile | None:
    """The hospital's profile under the profiles root, or None when it has none."""
    if not hospital_id:
        return None
    file = root(path) / f"{hospital_id}.yaml"
    return parse(file, cfg) if file.is_file() else None


def apply(cfg: Config, profile: Profile | None) -> Config:
    """``cfg`` with the profile's spellings added (the packaged ones first)."""
    if profile is None:
        return cfg
    key = (id(cfg), profile.hospital, profile.digest)
    if key not in _APPLIED:
        _APPLIED[key] = _applied(cfg, profile)
    return _APPLIED[key]


_APPLIED: dict[tuple, Config] = {}


def _applied(cfg: Config, profile: Profile) -> Config:
    f = cfg.fields
    fields = {n: replace(d, labels=d.labels + profile.labels.get(n, ())) for n, d in f.fields.items()}
    diagnoses = dict(f.diagnoses)
    for name, labels in profile.labels.items():
        if name in set(f.diagnoses.values()):
            diagnoses.update({lab: name for lab in labels})
    tables = {}
    for tname, tdef in f.tables.items():
        extra = profile.columns.get(tname, {})
        tables[tname] = replace(tdef, columns=tuple(replace(c, names=c.names + extra.get(c.name, ())) for c in tdef.columns))
    titles = cfg.titles
    doc_types = {n: replace(d, titles=d.titles + profile.titles.get(n, ())) for n, d in titles.doc_types.items()}
    sections = replace(cfg.sections, defs=tuple(replace(d, synonyms=d.synonyms + profile.sections.get(d.name, ()))
                                               for d in cfg.sections.defs))
    return Config(replace(titles, doc_types=doc_types, banner_labels=titles.banner_labels + profile.banner_labels),
                  sections, replace(f, fields=fields, diagnoses=diagnoses, tables=tables))
