"""The case view as plain data (the HTML page and ``/api/cases/{id}`` show the same): the record,
its fields and score, the flags with their state, the page with evidence boxes placed in % of the
page, the OCR lines with evidence highlighted, corrected entities, charges and the history."""
from __future__ import annotations

import datetime as _dt

from pipeline.review.entities import record_entities
from pipeline.review.errors import NotFound
from pipeline.review.events import load_events
from pipeline.review.locks import lock_holder
from pipeline.review.reasons import legal_basis
from pipeline.review.state import derive, evidence_items, parse_json, record_status, stored_id, undo_target
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
    flags = []
    for f in flag_rows:
        st = states[f["id"]]
        if st.state == "withdrawn":
            continue
        ev = evidence_items(f["evidence"])
        kn = parse_json(f.get("knowledge"), None)
        kn = kn if isinstance(kn, dict) else None
        flags.append({
            "id": f["id"], "rule_id": f["rule_id"], "rule_name": f["rule_name"], "category": f["category"],
            "severity": f["severity"], "score": stored_number(f["score"]), "reason": f["reason"],
            "amount": stored_number(f["amount"]), "evidence": ev,
            "charge_ids": [c for c in map(stored_id, parse_json(f["charge_ids"], [])) if c is not None],
            "catalogue_version": f["catalogue_version"], "model_version": f["model_version"],
            "source": f["source"], "legal_basis": legal_basis(f["rule_id"]),
            "state": st.state, "decided_by": st.by, "decided_at": st.at, "reason_code": st.reason_code,
            "note": st.note, "changed_rule_id": st.rule_id, "changed_amount": st.amount,
            "by_user": st.by_user,
            "rule_class": rule_class(kn, f["category"]), "knowledge": kn,
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
        for f, e in ev_here:
            if e.get("line_id") is not None:
                hl_lines.setdefault(e["line_id"], []).append(e.get("text") or "")
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
        for ln in db.query("SELECT id, line_no, text, x0, y0, x1, y1, confidence FROM lines WHERE page_id = ? ORDER BY line_no", [page["id"]]):
            needles = hl_lines.get(ln["id"])
            ln["evidence"] = needles is not None
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
    return finite_tree({
        "record": rec,
        "fields": fields,
        "score": score,
        "flags": flags,
        "current_flag_id": current["id"] if current else None,
        "pages": [{"id": p["id"], "page_no": p["page_no"], "evidence": p["page_no"] in evidence_pages} for p in pages],
        "page": page,
        "boxes": boxes,
        "lines": lines,
        "entities": entities,
        "charges": charges,
        "status": record_status(states[f["id"]] for f in flag_rows) if flag_rows else "pending",
        "claimed_by": lock_holder(db, record_id, at),
        "can_undo": undo_target(events, user) is not None,
        "undo_target": undo_target(events, user),
        "history": [
            {"id": e["id"], "flag_id": e["flag_id"], "user": e["user"], "action": e["action"], "at": e["at"],
             "reason_code": e["payload"].get("reason_code"), "round": e["payload"].get("round")}
            for e in events
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
