"""Text → entities with ConText attributes and codes: the NLP used by the extract stage and rules.

    from pipeline.nlp.pipeline import extract_entities
    extract_entities("否认高血压、糖尿病病史", section="既往史")

The model folder is the registry's promoted NER version (``pipeline.registry``), falling back to
``models/ner`` in the repo (override: $MEDREVIEW_NER_MODEL).
DISEASE mentions are coded against ICD-10, OPERATION mentions against ICD-9-CM-3: the national
clinical tables from the shared data when present, else the small built-in table; any table with
code/name columns can be given.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import spacy

from pipeline.nlp import biluo, components, tokenize  # noqa: F401  (register what spacy.load needs)
from pipeline.nlp.components import EXTRA_KEY
from pipeline.nlp.context import attributes
from pipeline.nlp.normalize import CodeTable, Normalizer, default_table
from pipeline.nlp.ops import use_numpy_blas

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = REPO / "models" / "ner"
CODED = {"DISEASE": "disease", "OPERATION": "procedure"}
# Below this ranker probability a code is more often wrong than right (肝转移 → 转移性眼内炎):
# the entity is stored uncoded rather than with a misleading code.
MIN_CODE_SCORE = 0.1


class ModelMissing(RuntimeError):
    """The NER model folder is absent (run `medreview train ner`)."""


@dataclass
class Entity:
    label: str
    text: str
    start: int
    end: int
    negated: bool = False
    uncertain: bool = False
    historical: bool = False
    family: bool = False
    code: str | None = None
    code_name: str | None = None
    code_score: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def model_dir() -> Path:
    """$MEDREVIEW_NER_MODEL, else the registry's promoted NER version, else models/ner."""
    env = os.environ.get("MEDREVIEW_NER_MODEL")
    if env:
        return Path(env)
    from pipeline.models import registry

    try:
        promoted = registry.current_path("ner")
    except registry.RegistryError:
        promoted = None   # a broken registry must not stop extraction; the shipped model still works
    return promoted if promoted and (promoted / "config.cfg").is_file() else DEFAULT_MODEL


def model_version(path: Path) -> str:
    """name-version-<hash prefix> from the model card's hash file (stable across loads)."""
    meta = json.loads((path / "meta.json").read_text(encoding="utf-8")) if (path / "meta.json").is_file() else {}
    h = path / "model.sha256"
    digest = h.read_text().split()[0][:12] if h.is_file() else "unhashed"
    return f"{meta.get('name', 'ner')}-{meta.get('version', '0')}-{digest}"


class NlpPipeline:
    def __init__(self, path: str | Path | None = None, tables: dict[str, CodeTable] | None = None):
        path = Path(path) if path else model_dir()
        if not (path / "config.cfg").is_file():
            raise ModelMissing(f"{path}: NER model not found; run `medreview train ner`")
        self.nlp = spacy.load(path)
        use_numpy_blas(self.nlp)
        self.version = model_version(path)
        self._tables = tables or {}
        self._normalizers: dict[str, Normalizer] = {}
        self._cache: dict[tuple[str, str], object] = {}

    def normalizer(self, kind: str) -> Normalizer:
        if kind not in self._normalizers:
            table = self._tables.get(kind) or default_table(kind)
            self._normalizers[kind] = Normalizer(table)
        return self._normalizers[kind]

    def _code(self, label: str, text: str):
        kind = CODED.get(label)
        if not kind:
            return None
        key = (kind, text)
        if key not in self._cache:  # mentions repeat a lot across a record
            self._cache[key] = self.normalizer(kind).normalize(text)
        return self._cache[key]

    def _entities(self, doc, section: str | None, normalize: bool) -> list[Entity]:
        spans = sorted(list(doc.ents) + list(doc.spans.get(EXTRA_KEY, [])), key=lambda e: (e.start_char, e.end_char))
        ents = [Entity(e.label_, e.text, e.start_char, e.end_char) for e in spans]
        attrs = attributes(doc.text, [(e.start, e.end) for e in ents], section)
        for e, a in zip(ents, attrs):
            e.negated, e.uncertain, e.historical, e.family = a["negated"], a["uncertain"], a["historical"], a["family"]
            m = self._code(e.label, e.text) if normalize else None
            if m is not None and m.score >= MIN_CODE_SCORE:
                e.code, e.code_name, e.code_score = m.code, m.name, m.score
        return ents

    def extract(self, text: str, section: str | None = None, normalize: bool = True) -> list[Entity]:
        return self._entities(self.nlp(text), section, normalize)

    def extract_many(self, items: list[tuple[str, str | None]], normalize: bool = True) -> list[list[Entity]]:
        """(text, section) pairs → entities per text, batched through spaCy."""
        docs = self.nlp.pipe([t for t, _ in items], batch_size=32)
        return [self._entities(doc, sec, normalize) for doc, (_, sec) in zip(docs, items)]


@lru_cache(maxsize=2)
def get_pipeline(path: str | None = None) -> NlpPipeline:
    return NlpPipeline(path)


def extract_entities(text: str, section: str | None = None, normalize: bool = True) -> list[Entity]:
    """Entities of a raw string with attributes and codes (default model and tables)."""
    return get_pipeline(str(model_dir())).extract(text, section, normalize)   # a promotion takes effect


def sha256_dir(path: Path, skip: tuple[str, ...] = ("model.sha256", "README.md", "train_info.json", "version.json",
                                                   "CURRENT", "promotions.jsonl")) -> str:
    """One hash over every file of the model folder (sorted relative paths + contents), leaving
    out the card and the registry's files (a model registered in place has them beside it)."""
    h = hashlib.sha256()
    for f in sorted(p for p in Path(path).rglob("*") if p.is_file() and p.name not in skip):
        h.update(str(f.relative_to(path)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()
