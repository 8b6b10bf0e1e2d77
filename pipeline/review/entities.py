"""Reviewers' corrections of NLP entities: append-only events and the corrected entity set.

The model's rows in ``entities`` are never changed. A correction is an event in
``entity_corrections`` (add | remove | relabel | set-attribute); the corrected entities of a
section are always derived from the model's entities plus the events in id order, like flag
states are derived from ``reviews``. Entities are referred to as ``e<entities.id>`` (model) or
``c<event id>`` (added by a reviewer). Writing needs the case's lock, as flag decisions do.
"""
from __future__ import annotations

import datetime as _dt
import json
from typing import Any, Iterable

from pipeline.nlp.labels import load_label_map
from pipeline.record.lines import line_offsets
from pipeline.clock import iso, utc
from pipeline.review.errors import NotFound, ReviewError
from pipeline.review.locks import LOCK_TTL_S, lock_existing
from pipeline.review.values import MAX_ID, check_id
from pipeline.store import insert_one, transaction

ACTIONS = ("add", "remove", "relabel", "set-attribute")
ATTRIBUTES = ("negated", "uncertain", "historical", "family")
ATTRIBUTE_LABELS = {"negated": "否定", "uncertain": "不确定", "historical": "既往", "family": "家族"}


def labels() -> dict[str, str]:
    """Project label -> Chinese name, the choices a reviewer may assign (label_map.yaml)."""
    return dict(load_label_map()["labels"])


def _rows(conn, sql: str, args: Iterable = ()) -> list[dict]:
    cur = conn.execute(sql, tuple(args))
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def _in(ids: list[int]) -> str:
    return ",".join("?" * len(ids))


def load_events(conn, section_ids: list[int]) -> list[dict]:
    if not section_ids:
        return []
    rows = _rows(conn, f"SELECT * FROM entity_corrections WHERE section_id IN ({_in(section_ids)}) ORDER BY id",
                 section_ids)
    for r in rows:
        r["attributes"] = json.loads(r["attributes"]) if r["attributes"] else {}
    return rows


def _ref(ev: dict) -> str | None:
    if ev["entity_id"] is not None:
        return f"e{ev['entity_id']}"
    if ev["added_id"] is not None:
        return f"c{ev['added_id']}"
    return None


def derive(sections: dict[int, dict], model: list[dict], events: list[dict]) -> dict[str, dict]:
    """ref -> entity after applying ``events`` to the ``model`` entities; removed ones stay in
    the result with ``removed`` set, so the UI and the audit can show what was taken out."""
    out: dict[str, dict] = {}
    for m in model:
        out[f"e{m['id']}"] = {
            "ref": f"e{m['id']}", "id": m["id"], "source": "model", "section_id": m["section_id"],
            "label": m["label"], "model_label": m["label"], "text": m["text"], "start": m["start"], "end": m["end"],
            **{a: int(bool(m.get(a))) for a in ATTRIBUTES},
            "code": m.get("code"), "code_name": m.get("code_name"), "page_id": m.get("page_id"),
            "line_id": m.get("line_id"), "removed": False, "corrected": False, "by": [],
        }
    for ev in events:
        if ev["action"] == "add":
            sec = sections.get(ev["section_id"]) or {}
            text = (sec.get("text") or "")[ev["start"]:ev["end"]]
            ent = out[f"c{ev['id']}"] = {
                "ref": f"c{ev['id']}", "id": None, "source": "reviewer", "section_id": ev["section_id"],
                "label": ev["new_label"], "model_label": None, "text": text, "start": ev["start"], "end": ev["end"],
                **{a: int(bool(ev["attributes"].get(a))) for a in ATTRIBUTES},
                "code": None, "code_name": None, "page_id": ev["page_id"], "line_id": ev["line_id"],
                "removed": False, "corrected": True, "by": [],
            }
        else:
            ent = out.get(_ref(ev))
            if ent is None:
                continue
            if ev["action"] == "remove":
                ent["removed"] = True
            elif ev["action"] == "relabel":
                ent["label"] = ev["new_label"]
            else:
                ent.update({a: int(bool(v)) for a, v in ev["attributes"].items() if a in ATTRIBUTES})
            ent["corrected"] = True
        if ev["user"] not in ent["by"]:
            ent["by"].append(ev["user"])
    return out


def _sections(conn, record_id: int) -> dict[int, dict]:
    return {s["id"]: s for s in _rows(
        conn, "SELECT id, record_id, seq, name, text, page_id, line_start, line_end FROM sections"
              " WHERE record_id = ? ORDER BY seq", [record_id])}


def _model(conn, section_ids: list[int]) -> list[dict]:
    if not section_ids:
        return []
    return _rows(conn, "SELECT id, section_id, seq, label, text, start, end, negated, uncertain, historical, family,"
                       f" code, code_name, page_id, line_id FROM entities WHERE section_id IN ({_in(section_ids)})"
                       " ORDER BY seq", section_ids)


def record_entities(db, record_id: int, *, include_removed: bool = False) -> list[dict]:
    """The corrected entities of a record in reading order (section, start), with page numbers.

    Model entities without a section (none are written today) are listed as the model gave them."""
    conn = db.conn
    secs = _sections(conn, record_id)
    ids = list(secs)
    ents = derive(secs, _model(conn, ids), load_events(conn, ids)).values()
    rows = [e for e in ents if include_removed or not e["removed"]]
    orphans = _rows(conn, "SELECT id, section_id, seq, label, text, start, end, negated, uncertain, historical,"
                          " family, code, code_name, page_id, line_id FROM entities WHERE record_id = ?"
                          " AND section_id IS NULL ORDER BY seq", [record_id])
    rows += [{**o, "ref": None, "source": "model", "model_label": o["label"], "removed": False, "corrected": False,
              "by": []} for o in orphans]
    pages = {r[0]: r[1] for r in conn.execute("SELECT id, page_no FROM pages WHERE record_id = ?", (record_id,))}
    order = {sid: s["seq"] for sid, s in secs.items()}
    for e in rows:
        e["page_no"] = pages.get(e["page_id"])
        e["section_name"] = secs[e["section_id"]]["name"] if e["section_id"] in secs else None
    rows.sort(key=lambda e: (order.get(e["section_id"], 1 << 30), e["start"] if e["start"] is not None else 0))
    return rows


def _locate(conn, record_id: int, line_id: int, line_start: int, line_end: int) -> tuple[int, int, int, int]:
    """Map a selection inside an OCR line to (section id, start, end, page id) in that section's
    text, placing the line the way the NLP stage links entities to lines (``line_offsets``)."""
    row = conn.execute("SELECT l.text, l.page_id FROM lines l JOIN pages p ON p.id = l.page_id"
                       " WHERE l.id = ? AND p.record_id = ?", (line_id, record_id)).fetchone()
    if row is None:
        raise NotFound(f"文字行不存在: {line_id}")
    line, page_id = row
    if not (0 <= line_start < line_end <= len(line)):
        raise ReviewError("所选文字范围无效")
    wanted = line[line_start:line_end]
    sec = conn.execute("SELECT id, text, line_start, line_end FROM sections WHERE record_id = ? AND line_start <= ?"
                       " AND line_end >= ? ORDER BY seq LIMIT 1", (record_id, line_id, line_id)).fetchone()
    if sec is None:
        raise ReviewError("该行不属于任何段落，无法标注实体")
    sid, text, first, last = sec
    lines = conn.execute("SELECT id, text FROM lines WHERE id BETWEEN ? AND ? ORDER BY id", (first, last)).fetchall()
    found = dict((lid, i) for i, lid in line_offsets(text, lines))
    start = -1
    if line_id in found:
        # The part of the line in the section text is a suffix of it (a header may be cut off).
        body, i = line.rstrip(), found[line_id]
        p = next((p for p in range(len(body)) if text.startswith(body[p:], i)), 0)
        start = i + line_start - p
    if start < 0 or text[start:start + len(wanted)] != wanted:
        start = text.find(wanted, found.get(line_id, 0))
    if start < 0:
        raise ReviewError("所选文字不在该段落文本中，无法标注实体")
    return sid, start, start + len(wanted), page_id


def correct(
    db, user: str, record_id: int, action: str, *, entity: str | None = None, section_id: int | None = None,
    start: int | None = None, end: int | None = None, label: str | None = None,
    attributes: dict[str, Any] | None = None, line_id: int | None = None, ttl: int = LOCK_TTL_S,
    at: _dt.datetime | None = None,
) -> dict:
    """Append one correction event; returns the event and the entity as derived after it.

    ``add`` takes either ``section_id`` + ``start``/``end`` in the section text, or ``line_id``
    + ``start``/``end`` inside that OCR line (the text selected in the UI)."""
    if action not in ACTIONS:
        raise ReviewError(f"实体操作无效: {str(action)[:40]!r}")
    check_id(record_id, "病例编号")
    section_id = None if section_id is None else check_id(section_id, "段落编号")
    line_id = None if line_id is None else check_id(line_id, "文字行编号")
    for offset in (start, end):
        if offset is not None and (isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_ID):
            raise ReviewError("所选文字范围无效")
    known = labels()
    if action in ("add", "relabel") and label not in known:
        raise ReviewError(f"实体类别无效: {str(label)[:40]!r}")
    attrs = {}
    for k, v in (attributes or {}).items():
        if k not in ATTRIBUTES:
            raise ReviewError(f"实体属性无效: {str(k)[:40]!r}")
        attrs[k] = int(int(v) != 0 if isinstance(v, str) and v.isascii() and v.isdigit() else bool(v))
    if action == "set-attribute" and not attrs:
        raise ReviewError("需要指定要修改的属性")
    now = utc(at)
    with transaction(db) as conn:
        lock_existing(conn, record_id, user, now, ttl)
        secs = _sections(conn, record_id)
        row: dict[str, Any] = {"record_id": record_id, "user": user, "at": iso(now), "action": action,
                               "entity_id": None, "added_id": None, "start": None, "end": None,
                               "line_id": None, "page_id": None,
                               "old_label": None, "new_label": None, "attributes": json.dumps(attrs, sort_keys=True)}
        if action == "add":
            if start is None or end is None:
                raise ReviewError("新增实体需要文字范围")
            page_id = None
            if line_id is not None:
                section_id, start, end, page_id = _locate(conn, record_id, int(line_id), int(start), int(end))
            if section_id not in secs:
                raise NotFound(f"段落不存在: {section_id}")
            text = secs[section_id]["text"]
            start, end = int(start), int(end)
            while start < end and text[start].isspace():   # a selection often takes a blank along
                start += 1
            while end > start and text[end - 1].isspace():
                end -= 1
            if not (0 <= start < end <= len(text)):
                raise ReviewError("所选文字范围无效")
            live = derive(secs, _model(conn, [section_id]), load_events(conn, [section_id])).values()
            if any(not e["removed"] and e["start"] is not None and e["start"] < end and start < e["end"] for e in live):
                raise ReviewError("与已有实体重叠，请先删除或修改已有实体")
            row.update(section_id=section_id, start=start, end=end, new_label=label, line_id=line_id,
                       page_id=page_id or secs[section_id]["page_id"])
        else:
            ids = list(secs)
            ents = derive(secs, _model(conn, ids), load_events(conn, ids))
            ent = ents.get(entity or "")
            if ent is None:
                raise NotFound(f"实体不存在: {entity}")
            if ent["removed"]:
                raise ReviewError("该实体已删除")
            if action == "relabel" and label == ent["label"]:
                raise ReviewError("类别未改变")
            row.update(section_id=ent["section_id"], start=ent["start"], end=ent["end"], old_label=ent["label"],
                       new_label=label if action == "relabel" else None)
            row["entity_id" if ent["source"] == "model" else "added_id"] = ent["id"] if ent["source"] == "model" \
                else int(ent["ref"][1:])
        event_id = insert_one(db, "entity_corrections", row)
        events = load_events(conn, [row["section_id"]])
        ents = derive(secs, _model(conn, [row["section_id"]]), events)
    ref = f"c{event_id}" if action == "add" else entity
    return {"id": event_id, **{k: v for k, v in row.items() if k != "attributes"}, "attributes": attrs,
            "entity": ents[ref]}


def corrected_sections(db) -> list[dict]:
    """Every section with at least one correction event: its text and corrected live entities,
    plus the record it belongs to and who corrected it (the export's input)."""
    conn = db.conn
    sids = [r[0] for r in conn.execute("SELECT DISTINCT section_id FROM entity_corrections ORDER BY section_id")]
    if not sids:
        return []
    secs = {s["id"]: s for s in _rows(
        conn, "SELECT s.id, s.record_id, s.seq, s.name, s.text, s.page_id, r.sha256 AS record_sha256,"
              f" r.hospital_id, r.admission_no FROM sections s JOIN records r ON r.id = s.record_id"
              f" WHERE s.id IN ({_in(sids)})", sids)}
    model = _model(conn, sids)
    events = load_events(conn, sids)
    by_section: dict[int, tuple[list, list]] = {sid: ([], []) for sid in sids}
    for m in model:
        by_section[m["section_id"]][0].append(m)
    for e in events:
        by_section[e["section_id"]][1].append(e)
    out = []
    for sid in sids:
        sec = secs[sid]
        mine, evs = by_section[sid]
        ents = derive({sid: sec}, mine, evs).values()
        out.append({**sec, "entities": sorted((e for e in ents if not e["removed"] and e["start"] is not None),
                                                key=lambda e: (e["start"], e["end"])),
                    "users": sorted({e["user"] for e in evs}), "last_at": max(e["at"] for e in evs),
                    "n_events": len(evs)})
    return out
