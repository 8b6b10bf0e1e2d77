"""A hospital's appeal (申诉) against a confirmed finding, and its outcome, as append-only events
(``appeals``, migration m0160). The newest event of a flag decides its appeal state:

    filed      申诉中: the finding stands while the appeal is heard
    upheld     申诉成立: the finding no longer counts (its amount leaves every total)
    partly     部分成立: the finding stands at the amount the outcome names
    dismissed  申诉不成立: the finding stands as confirmed

``apply`` lays the appeal states over the reviewers' states (``state.derive``), so the report,
the exports and the notices count what remains after the appeals.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from pipeline.clock import iso, utc
from pipeline.review.errors import ReviewError
from pipeline.review.events import flag_row, record_events
from pipeline.review.state import FlagState, derive
from pipeline.review.values import check_id, clean_text, parse_amount
from pipeline.store import insert_one, transaction

OUTCOMES = ("upheld", "partly", "dismissed")
APPEAL_LABELS = {"filed": "申诉中", "upheld": "申诉成立", "partly": "申诉部分成立", "dismissed": "申诉不成立",
                 "withdrawn": "申诉已撤回"}


@dataclass
class Appeal:
    flag_id: int
    state: str                  # filed | upheld | partly | dismissed | withdrawn
    filed_at: str | None
    decided_at: str | None
    amount: float | None        # partly: the amount that stands
    grounds: str | None         # the hospital's text
    finding: str | None         # the outcome's reasons
    by: str | None


def _confirmed(conn, flag_id: int) -> dict:
    flag = flag_row(conn, flag_id)
    st = derive(record_events(conn, flag["record_id"]), [flag])[flag_id]
    if st.state != "confirmed":
        raise ReviewError(f"疑点 {flag_id} 未确认违规，不能申诉")
    return flag


def _latest(conn, flag_id: int) -> str | None:
    row = conn.execute("SELECT action FROM appeals WHERE flag_id = ? ORDER BY id DESC LIMIT 1", (flag_id,)).fetchone()
    return row[0] if row else None


def file_appeal(db, by: str, flag_id: int, grounds: str, *, at: _dt.datetime | None = None) -> dict:
    """Record the hospital's appeal against a confirmed finding (``grounds``: its text)."""
    check_id(flag_id, "疑点编号")
    grounds = clean_text(grounds)
    if not grounds:
        raise ReviewError("申诉需要填写申诉理由")
    with transaction(db) as conn:
        flag = _confirmed(conn, flag_id)
        if _latest(conn, flag_id) == "filed":
            raise ReviewError(f"疑点 {flag_id} 已有待处理的申诉")
        row = {"flag_id": flag_id, "record_id": flag["record_id"], "action": "filed", "amount": None,
               "text": grounds, "by": by, "at": iso(utc(at))}
        row["id"] = insert_one(db, "appeals", row)
    return row


def decide_appeal(db, by: str, flag_id: int, outcome: str, *, amount: float | str | None = None,
                  finding: str | None = None, at: _dt.datetime | None = None) -> dict:
    """Record the outcome of a filed appeal: upheld, partly (with the amount that stands) or dismissed."""
    check_id(flag_id, "疑点编号")
    if outcome not in OUTCOMES:
        raise ReviewError(f"申诉结果无效: {str(outcome)[:20]!r}（可选 {' | '.join(OUTCOMES)}）")
    amount = parse_amount(amount)
    if outcome == "partly" and amount is None:
        raise ReviewError("申诉部分成立时须填写维持的金额")
    if outcome != "partly":
        amount = None
    with transaction(db) as conn:
        flag = _confirmed(conn, flag_id)
        if _latest(conn, flag_id) != "filed":
            raise ReviewError(f"疑点 {flag_id} 没有待处理的申诉")
        row = {"flag_id": flag_id, "record_id": flag["record_id"], "action": outcome, "amount": amount,
               "text": clean_text(finding), "by": by, "at": iso(utc(at))}
        row["id"] = insert_one(db, "appeals", row)
    return row


def appeals(db, flag_ids=None) -> dict[int, Appeal]:
    """flag id -> its appeal as the events say now (flags never appealed are left out)."""
    out: dict[int, Appeal] = {}
    for r in db.query("SELECT * FROM appeals ORDER BY id"):
        if flag_ids is not None and r["flag_id"] not in flag_ids:
            continue
        a = out.get(r["flag_id"])
        if r["action"] == "filed" or a is None:
            a = out[r["flag_id"]] = Appeal(r["flag_id"], "filed", r["at"], None, None, r["text"], None, r["by"])
            if r["action"] == "filed":
                continue
        a.state, a.decided_at, a.by = r["action"], r["at"], r["by"]
        a.amount, a.finding = r["amount"], r["text"]
    return out


def apply(states: dict[int, FlagState], found: dict[int, Appeal]) -> dict[int, FlagState]:
    """``states`` with appeal outcomes laid over confirmed findings: upheld ones no longer count
    as confirmed, partly upheld ones keep the amount the outcome names."""
    for fid, a in found.items():
        st = states.get(fid)
        if st is None or st.state != "confirmed":
            continue
        st.appeal = a.state
        if a.state == "upheld":
            st.state = "appeal_upheld"
        elif a.state == "partly" and a.amount is not None:
            st.amount = a.amount
    return states
