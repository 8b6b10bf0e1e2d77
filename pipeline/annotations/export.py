"""Export the current reviewer decisions on flags to a content-addressed JSONL version.

Each export merges the database's decisions into the latest version (rows keyed by flag
identity, so a flag appears once): rows of records in this database are replaced by what the
database says now (an undone decision drops out), rows of other batches are carried over.
The file is named by the hash of its content, so exporting unchanged decisions writes nothing.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pipeline import review, store
from pipeline.annotations.load import latest_version, load_decisions, read_manifest
from pipeline.annotations.schema import KIND, SCHEMA
from pipeline.report import mask as masking


def _key(record_sha256: str, rule_id: str, flag_key: str, catalogue_version: str | None) -> str:
    raw = "|".join([record_sha256, rule_id, flag_key or "", catalogue_version or ""])
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _loads(text, default):
    try:
        return json.loads(text) if text else default
    except ValueError:
        return default


def decision_rows(db, *, mask: bool = True) -> list[dict]:
    """One row per decided flag (current state confirmed or rejected), sorted by key."""
    flags = list(db.query(
        "SELECT f.*, r.sha256 AS record_sha256, r.hospital_id, r.admission_no FROM flags f"
        " JOIN records r ON r.id = f.record_id ORDER BY f.id"))
    events = review.load_events(db)
    states = review.derive(events, flags)
    patient: dict[int, dict] = {}
    for rid, name, value in db.execute(
            "SELECT record_id, name, value FROM fields WHERE name IN ('patient_name', 'id_number')"):
        patient.setdefault(rid, {}).setdefault(name, []).append(value or "")
    rows = []
    for f in flags:
        st = states[f["id"]]
        if st.state not in ("confirmed", "rejected"):
            continue
        who = patient.get(f["record_id"], {})
        hide = (lambda t: masking.mask_text(t, who.get("patient_name", []), who.get("id_number", []))) if mask else (lambda t: t)
        # derive() lets the last event in force decide; its payload says what the reviewer saw.
        live = review.effective_events(st.events)
        shown = live[-1]["payload"].get("shown") or {} if live else {}
        rows.append({
            "schema": SCHEMA,
            "key": _key(f["record_sha256"], f["rule_id"], f["key"], f["catalogue_version"]),
            "record_sha256": f["record_sha256"],
            "hospital_id": f["hospital_id"],
            "admission_no": f["admission_no"],
            "record_id": f["record_id"],
            "flag_id": f["id"],
            "rule_id": f["rule_id"],
            "rule_id_final": st.rule_id or f["rule_id"],
            "rule_name": f["rule_name"],
            "catalogue_version": f["catalogue_version"],
            "severity": f["severity"],
            "source": f["source"],
            "decision": st.state,
            "reason_code": st.reason_code,
            "note": hide(st.note),
            "amount_flagged": float(f["amount"] or 0),
            "amount_final": float(st.amount if st.amount is not None else (f["amount"] or 0)),
            "decided_by": st.by,
            "decided_at": st.at,
            "reviewers": dict(sorted(st.by_user.items())),
            "flag_model_version": f["model_version"],
            "score_model_version": shown.get("score_model_version"),
            "evidence": [{"page_no": e.get("page_no"), "line_id": e.get("line_id"), "text": hide(e.get("text"))}
                         for e in _loads(f["evidence"], []) if isinstance(e, dict)],
        })
    rows.sort(key=lambda r: r["key"])
    return rows


def _serialize(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows).encode("utf-8")


def merge_version(db, current: list[dict], previous: dict[str, dict]) -> dict:
    """Merge this database's rows over the latest version's (rows of other batches are carried
    over, this batch's are replaced) and name the result by its content hash.

    Returns {rows, data, sha256, version, added, removed, changed}."""
    mine = {r[0] for r in db.execute("SELECT sha256 FROM records")}
    merged = {k: r for k, r in previous.items() if r["record_sha256"] not in mine}
    merged.update({r["key"]: r for r in current})
    rows = sorted(merged.values(), key=lambda r: r["key"])
    data = _serialize(rows)
    digest = hashlib.sha256(data).hexdigest()
    return {
        "rows": rows, "data": data, "sha256": digest, "version": digest[:16],
        "added": sum(k not in previous for k in merged),
        "removed": sum(k not in merged for k in previous),
        "changed": sum(k in previous and previous[k] != r for k, r in merged.items()),
    }


def export_decisions(db, out_dir: Path = Path("annotations"), *, mask: bool = True) -> dict:
    """Write a new version of ``<out_dir>/flag_decisions/`` when the decisions changed.

    Returns {version, path, rows, new (bool), added, removed, changed, parent}.
    """
    kind_dir = Path(out_dir) / KIND
    kind_dir.mkdir(parents=True, exist_ok=True)
    parent = latest_version(kind_dir)
    previous = {r["key"]: r for r in load_decisions(kind_dir)} if parent else {}
    m = merge_version(db, decision_rows(db, mask=mask), previous)
    rows, data, digest, version = m["rows"], m["data"], m["sha256"], m["version"]
    added, removed, changed = m["added"], m["removed"], m["changed"]
    path = kind_dir / f"{version}.jsonl"
    result = {"version": version, "path": path, "rows": len(rows), "parent": parent,
              "added": added, "removed": removed, "changed": changed, "new": version != parent}
    if version == parent or (not rows and parent is None):   # nothing new: no file, no version
        result["new"] = False
        return result
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    manifest = read_manifest(kind_dir)
    manifest["versions"].append({
        "version": version, "sha256": digest, "rows": len(rows), "parent": parent,
        "added": added, "removed": removed, "changed": changed, "masked": mask,
        "created_at": store.now(), "schema": SCHEMA,
    })
    manifest["latest"] = version
    mtmp = kind_dir / "manifest.json.tmp"
    mtmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    mtmp.replace(kind_dir / "manifest.json")
    return result
