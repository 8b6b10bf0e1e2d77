"""Export reviewers' entity corrections as NER training data: JSONL plus a spaCy DocBin.

One row per section a reviewer corrected (at least one event in ``entity_corrections``): the
section text and its corrected entities, in the NER JSONL schema of ../shared/data/README.md
(labels are project labels, which ``pipeline.nlp.corpora.read_ner_jsonl`` accepts as they are).
Versions are content-addressed and merged across batches like the flag decisions
(``export.py``): ``<version>.jsonl`` and ``<version>.spacy`` share the JSONL's hash.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from pipeline import store
from pipeline.review import entities as entity_review
from pipeline.annotations.export import merge_version
from pipeline.annotations.load import AnnotationError, read_manifest
from pipeline.report import mask as masking

log = logging.getLogger("medreview.annotations")

SCHEMA = "medreview/entity-correction@1"
KIND = "entity_corrections"
# DocBin span group of the row's ``nested`` entities (doc.ents cannot overlap)
NESTED_KEY = "nested"


def _key(record_sha256: str, section_seq: int, text: str) -> str:
    # The text's hash is part of the identity: a re-segmented section is a different document.
    raw = "|".join([record_sha256, str(section_seq), hashlib.sha256(text.encode("utf-8")).hexdigest()])
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _non_overlapping(ents: list[dict]) -> tuple[list[dict], list[dict]]:
    """(entities, nested). NER data has no overlapping spans: a reviewer's span wins over the
    model's, then the longer one. A loser wholly inside a winner is not dropped but returned apart:
    the pipeline keeps such pairs (a SYMPTOM 胸痛 over an ANATOMY 胸, an EXAM 腰椎CT over an IMAGING
    腰椎CT; pipeline/nlp/components.py) and each NER head learns those its corpus labels
    (pipeline/nlp/retrain.py). Partial overlaps are dropped."""
    kept: list[dict] = []
    nested: list[dict] = []
    for e in sorted(ents, key=lambda e: (e["source"] != "reviewer", e["start"] - e["end"], e["start"], e["label"])):
        if all(e["end"] <= k["start"] or k["end"] <= e["start"] for k in kept):
            kept.append(e)
        elif any(k["start"] <= e["start"] and e["end"] <= k["end"] for k in kept):
            nested.append(e)
    return sorted(kept, key=lambda e: e["start"]), sorted(nested, key=lambda e: (e["start"], e["end"]))


def _entity(e: dict, text: str) -> dict:
    return {"start": e["start"], "end": e["end"], "label": e["label"], "mention": text[e["start"]:e["end"]],
            "source": e["source"], **{a: e[a] for a in entity_review.ATTRIBUTES}}


def correction_rows(db, *, mask: bool = True) -> list[dict]:
    """One row per corrected section, sorted by key (masked text keeps the offsets: masking
    replaces characters one for one)."""
    patient: dict[int, dict] = {}
    for rid, name, value in db.execute(
            "SELECT record_id, name, value FROM fields WHERE name IN ('patient_name', 'id_number')"):
        patient.setdefault(rid, {}).setdefault(name, []).append(value or "")
    rows = []
    for sec in entity_review.corrected_sections(db):
        text = sec["text"]
        if mask:
            who = patient.get(sec["record_id"], {})
            masked = masking.mask_text(text, who.get("patient_name", []), who.get("id_number", []))
            if len(masked) != len(text):
                # Offsets would no longer fit; leaving the section out is safer than leaking it.
                log.warning("section %s: masking changed the text length; not exported", sec["id"])
                continue
            text = masked
        flat, nested = _non_overlapping(sec["entities"])
        rows.append({
            "schema": SCHEMA,
            "key": _key(sec["record_sha256"], sec["seq"], sec["text"]),
            "id": f"{sec['record_sha256'][:16]}:{sec['seq']}",
            "record_sha256": sec["record_sha256"],
            "hospital_id": sec["hospital_id"],
            "record_id": sec["record_id"],
            "section_id": sec["id"],
            "section_seq": sec["seq"],
            "section_name": sec["name"],
            "text": text,
            "entities": [_entity(e, text) for e in flat],
            "nested": [_entity(e, text) for e in nested],
            "corrected_by": sec["users"],
            "corrected_at": sec["last_at"],
            "n_events": sec["n_events"],
        })
    rows.sort(key=lambda r: r["key"])
    return rows


def to_docbin(rows: list[dict]):
    """Char-token docs made by the tokenizer `medreview train ner` uses, entities as doc.ents and
    the nested ones in ``doc.spans[NESTED_KEY]``; the row key and entity attributes travel in user_data."""
    from spacy.tokens import DocBin

    from pipeline.nlp.build import blank_nlp   # spaCy loads only when there is something to write

    nlp = blank_nlp(None)
    db = DocBin(store_user_data=True)
    for r in rows:
        doc = nlp.make_doc(r["text"])
        doc.ents = _spans(doc, r, r["entities"])
        doc.spans[NESTED_KEY] = _spans(doc, r, r.get("nested", []))
        doc.user_data["medreview"] = {"key": r["key"], "id": r["id"],
                                      "attributes": [{k: e[k] for k in entity_review.ATTRIBUTES} for e in r["entities"]]}
        db.add(doc)
    return db


def _spans(doc, row: dict, ents: list[dict]) -> list:
    spans = [doc.char_span(e["start"], e["end"], label=e["label"]) for e in ents]
    if any(s is None for s in spans):
        raise AnnotationError(f"{row['id']}: 实体边界与字符切分不一致")
    return spans


def load_corrections(path: Path, *, verify: bool = True) -> list[dict]:
    """Rows of an ``entity_corrections/`` folder's latest version or of one version file."""
    path = Path(path)
    if path.is_dir() and (path / KIND).is_dir():
        path = path / KIND
    if path.is_dir():
        latest = read_manifest(path).get("latest")
        if not latest:
            raise AnnotationError(f"{path}: 没有已导出的版本 (no exported version)")
        path = path / f"{latest}.jsonl"
    if not path.exists():
        raise AnnotationError(f"{path}: 文件不存在")
    data = path.read_bytes()
    if verify and hashlib.sha256(data).hexdigest()[:len(path.stem)] != path.stem:
        raise AnnotationError(f"{path}: 内容与版本哈希不符，文件被修改过 (content does not match its hash)")
    rows = []
    for n, line in enumerate(data.decode("utf-8").splitlines(), 1):
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise AnnotationError(f"{path}:{n}: 不是有效的 JSON ({exc.msg})") from exc
        if not isinstance(row, dict) or row.get("schema") != SCHEMA:
            raise AnnotationError(f"{path}:{n}: schema 应为 {SCHEMA}")
        for e in row.get("entities", []) + row.get("nested", []):
            if row["text"][e["start"]:e["end"]] != e["mention"]:
                raise AnnotationError(f"{path}:{n}: 实体 {e['start']}-{e['end']} 与 mention 不符")
        rows.append(row)
    return rows


def export_entity_corrections(db, out_dir: Path = Path("annotations"), *, mask: bool = True) -> dict:
    """Write a new version of ``<out_dir>/entity_corrections/`` when the corrections changed.

    Returns {version, path, docbin, rows, new (bool), added, removed, changed, parent}."""
    kind_dir = Path(out_dir) / KIND
    manifest = read_manifest(kind_dir)
    parent = manifest.get("latest")
    previous = {r["key"]: r for r in load_corrections(kind_dir)} if parent else {}
    m = merge_version(db, correction_rows(db, mask=mask), previous)
    rows, data, digest, version = m["rows"], m["data"], m["sha256"], m["version"]
    added, removed, changed = m["added"], m["removed"], m["changed"]
    path = kind_dir / f"{version}.jsonl"
    result = {"version": version, "path": path, "docbin": kind_dir / f"{version}.spacy", "rows": len(rows),
              "parent": parent, "added": added, "removed": removed, "changed": changed,
              "new": version != parent and bool(rows or parent)}
    if not result["new"]:   # nothing new: no file, no version
        return result
    kind_dir.mkdir(parents=True, exist_ok=True)
    to_docbin(rows).to_disk(result["docbin"])
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    manifest = {**manifest, "kind": KIND}
    manifest.setdefault("versions", []).append({
        "version": version, "sha256": digest, "rows": len(rows), "parent": parent,
        "entities": sum(len(r["entities"]) for r in rows), "added": added, "removed": removed,
        "changed": changed, "masked": mask, "created_at": store.now(), "schema": SCHEMA,
    })
    manifest["latest"] = version
    mtmp = kind_dir / "manifest.json.tmp"
    mtmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    mtmp.replace(kind_dir / "manifest.json")
    return result
