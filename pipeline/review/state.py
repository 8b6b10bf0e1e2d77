"""The pure core of review state: a flag's state is derived from its events, never stored.

Decisions are append-only rows in ``reviews``; ``undo`` is itself an event that points at the
event it cancels (``payload.target``). Nothing here touches the database."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from pipeline.review.values import stored_number

DECISIONS = ("confirm", "reject", "change")
STATUSES = ("pending", "confirmed", "rejected")


def parse_json(text: str | None, default: Any) -> Any:
    """Stored JSON, or ``default`` when it is missing, malformed or of another type than ``default``."""
    if not text:
        return default
    try:
        value = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return default
    return value if default is None or isinstance(value, type(default)) else default


def stored_id(value: Any) -> int | None:
    """An id kept inside stored JSON (evidence, charge lists): an int, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19 else None


def evidence_items(text: str | None) -> list[dict]:
    """A flag's stored evidence list with each item's fields in their types (ints, a 4-number
    bbox, text), so a malformed item never breaks the views that place or sort it."""
    out = []
    for e in parse_json(text, []):
        if not isinstance(e, dict):
            continue
        box = e.get("bbox")
        nums = [stored_number(v) for v in box] if isinstance(box, (list, tuple)) and len(box) == 4 else None
        out.append({
            "document": e.get("document") if isinstance(e.get("document"), str) else None,
            "section": e.get("section") if isinstance(e.get("section"), str) else None,
            "text": e.get("text") if isinstance(e.get("text"), str) else None,
            "page_no": stored_id(e.get("page_no")), "page_id": stored_id(e.get("page_id")),
            "line_id": stored_id(e.get("line_id")),
            "bbox": nums if nums and None not in nums else None,
        })
    return out


@dataclass
class FlagState:
    flag_id: int
    state: str = "pending"                 # pending | confirmed | rejected | withdrawn | appeal_upheld
    by: str | None = None                  # user of the deciding event
    at: str | None = None
    reason_code: str | None = None
    note: str | None = None
    rule_id: str | None = None             # changed rule, if any
    amount: float | None = None            # changed amount, if any
    by_user: dict[str, str] = field(default_factory=dict)   # user -> confirmed|rejected
    events: list[dict] = field(default_factory=list)
    appeal: str | None = None              # the hospital's appeal, laid over by ``appeals.apply``


def undone_ids(event: dict) -> list:
    """The events an undo cancels: its target and the identical repeats just before it."""
    p = event["payload"]
    also = p.get("also")
    return [p.get("target"), *(also if isinstance(also, list) else ())]


def effective_events(events: list[dict]) -> list[dict]:
    """Events still in force: decisions and additions not cancelled by a later undo."""
    undone = {i for e in events if e["action"] == "undo" for i in undone_ids(e)}
    return [e for e in events if e["action"] in DECISIONS + ("add",) and e["id"] not in undone]


def undo_target(events: list[dict], user: str | None) -> int | None:
    """The event ``undo_last`` would cancel for ``user`` now (the page sends it back as ``expect``)."""
    mine = [e for e in effective_events(events) if user and e["user"] == user]
    return mine[-1]["id"] if mine else None


def derive(events: list[dict], flags: Iterable[dict]) -> dict[int, FlagState]:
    states = {f["id"]: FlagState(f["id"]) for f in flags}
    for e in events:
        if e["flag_id"] in states:
            states[e["flag_id"]].events.append(e)
    live = effective_events(events)
    added = {e["flag_id"] for e in live if e["action"] == "add"}
    for f in flags:
        st = states[f["id"]]
        if f.get("source") == "reviewer" and f["id"] not in added:
            st.state = "withdrawn"
    for e in live:
        st = states.get(e["flag_id"])
        if st is None or st.state == "withdrawn":
            continue
        p = e["payload"]
        verdict = "rejected" if e["action"] == "reject" else "confirmed"
        st.state, st.by, st.at = verdict, e["user"], e["at"]
        st.reason_code = p.get("reason_code") if verdict == "rejected" else None
        st.note = p.get("note")
        if e["action"] == "change":
            st.rule_id = p.get("rule_id") or st.rule_id
            if stored_number(p.get("amount")) is not None:
                st.amount = stored_number(p["amount"])
        st.by_user[e["user"]] = verdict
    return states


def record_status(states: Iterable[FlagState]) -> str:
    active = [s for s in states if s.state != "withdrawn"]
    if any(s.state == "pending" for s in active):
        return "pending"
    if any(s.state == "confirmed" for s in active):
        return "confirmed"
    return "rejected"


def effective_amount(flag: dict, st: FlagState) -> float:
    """The reviewer's amount if changed, else the flag's; 0 when the stored value is unusable."""
    if st.amount is not None:
        return st.amount
    return stored_number(flag.get("amount")) or 0.0


def same_decision(a: dict, b: dict) -> bool:
    """Two events decide the same thing (a repeat): same user, flag, action and content."""
    keys = ("reason_code", "note", "rule_id", "amount", "line_ids", "charge_ids")
    return (a["user"] == b["user"] and a["flag_id"] == b["flag_id"] and a["action"] == b["action"]
            and all(a["payload"].get(k) == b["payload"].get(k) for k in keys))

