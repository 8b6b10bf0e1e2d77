"""The case view as plain data (the HTML page and ``/api/cases/{id}`` show the same): the record,
its fields (and a summary of them under Chinese labels) and score, the flags with their state,
rule names, policy text and the amount counted once, the page with evidence boxes placed in % of
the page, the OCR lines with evidence highlighted, the corrected entities of the page in view,
charges and the history.

A flag in a blind second review (``assign``) shows a second reviewer no other reviewer's decision
until they have decided it themselves."""
from __future__ import annotations

import datetime as _dt
from functools import lru_cache
from pathlib import Path

import yaml

from pipeline.review import appeals as appeal_events, assign, money
from pipeline.review.entities import record_entities
from pipeline.review.errors import NotFound
from pipeline.review.events import load_events
from pipeline.review.locks import lock_holder
from pipeline.review.reasons import legal_basis, policy_text, rule_info, rule_name
from pipeline.review.state import (FlagState, derive, effective_amount, evidence_items, parse_json, record_status,
                                   stored_id, undo_target)
from pipeline.review.values import check_id, finite_tree, stored_number
from pipeline.rules.flags import rule_class


def _segments(text: str, needles: list[str]) -> list[tuple[str, bool]]:
    """Split ``text`` into (part, highlighted) around evidence spans; the template escapes parts."""
    marks = [False] * len(text)
    for n in needles:
        if not n:
            continue
        start = text.find(n)
        while start >= 0:
            for k in range(start, start + len(n)):
                marks[k] = True
            start = text.find(n, start + len(n))
    out: list[tuple[str, bool]] = []
    for ch, m in zip(text, marks):
        if out and out[-1][1] == m:
            out[-1] = (out[-1][0] + ch, m)
        else:
            out.append((ch, m))
    return out


FIELD_LABELS_PATH = Path(__file__).resolve().parent.parent / "data" / "field_labels.yaml"


@lru_cache(maxsize=1)
def field_labels() -> tuple[dict, ...]:
    data = yaml.safe_load(FIELD_LABELS_PATH.read_text(encoding="utf-8"))
    fields = data.get("fields") if isinstance(data, dict) else None
    if not isinstance(fields, list) or not all(isinstance(f, dict) and f.get("name") and f.get("label")
                                               for f in fields):
        raise ValueError(f"{FIELD_LABELS_PATH}: 'fields' must list {{name, label}}")
    return tuple(fields)


def summary(fields: list[dict]) -> list[dict]:
    """The record's fields as the page summarizes them: one row per field name under its Chinese
    label, repeated values (diagnoses, seq 0..) joined once each, series (vitals, labs) left out."""
    spec = {f["name"]: f for f in field_labels()}
    order = {f["name"]: i for i, f in enumerate(field_labels())}
    rows: dict[str, dict] = {}
    for f in fields:
        if spec.get(f["name"], {}).get("summary") is False:
            continue
        value = f["value"] if f["value"] not in (None, "") else f["raw"]
        if value in (None, ""):
            continue
        row = rows.setdefault(f["name"], {"name": f["name"], "label": spec.get(f["name"], {}).get("label", f["name"]),
                                          "values": []})
        item = {"value": str(value), "code": f["code"]}
        if item not in row["values"]:
            row["values"].append(item)
    return sorted(rows.values(), key=lambda r: (order.get(r["name"], len(order)), r["name"]))


def _unique_evidence(items: list[dict]) -> list[dict]:
    """Evidence items with the same page, document and text listed once, with how many there are
    (``count``; the boxes on the page still mark each line)."""
    out: dict[tuple, dict] = {}
    for e in items:
        key = (e["page_no"], e["document"], e["text"])
        if key in out:
            out[key]["count"] += 1
        else:
            out[key] = {**e, "count": 1}
    return list(out.values())


def _merged_entities(entities: list[dict], page_no: int | None) -> list[dict]:
    """The entities of the page in view (those without a page too), the same entity found more
    than once (label, text, attributes, code) merged into one row that lists every ref."""
    out: dict[tuple, dict] = {}
    for e in entities:
        if page_no is not None and e.get("page_no") not in (None, page_no):
            continue
        key = (e["label"], e["text"], e.get("negated"), e.get("uncertain"), e.get("historical"), e.get("family"),
               e.get("code"), e.get("source"))
        if key in out:
            out[key]["count"] += 1
            if e.get("ref"):
                out[key]["refs"].append(e["ref"])
            continue
        out[key] = {**e, "count": 1, "refs": [e["ref"]] if e.get("ref") else []}
    return list(out.values())


def _blind(st: FlagState, user: str | None) -> FlagState:
    """What a blind second reviewer sees of a flag: only their own decision (pending if none)."""
    mine = st.by_user.get(user) if user else None
    shown = FlagState(st.flag_id, by_user={user: mine} if mine else {})
    if mine:
        shown.state, shown.by = mine, user
        own = [e for e in st.events if e["user"] == user]
        shown.at = own[-1]["at"] if own else None
    return shown


def case_view(
    db, record_id: int, *, flag_id: int | None = None, page_no: int | None = None,
    user: str | None = None, at: _dt.datetime | None = None,
) -> dict:
    """Everything the case view shows, as plain data (the HTML page and /api/cases/{id}).

    Stored values are read defensively (a malformed number or evidence item shows as missing)
    and the result holds only finite numbers, so one bad row never makes the case unreadable."""
    check_id(record_id, "病例编号")
    rec = next(db.query(
        "SELECT r.id, r.hospital_id, h.name AS hospital_name, r.admission_no, r.sex, r.age, r.department,"
        " r.admit_at, r.discharge_at, r.n_pages, r.stage, r.status FROM records r"
        " LEFT JOIN hospitals h ON h.id = r.hospital_id WHERE r.id = ?", [record_id]), None)
    if rec is None:
        raise NotFound(f"病例不存在: {record_id}")
    fields = list(db.query(
        "SELECT name, seq, value, raw, code, page_id, line_id FROM fields WHERE record_id = ? ORDER BY name, seq",
        [record_id]))
    sc = next(db.query(
        "SELECT s.probability, s.model_version, s.explanation FROM scores s"
        " LEFT JOIN model_versions m ON m.id = s.model_version WHERE s.record_id = ?"
        " ORDER BY COALESCE(m.created_at, s.created_at) DESC, s.id DESC LIMIT 1", [record_id]), None)
    score = None
    if sc:
        expl = [{**e, "weight": stored_number(e.get("weight"))}
                for e in parse_json(sc["explanation"], []) if isinstance(e, dict)]
        expl.sort(key=lambda e: -abs(e["weight"] or 0))
        score = {"probability": stored_number(sc["probability"]), "model_version": sc["model_version"], "top": expl[:5]}

    flag_rows = list(db.query("SELECT * FROM flags WHERE record_id = ? ORDER BY id", [record_id]))
    events = load_events(db, [record_id])
    states = derive(events, flag_rows)
    found_appeals = appeal_events.appeals(db, {f["id"] for f in flag_rows})
    states = appeal_events.apply(states, found_appeals)
    blind = assign.blind_flags(db, user, [f["id"] for f in flag_rows]) if user else set()
    hidden_events = set()
    for fid in blind:
        hidden_events |= {e["id"] for e in states[fid].events if e["user"] != user}
        states[fid] = _blind(states[fid], user)
    # What each flag adds to the case's amount, counted once (rejected flags add nothing).
    counted = money.counted(db, flag_rows, states, states_counted=("pending", "confirmed"))
    flags = []
    for f in flag_rows:
        st = states[f["id"]]
        if st.state == "withdrawn":
            continue
        ev = _unique_evidence(evidence_items(f["evidence"]))
        kn = parse_json(f.get("knowledge"), None)
        kn = kn if isinstance(kn, dict) else None
        basis = legal_basis(f["rule_id"])
        c = counted.get(f["id"])
        flags.append({
            "id": f["id"], "rule_id": f["rule_id"], "rule_name": rule_name(f["rule_id"], f["rule_name"]),
            "category": f["category"],
            "severity": f["severity"], "score": stored_number(f["score"]), "reason": f["reason"],
            "amount": stored_number(f["amount"]), "evidence": ev,
            "decided_amount": effective_amount(f, st),
            "counted_amount": c.counted if c else 0.0, "overlap": c.overlap if c else 0.0,
            "charge_ids": [c for c in map(stored_id, parse_json(f["charge_ids"], [])) if c is not None],
            "catalogue_version": f["catalogue_version"], "model_version": f["model_version"],
            "source": f["source"], "legal_basis": basis, "policy": policy_text(basis),
            "state": st.state, "decided_by": st.by, "decided_at": st.at, "reason_code": st.reason_code,
            "note": st.note, "changed_rule_id": st.rule_id,
            "changed_rule_name": rule_name(st.rule_id, st.rule_id) if st.rule_id else None,
            "changed_amount": st.amount, "by_user": st.by_user, "blind": f["id"] in blind,
            "appeal": appeal_events.APPEAL_LABELS.get(st.appeal) if st.appeal else None,
            "rule_class": rule_class(kn, (rule_info(f["rule_id"]) or {}).get("rule_class") or f["category"]),
            "knowledge": kn,
            "details": _details(f.get("details")),
        })
    current = next((f for f in flags if f["id"] == flag_id), None)
    if current is None:
        current = next((f for f in flags if f["state"] == "pending"), flags[0] if flags else None)

    pages = list(db.query("SELECT id, page_no, width, height, unit FROM pages WHERE record_id = ? ORDER BY page_no", [record_id]))
    evidence_pages = sorted({e.get("page_no") for f in flags for e in f["evidence"] if e.get("page_no")})
    if page_no is None and current:
        page_no = next((e.get("page_no") for e in current["evidence"] if e.get("page_no")), None)
    page = next((p for p in pages if p["page_no"] == page_no), pages[0] if pages else None)

    lines, boxes = [], []
    if page:
        ev_here = [
            (f, e) for f in flags for e in f["evidence"]
            if e.get("page_id") == page["id"] or (e.get("page_id") is None and e.get("page_no") == page["page_no"])
        ]
        hl_lines: dict[int, list[str]] = {}
        current_lines = set()
        for f, e in ev_here:
            if e.get("line_id") is not None:
                hl_lines.setdefault(e["line_id"], []).append(e.get("text") or "")
                if current and f["id"] == current["id"]:
                    current_lines.add(e["line_id"])
        w, h = stored_number(page["width"]) or 0, stored_number(page["height"]) or 0
        for f, e in ev_here:
            b = e.get("bbox")
            if not (b and w and h):
                continue
            boxes.append({
                "flag_id": f["id"], "current": bool(current and f["id"] == current["id"]),
                "left": round(100 * b[0] / w, 3), "top": round(100 * b[1] / h, 3),
                "width": round(100 * (b[2] - b[0]) / w, 3), "height": round(100 * (b[3] - b[1]) / h, 3),
                "bbox": list(b), "line_id": e.get("line_id"),
            })
        sections = list(db.execute("SELECT line_start, line_end FROM sections WHERE record_id = ?"
                                   " AND line_start IS NOT NULL AND line_end IS NOT NULL", [record_id]))
        for ln in db.query("SELECT id, line_no, text, x0, y0, x1, y1, confidence FROM lines WHERE page_id = ? ORDER BY line_no", [page["id"]]):
            needles = hl_lines.get(ln["id"])
            ln["evidence"] = needles is not None
            ln["current"] = ln["id"] in current_lines
            # An entity is annotated inside a section's text: lines outside every section cannot take one.
            ln["annotatable"] = any(a <= ln["id"] <= b for a, b in sections)
            xy = [stored_number(ln[k]) for k in ("x0", "y0", "x1", "y1")]
            ln["box"] = ([round(100 * xy[0] / w, 3), round(100 * xy[1] / h, 3),
                          round(100 * xy[2] / w, 3), round(100 * xy[3] / h, 3)]
                         if w and h and None not in xy else None)
            text = ln["text"] if isinstance(ln["text"], str) else ""
            # A needle not found verbatim in the line (OCR vs. normalized text) marks the whole line.
            ln["segments"] = _segments(text, needles or [])
            if needles and not any(s[1] for s in ln["segments"]):
                ln["segments"] = [(text, True)]
            lines.append(ln)

    entities = record_entities(db, record_id)
    flagged_charges = {c for f in flags for c in f["charge_ids"]}
    charges = list(db.query(
        "SELECT c.id, c.seq, c.source, c.at, c.item_code, c.item_name, c.category, c.qty, c.unit_price, c.amount,"
        " c.page_id, p.page_no FROM charges c LEFT JOIN pages p ON p.id = c.page_id WHERE c.record_id = ?"
        " ORDER BY c.source, c.seq", [record_id]))
    for c in charges:
        c.update({k: stored_number(c[k]) for k in ("qty", "unit_price", "amount") if c[k] is not None})
        c["flagged"] = c["id"] in flagged_charges
        c["current"] = bool(current and c["id"] in current["charge_ids"])
    involved = [c for c in charges if c["current"]]
    return finite_tree({
        "record": rec,
        "fields": fields,
        "summary": summary(fields),
        "amount": {
            # the case's amount at risk: pending and confirmed flags, each charge line once
            "counted": round(sum(f["counted_amount"] for f in flags), 2),
            "confirmed": round(sum(f["counted_amount"] for f in flags if f["state"] == "confirmed"), 2),
            "overlap": round(sum(f["overlap"] for f in flags if f["state"] in ("pending", "confirmed")), 2),
        },
        "involved_total": round(sum(c["amount"] or 0 for c in involved), 2),
        "score": score,
        "flags": flags,
        "current_flag_id": current["id"] if current else None,
        "pages": [{"id": p["id"], "page_no": p["page_no"], "evidence": p["page_no"] in evidence_pages} for p in pages],
        "page": page,
        "boxes": boxes,
        "lines": lines,
        "entities": entities,
        "page_entities": _merged_entities(entities, page["page_no"] if page else None),
        "charges": charges,
        "status": record_status(states[f["id"]] for f in flag_rows) if flag_rows else "pending",
        "claimed_by": lock_holder(db, record_id, at),
        "can_undo": undo_target(events, user) is not None,
        "undo_target": undo_target(events, user),
        "history": [
            {"id": e["id"], "flag_id": e["flag_id"], "user": e["user"], "action": e["action"], "at": e["at"],
             "reason_code": e["payload"].get("reason_code"), "round": e["payload"].get("round")}
            for e in events if e["id"] not in hidden_events
        ],
    })


def next_flag_id(case: dict, after_flag_id: int | None) -> int | None:
    """The next pending flag of the case after ``after_flag_id`` (wrapping), else None."""
    flags = case["flags"]
    ids = [f["id"] for f in flags]
    k = ids.index(after_flag_id) + 1 if after_flag_id in ids else 0
    order = flags[k:] + flags[:k]
    return next((f["id"] for f in order if f["state"] == "pending"), None)


def _details(raw) -> dict | None:
    """A flag's structured details (``flags.details``) when stored as a JSON object, else None."""
    d = parse_json(raw, None)
    return d if isinstance(d, dict) else None
