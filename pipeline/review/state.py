"""The pure core of review state: a flag's state is derived from its events, never stored.

Decisions are append-only rows in ``reviews``; ``undo`` is itself an event that points at the
event it cancels (``payload.target``). Nothing here touches the database."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

DECISIONS = ("confirm", "reject", "change")
STATUSES = ("pending", "confirmed", "rejected")


def parse_json(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


@dataclass
class FlagState:
    flag_id: int
    state: str = "pending"                 # pending | confirmed | rejected | withdrawn
    by: str | None = None                  # user of the deciding event
    at: str | None = None
    reason_code: str | None = None
    note: str | None = None
    rule_id: str | None = None             # changed rule, if any
    amount: float | None = None            # changed amount, if any
    by_user: dict[str, str] = field(default_factory=dict)   # user -> confirmed|rejected
    events: list[dict] = field(default_factory=list)


def effective_events(events: list[dict]) -> list[dict]:
    """Events still in force: decisions and additions not cancelled by a later undo."""
    undone = {e["payload"].get("target") for e in events if e["action"] == "undo"}
    return [e for e in events if e["action"] in DECISIONS + ("add",) and e["id"] not in undone]


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
            if p.get("amount") is not None:
                st.amount = p["amount"]
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
    return float(st.amount if st.amount is not None else (flag.get("amount") or 0))

