"""Reviewer decisions as append-only events: confirm, reject, change, skip, undo, and flags the
system missed. Each needs the case's lock, taken (or refreshed) in the same transaction, and
every value is checked (``values``) before anything is written."""
from __future__ import annotations

import datetime as _dt
import secrets
from typing import Any, Iterable

from pipeline.clock import iso, utc
from pipeline.review.errors import LockConflict, ReviewError
from pipeline.review.events import flag_row, record_events, score_version
from pipeline.review.locks import LOCK_TTL_S, lock_existing, take_lock
from pipeline.review.reasons import check_rule, reject_reason, rule_info
from pipeline.review.state import DECISIONS, derive, effective_events, same_decision, undone_ids
from pipeline.review.values import check_id, clean_text, parse_amount, parse_ms, stored_number
from pipeline.store import dumps, insert_one, transaction


def at_field(field: str, check, value):
    """``check(value)``, its ReviewError tied to the form ``field`` it is about."""
    try:
        return check(value)
    except ReviewError as exc:
        if exc.field is None:
            exc.field = field
        raise


def decide(
    db, user: str, flag_id: int, action: str, *, reason_code: str | None = None,
    note: str | None = None, rule_id: str | None = None, amount: float | str | None = None,
    ms_spent: int | str | None = None, ttl: int = LOCK_TTL_S, at: _dt.datetime | None = None,
) -> dict:
    """Append one decision event (confirm | reject | change | skip) on a flag.

    Deciding again what the user's decision in force already says (a re-submitted form, a double
    click, the same request sent twice) appends nothing: the event in force is returned with
    ``repeat`` set, so the request is idempotent."""
    check_id(flag_id, "疑点编号")
    if action not in DECISIONS + ("skip",):
        raise ReviewError(f"操作无效: {str(action)[:40]!r}")
    note = clean_text(note)
    payload: dict[str, Any] = {}
    if action == "reject":
        reason = at_field("reason_code", reject_reason, reason_code)
        if reason.get("note_required") and not note:
            raise ReviewError("选择“其他”时必须填写备注", field="note")
        payload["reason_code"] = reason["code"]
    if action == "change":
        rule_id = clean_text(rule_id, limit=64)
        if rule_id is not None:
            at_field("rule_id", check_rule, rule_id)
        amount = at_field("amount", parse_amount, amount)
        if rule_id is None and amount is None:
            raise ReviewError("修改需要新的规则或金额", field="rule_id")
        payload.update({"rule_id": rule_id, "amount": amount})
    ms = parse_ms(ms_spent)
    if ms is not None:
        payload["ms_spent"] = ms
    if note:
        payload["note"] = note
    now = utc(at)
    with transaction(db) as conn:
        flag = flag_row(conn, flag_id)
        record_id = flag["record_id"]
        take_lock(conn, record_id, user, now, ttl)
        events = record_events(conn, record_id)
        st = derive(events, [flag])[flag_id]
        if st.state == "withdrawn":
            raise ReviewError("该疑点已撤回")
        live = effective_events(st.events)
        candidate = {"user": user, "flag_id": flag_id, "action": action, "payload": payload}
        if action != "skip" and live and same_decision(live[-1], candidate):
            last = live[-1]
            return {"id": last["id"], "flag_id": flag_id, "record_id": record_id, "action": action,
                    "payload": last["payload"], "repeat": True}
        others = {u for u in st.by_user if u != user}
        payload["round"] = 2 if others else 1
        payload["shown"] = {
            "rule_id": flag["rule_id"],
            "catalogue_version": flag["catalogue_version"],
            "model_version": flag["model_version"],
            "score_model_version": score_version(conn, record_id),
        }
        event_id = insert_one(
            db, "reviews",
            {"flag_id": flag_id, "record_id": record_id, "user": user, "action": action,
             "payload": dumps(payload), "at": iso(now)},
        )
    return {"id": event_id, "flag_id": flag_id, "record_id": record_id, "action": action, "payload": payload}


def undo_last(db, user: str, record_id: int, *, expect: int | None = None, ttl: int = LOCK_TTL_S,
              at: _dt.datetime | None = None) -> dict:
    """Cancel the user's latest decision or addition on this record that is still in force, so
    the flag is as it was before that decision; identical repeats of it just before are cancelled
    with it (they were one decision sent several times).

    ``expect`` is the event the client meant to undo (the page shows it): when that event is
    already undone, the undo that cancelled it is returned (a re-submitted undo cancels nothing
    more); when another event would be undone now, the request is refused."""
    check_id(record_id, "病例编号")
    now = utc(at)
    with transaction(db) as conn:
        lock_existing(conn, record_id, user, now, ttl)
        events = record_events(conn, record_id)
        live = effective_events(events)
        mine = [e for e in live if e["user"] == user]
        if expect is not None:
            done = next((e for e in events if e["action"] == "undo" and e["user"] == user
                         and expect in undone_ids(e)), None)
            if done is not None:
                return {**done, "repeat": True}
            if not mine or mine[-1]["id"] != expect:
                raise LockConflict("可撤销的操作已变化，请刷新页面后重试")
        if not mine:
            raise ReviewError("没有可撤销的操作")
        target = mine[-1]
        also = []
        on_flag = [e for e in live if e["flag_id"] == target["flag_id"] and e["id"] < target["id"]]
        for e in reversed(on_flag):
            if not same_decision(e, target):
                break
            also.append(e["id"])
        payload = {"target": target["id"], "target_action": target["action"]}
        if also:
            payload["also"] = also
        event_id = insert_one(
            db, "reviews",
            {"flag_id": target["flag_id"], "record_id": record_id, "user": user, "action": "undo",
             "payload": dumps(payload), "at": iso(now)},
        )
    return {"id": event_id, "flag_id": target["flag_id"], "record_id": record_id, "action": "undo", "payload": payload}


def add_flag(
    db, user: str, record_id: int, *, rule_id: str,
    reason: str | None = None, amount: float | str | None = None, severity: str = "可疑",
    line_ids: Iterable[int] = (), charge_ids: Iterable[int] = (), note: str | None = None,
    ms_spent: int | str | None = None, ttl: int = LOCK_TTL_S, at: _dt.datetime | None = None,
) -> dict:
    """Record a flag the system missed, under a catalogue rule (its name and category come from
    the catalogue), with evidence from the selected lines / charge lines.

    The same addition sent again by the same user (same rule, evidence and amount, still in
    force) returns the flag added first with ``repeat`` set."""
    check_id(record_id, "病例编号")
    rule_id = clean_text(rule_id, limit=64)
    if not rule_id:
        raise ReviewError("新增疑点需要选择规则", field="rule_id")
    rule = rule_info(at_field("rule_id", check_rule, rule_id))
    if severity not in ("明确违规", "可疑"):
        raise ReviewError(f"严重程度无效: {str(severity)[:20]!r}")
    line_ids = sorted({check_id(i, "文字行编号") for i in line_ids})
    charge_ids = sorted({check_id(i, "费用行编号") for i in charge_ids})
    if not line_ids and not charge_ids:
        raise ReviewError("新增疑点需要选择证据文字行或费用行")
    # The catalogue names the rule; a name typed in the form is not kept beside it.
    rule_name, reason, note = rule["rule_name"], clean_text(reason), clean_text(note)
    amount = parse_amount(amount)
    ms = parse_ms(ms_spent)
    now = utc(at)
    with transaction(db) as conn:
        lock_existing(conn, record_id, user, now, ttl)
        evidence = []
        for lid in line_ids:
            row = conn.execute(
                "SELECT l.id, l.text, l.x0, l.y0, l.x1, l.y1, p.id, p.page_no FROM lines l"
                " JOIN pages p ON p.id = l.page_id WHERE l.id = ? AND p.record_id = ?",
                (lid, record_id),
            ).fetchone()
            if row is None:
                raise ReviewError(f"文字行 {lid} 不属于该病例")
            evidence.append({
                "document": None, "section": None, "text": row[1], "page_no": row[7], "page_id": row[6],
                "line_id": row[0], "bbox": [row[2], row[3], row[4], row[5]] if row[2] is not None else None,
            })
        total = 0.0
        for cid in charge_ids:
            row = conn.execute("SELECT amount FROM charges WHERE id = ? AND record_id = ?", (cid, record_id)).fetchone()
            if row is None:
                raise ReviewError(f"费用行 {cid} 不属于该病例")
            total += stored_number(row[0]) or 0
        if amount is None:
            amount = round(total, 2)
        mine = {"user": user, "flag_id": None, "action": "add",
                "payload": {"rule_id": rule_id, "amount": amount, "line_ids": line_ids, "charge_ids": charge_ids,
                            "note": note}}
        for e in effective_events(record_events(conn, record_id)):
            if e["action"] == "add" and same_decision({**e, "flag_id": None}, mine):
                return {"id": e["id"], "flag_id": e["flag_id"], "record_id": record_id, "action": "add",
                        "payload": e["payload"], "repeat": True}
        flag_id = insert_one(
            db, "flags",
            {"record_id": record_id, "rule_id": rule_id, "rule_name": rule_name, "category": rule["category"],
             "key": f"reviewer:{secrets.token_hex(6)}", "severity": severity, "score": None,
             "reason": reason, "amount": amount,
             "evidence": dumps(evidence), "charge_ids": dumps(charge_ids), "source": "reviewer",
             "created_at": iso(now)},
        )
        payload = {"rule_id": rule_id, "amount": amount, "line_ids": line_ids, "charge_ids": charge_ids,
                   "shown": {"score_model_version": score_version(conn, record_id)}}
        if note:
            payload["note"] = note
        if ms is not None:
            payload["ms_spent"] = ms
        event_id = insert_one(
            db, "reviews",
            {"flag_id": flag_id, "record_id": record_id, "user": user, "action": "add",
             "payload": dumps(payload), "at": iso(now)},
        )
    return {"id": event_id, "flag_id": flag_id, "record_id": record_id, "action": "add", "payload": payload}
