"""Review logic behind the web UI: queue, claims, decisions as events, undo, agreement, export.

Decisions are append-only rows in ``reviews``; the state of a flag (pending / confirmed /
rejected / withdrawn) is always derived from those events, never stored. ``undo`` is itself an
event that points at the event it cancels (``payload.target``).
A record is worked on by one reviewer at a time: ``case_claims`` holds one live claim per
record, taken and checked inside a write transaction so two reviewers never get the same case.
"""
from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import io
import json
import logging
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import yaml

from pipeline.store import dumps, insert_one, transaction

log = logging.getLogger("medreview.review")

CLAIM_TTL_S = 15 * 60
DECISIONS = ("confirm", "reject", "change")
STATUSES = ("pending", "confirmed", "rejected")
REJECT_REASONS_PATH = Path(__file__).parent / "data" / "reject_reasons.yaml"


class ReviewError(ValueError):
    """A request the reviewer must correct (bad action, missing reason code, ...)."""

    status = 400


class NotFound(ReviewError):
    status = 404


class ClaimConflict(ReviewError):
    """The case is claimed by someone else (or the caller holds no live claim)."""

    status = 409


def _utc(at: _dt.datetime | None) -> _dt.datetime:
    return at if at is not None else _dt.datetime.now(_dt.timezone.utc)


def _iso(at: _dt.datetime) -> str:
    return at.astimezone(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


# ---------------------------------------------------------------------------------------------
# Reject reasons (data file)


@lru_cache(maxsize=1)
def reject_reasons() -> tuple[dict, ...]:
    data = yaml.safe_load(REJECT_REASONS_PATH.read_text(encoding="utf-8"))
    reasons = data.get("reasons") if isinstance(data, dict) else None
    if not reasons:
        raise ReviewError(f"{REJECT_REASONS_PATH}: 'reasons' list missing")
    for i, r in enumerate(reasons):
        if not isinstance(r, dict) or not r.get("code") or not r.get("label"):
            raise ReviewError(f"{REJECT_REASONS_PATH}: reason #{i + 1} needs code and label")
    return tuple(reasons)


def _reason(code: str | None) -> dict:
    for r in reject_reasons():
        if r["code"] == code:
            return r
    raise ReviewError(f"驳回原因代码无效: {code!r}")


# ---------------------------------------------------------------------------------------------
# Legal basis: from the rule catalogue (pipeline.rules); flags themselves do not carry it.


@lru_cache(maxsize=1)
def rule_catalogue():
    """The packaged rule catalogue (``pipeline.rules``), or None while it cannot be loaded."""
    try:
        from pipeline.rules import catalogue

        return catalogue.load()
    except (ImportError, ValueError, OSError) as exc:
        log.warning("rule catalogue unavailable, legal basis not shown: %s", exc)
        return None


def legal_basis(rule_id: str) -> str | None:
    """The catalogue's legal basis text for a rule, or None when the catalogue lacks it."""
    cat = rule_catalogue()
    if cat is None:
        return None
    try:
        return cat.get(rule_id).legal_basis
    except KeyError:
        return None


# ---------------------------------------------------------------------------------------------
# Deriving state from events


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


def load_events(db, record_ids: Iterable[int] | None = None) -> list[dict]:
    sql = "SELECT * FROM reviews"
    params: list = []
    if record_ids is not None:
        ids = list(record_ids)
        if not ids:
            return []
        sql += f" WHERE record_id IN ({','.join('?' for _ in ids)})"
        params = ids
    rows = list(db.query(sql + " ORDER BY id", params))
    for r in rows:
        r["payload"] = _loads(r["payload"], {})
    return rows


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


# ---------------------------------------------------------------------------------------------
# Queue


@dataclass
class QueueFilter:
    hospital: str | None = None
    rule: str | None = None
    status: str | None = None
    reviewer: str | None = None
    date_from: str | None = None        # discharge date, ISO prefix compare
    date_to: str | None = None
    order: str | None = None            # None/"risk": riskiest first; "uncertain": active learning

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v}


ORDERS = (None, "risk", "uncertain")


def margin(probability: float | None) -> float:
    """Distance from the decision boundary; unscored records count as certain (sorted last)."""
    return abs(probability - 0.5) if probability is not None else 1.0


def least_certain_first(items: list[dict]) -> list[dict]:
    """Active learning: the cases the classifier is least sure about first — a decision there
    teaches the next model the most. Stable, so equally uncertain cases keep the risk order."""
    return sorted(items, key=lambda i: margin(i.get("probability")))


def _latest_scores(db) -> dict[int, dict]:
    """Newest score per record (newest model version wins)."""
    out: dict[int, dict] = {}
    for r in db.query(
        "SELECT s.record_id, s.probability, s.model_version, s.explanation FROM scores s"
        " LEFT JOIN model_versions m ON m.id = s.model_version"
        " ORDER BY s.record_id, COALESCE(m.created_at, s.created_at) DESC, s.id DESC"
    ):
        out.setdefault(r["record_id"], r)
    return out


def live_claims(db, at: _dt.datetime | None = None) -> dict[int, dict]:
    now = _iso(_utc(at))
    return {r["record_id"]: r for r in db.query("SELECT * FROM case_claims WHERE expires_at > ?", [now])}


def queue(db, flt: QueueFilter | None = None, *, at: _dt.datetime | None = None) -> dict:
    """Flagged records by risk, with counts and the batch's coverage figure."""
    flt = flt or QueueFilter()
    if flt.status and flt.status not in STATUSES:
        raise ReviewError(f"状态无效: {flt.status!r}")
    if flt.order not in ORDERS:
        raise ReviewError(f"排序无效: {flt.order!r}")
    flags = list(db.query("SELECT id, record_id, rule_id, rule_name, severity, score, amount, source FROM flags"))
    by_record: dict[int, list[dict]] = {}
    for f in flags:
        by_record.setdefault(f["record_id"], []).append(f)
    events = load_events(db)
    states = derive(events, flags)
    reviewers_of: dict[int, set] = {}
    for e in events:
        reviewers_of.setdefault(e["record_id"], set()).add(e["user"])
    scores = _latest_scores(db)
    claims = live_claims(db, at)
    records = {
        r["id"]: r
        for r in db.query(
            "SELECT r.id, r.hospital_id, h.name AS hospital_name, r.admission_no, r.sex, r.age,"
            " r.department, r.admit_at, r.discharge_at FROM records r"
            " LEFT JOIN hospitals h ON h.id = r.hospital_id"
        )
    }
    items, counts = [], {s: 0 for s in STATUSES}
    for rid, rflags in by_record.items():
        rec = records.get(rid)
        if rec is None:
            continue
        active = [f for f in rflags if states[f["id"]].state != "withdrawn"]
        if not active:
            continue
        status = record_status(states[f["id"]] for f in active)
        counts[status] += 1
        if flt.hospital and rec["hospital_id"] != flt.hospital:
            continue
        if flt.rule and not any(f["rule_id"] == flt.rule for f in active):
            continue
        if flt.status and status != flt.status:
            continue
        if flt.reviewer and flt.reviewer not in reviewers_of.get(rid, ()):
            continue
        day = (rec["discharge_at"] or rec["admit_at"] or "")[:10]
        if flt.date_from and (not day or day < flt.date_from):
            continue
        if flt.date_to and (not day or day > flt.date_to):
            continue
        sc = scores.get(rid)
        claim = claims.get(rid)
        items.append(
            {
                **rec,
                "probability": sc["probability"] if sc else None,
                "model_version": sc["model_version"] if sc else None,
                "n_flags": len(active),
                "n_pending": sum(states[f["id"]].state == "pending" for f in active),
                "max_severity": "明确违规" if any(f["severity"] == "明确违规" for f in active) else "可疑",
                "amount": round(sum(_effective_amount(f, states[f["id"]]) for f in active), 2),
                "rules": sorted({f["rule_id"] for f in active}),
                "status": status,
                "claimed_by": claim["user"] if claim else None,
                "reviewers": sorted(reviewers_of.get(rid, ())),
                "_max_flag_score": max((f["score"] or 0) for f in active),
            }
        )
    # Risk order: classifier probability, then strongest flag, then severity; id breaks ties.
    items.sort(
        key=lambda i: (
            -(i["probability"] if i["probability"] is not None else -1),
            -i["_max_flag_score"],
            i["max_severity"] != "明确违规",
            i["id"],
        )
    )
    if flt.order == "uncertain":
        items = least_certain_first(items)
    for i in items:
        del i["_max_flag_score"]
    total = db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    scored = db.execute(
        "SELECT COUNT(*) FROM records WHERE stage = 'scored' OR id IN (SELECT record_id FROM scores)"
    ).fetchone()[0]
    hospitals = [r[0] for r in db.execute("SELECT DISTINCT hospital_id FROM records WHERE hospital_id IS NOT NULL ORDER BY 1")]
    rules = [r[0] for r in db.execute("SELECT DISTINCT rule_id FROM flags ORDER BY 1")]
    reviewers = [r[0] for r in db.execute("SELECT DISTINCT user FROM reviews ORDER BY 1")]
    return {
        "items": items,
        "counts": counts,
        "coverage": {
            "records": total,
            "scored": scored,
            "flagged": sum(counts.values()),
            "rate": round(scored / total, 4) if total else None,
        },
        "filter": flt.as_dict(),
        "choices": {"hospitals": hospitals, "rules": rules, "reviewers": reviewers, "statuses": list(STATUSES)},
    }


def _effective_amount(flag: dict, st: FlagState) -> float:
    return float(st.amount if st.amount is not None else (flag.get("amount") or 0))


# ---------------------------------------------------------------------------------------------
# Claims


def claim(db, record_id: int, user: str, *, ttl: int = CLAIM_TTL_S, at: _dt.datetime | None = None) -> dict:
    """Take (or refresh) the claim on a record; ClaimConflict if someone else holds a live one."""
    now = _utc(at)
    with transaction(db) as conn:
        _take_case(conn, record_id, user, now, ttl)
    return {"record_id": record_id, "user": user, "expires_at": _iso(now + _dt.timedelta(seconds=ttl))}


def _take_case(conn, record_id: int, user: str, now: _dt.datetime, ttl: int) -> None:
    """Claim a record that must exist (NotFound otherwise), inside the caller's transaction."""
    if conn.execute("SELECT 1 FROM records WHERE id = ?", (record_id,)).fetchone() is None:
        raise NotFound(f"病例不存在: {record_id}")
    _take_claim(conn, record_id, user, now, ttl)


def _take_claim(conn, record_id: int, user: str, now: _dt.datetime, ttl: int) -> None:
    row = conn.execute("SELECT user, expires_at FROM case_claims WHERE record_id = ?", (record_id,)).fetchone()
    if row and row[0] != user and row[1] > _iso(now):
        raise ClaimConflict(f"该病例正由 {row[0]} 审核中（至 {row[1]}）")
    # One case at a time per reviewer: taking a new case frees the previous one.
    conn.execute("DELETE FROM case_claims WHERE user = ? AND record_id != ?", (user, record_id))
    conn.execute(
        "INSERT OR REPLACE INTO case_claims (record_id, user, claimed_at, expires_at) VALUES (?, ?, ?, ?)",
        (record_id, user, _iso(now), _iso(now + _dt.timedelta(seconds=ttl))),
    )


def release(db, record_id: int, user: str) -> None:
    with transaction(db) as conn:
        conn.execute("DELETE FROM case_claims WHERE record_id = ? AND user = ?", (record_id, user))


def claim_holder(db, record_id: int, at: _dt.datetime | None = None) -> str | None:
    row = db.execute(
        "SELECT user FROM case_claims WHERE record_id = ? AND expires_at > ?", (record_id, _iso(_utc(at)))
    ).fetchone()
    return row[0] if row else None


def claim_next(
    db, user: str, flt: QueueFilter | None = None, *, after: int | None = None,
    ttl: int = CLAIM_TTL_S, at: _dt.datetime | None = None,
) -> int | None:
    """Claim the first pending case in queue order (riskiest, or least certain) that nobody else
    holds; ``after`` starts behind that case."""
    flt = QueueFilter(**{**(flt or QueueFilter()).__dict__, "status": "pending"})
    ids = [i["id"] for i in queue(db, flt, at=at)["items"]]
    if after in ids:
        k = ids.index(after)
        ids = ids[k + 1:] + ids[:k]
    now = _utc(at)
    with transaction(db) as conn:
        for rid in ids:
            try:
                _take_claim(conn, rid, user, now, ttl)
            except ClaimConflict:
                continue
            return rid
    return None


# ---------------------------------------------------------------------------------------------
# Decisions


def _flag(conn, flag_id: int) -> dict:
    cur = conn.execute("SELECT * FROM flags WHERE id = ?", (flag_id,))
    row = cur.fetchone()
    if row is None:
        raise NotFound(f"疑点不存在: {flag_id}")
    return dict(zip([d[0] for d in cur.description], row))


def _score_version(conn, record_id: int) -> str | None:
    row = conn.execute(
        "SELECT s.model_version FROM scores s LEFT JOIN model_versions m ON m.id = s.model_version"
        " WHERE s.record_id = ? ORDER BY COALESCE(m.created_at, s.created_at) DESC, s.id DESC LIMIT 1",
        (record_id,),
    ).fetchone()
    return row[0] if row else None


def decide(
    db, user: str, flag_id: int, action: str, *, reason_code: str | None = None,
    note: str | None = None, rule_id: str | None = None, amount: float | None = None,
    ms_spent: int | None = None, ttl: int = CLAIM_TTL_S, at: _dt.datetime | None = None,
) -> dict:
    """Append one decision event (confirm | reject | change | skip) on a flag."""
    if action not in DECISIONS + ("skip",):
        raise ReviewError(f"操作无效: {action!r}")
    note = (note or "").strip()[:2000] or None
    payload: dict[str, Any] = {}
    if action == "reject":
        reason = _reason(reason_code)
        if reason.get("note_required") and not note:
            raise ReviewError("选择“其他”时必须填写备注")
        payload["reason_code"] = reason["code"]
    if action == "change":
        rule_id = (rule_id or "").strip() or None
        if amount is not None:
            try:
                amount = round(float(amount), 2)
            except (TypeError, ValueError):
                raise ReviewError(f"金额无效: {amount!r}") from None
            if amount < 0 or amount != amount:
                raise ReviewError("金额不能为负数")
        if rule_id is None and amount is None:
            raise ReviewError("修改需要新的规则或金额")
        payload.update({"rule_id": rule_id, "amount": amount})
    if ms_spent is not None:
        payload["ms_spent"] = max(0, int(ms_spent))
    if note:
        payload["note"] = note
    now = _utc(at)
    with transaction(db) as conn:
        flag = _flag(conn, flag_id)
        record_id = flag["record_id"]
        _take_claim(conn, record_id, user, now, ttl)
        events = _events_conn(conn, record_id)
        st = derive(events, [flag])[flag_id]
        if st.state == "withdrawn":
            raise ReviewError("该疑点已撤回")
        others = {u for u in st.by_user if u != user}
        payload["round"] = 2 if others else 1
        payload["shown"] = {
            "rule_id": flag["rule_id"],
            "catalogue_version": flag["catalogue_version"],
            "model_version": flag["model_version"],
            "score_model_version": _score_version(conn, record_id),
        }
        event_id = insert_one(
            db, "reviews",
            {"flag_id": flag_id, "record_id": record_id, "user": user, "action": action,
             "payload": dumps(payload), "at": _iso(now)},
        )
    return {"id": event_id, "flag_id": flag_id, "record_id": record_id, "action": action, "payload": payload}


def _events_conn(conn, record_id: int) -> list[dict]:
    cur = conn.execute("SELECT * FROM reviews WHERE record_id = ? ORDER BY id", (record_id,))
    cols = [d[0] for d in cur.description]
    rows = [dict(zip(cols, r)) for r in cur.fetchall()]
    for r in rows:
        r["payload"] = _loads(r["payload"], {})
    return rows


def undo_last(db, user: str, record_id: int, *, ttl: int = CLAIM_TTL_S, at: _dt.datetime | None = None) -> dict:
    """Cancel the user's latest decision or addition on this record that is still in force."""
    now = _utc(at)
    with transaction(db) as conn:
        _take_claim(conn, record_id, user, now, ttl)
        mine = [e for e in effective_events(_events_conn(conn, record_id)) if e["user"] == user]
        if not mine:
            raise ReviewError("没有可撤销的操作")
        target = mine[-1]
        payload = {"target": target["id"], "target_action": target["action"]}
        event_id = insert_one(
            db, "reviews",
            {"flag_id": target["flag_id"], "record_id": record_id, "user": user, "action": "undo",
             "payload": dumps(payload), "at": _iso(now)},
        )
    return {"id": event_id, "flag_id": target["flag_id"], "record_id": record_id, "action": "undo", "payload": payload}


def add_flag(
    db, user: str, record_id: int, *, rule_id: str, rule_name: str | None = None,
    reason: str | None = None, amount: float | None = None, severity: str = "可疑",
    line_ids: Iterable[int] = (), charge_ids: Iterable[int] = (), note: str | None = None,
    ms_spent: int | None = None, ttl: int = CLAIM_TTL_S, at: _dt.datetime | None = None,
) -> dict:
    """Record a flag the system missed, with evidence from the selected lines / charge lines."""
    rule_id = (rule_id or "").strip()
    if not rule_id:
        raise ReviewError("新增疑点需要规则编号")
    if severity not in ("明确违规", "可疑"):
        raise ReviewError(f"严重程度无效: {severity!r}")
    line_ids = sorted({int(i) for i in line_ids})
    charge_ids = sorted({int(i) for i in charge_ids})
    if not line_ids and not charge_ids:
        raise ReviewError("新增疑点需要选择证据文字行或费用行")
    now = _utc(at)
    with transaction(db) as conn:
        _take_case(conn, record_id, user, now, ttl)
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
            total += row[0] or 0
        if amount is None:
            amount = total
        try:
            amount = round(float(amount), 2)
        except (TypeError, ValueError):
            raise ReviewError(f"金额无效: {amount!r}") from None
        if amount < 0:
            raise ReviewError("金额不能为负数")
        flag_id = insert_one(
            db, "flags",
            {"record_id": record_id, "rule_id": rule_id, "rule_name": (rule_name or "").strip() or None,
             "key": f"reviewer:{secrets.token_hex(6)}", "severity": severity, "score": None,
             "reason": (reason or "").strip()[:2000] or None, "amount": amount,
             "evidence": dumps(evidence), "charge_ids": dumps(charge_ids), "source": "reviewer",
             "created_at": _iso(now)},
        )
        payload = {"rule_id": rule_id, "amount": amount, "line_ids": line_ids, "charge_ids": charge_ids,
                   "shown": {"score_model_version": _score_version(conn, record_id)}}
        if note:
            payload["note"] = note.strip()[:2000]
        if ms_spent is not None:
            payload["ms_spent"] = max(0, int(ms_spent))
        event_id = insert_one(
            db, "reviews",
            {"flag_id": flag_id, "record_id": record_id, "user": user, "action": "add",
             "payload": dumps(payload), "at": _iso(now)},
        )
    return {"id": event_id, "flag_id": flag_id, "record_id": record_id, "action": "add", "payload": payload}


# ---------------------------------------------------------------------------------------------
# Case view


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
    """Everything the case view shows, as plain data (the HTML page and /api/cases/{id})."""
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
        expl = [e for e in _loads(sc["explanation"], []) if isinstance(e, dict)]
        expl.sort(key=lambda e: -abs(e.get("weight") or 0))
        score = {"probability": sc["probability"], "model_version": sc["model_version"], "top": expl[:5]}

    flag_rows = list(db.query("SELECT * FROM flags WHERE record_id = ? ORDER BY id", [record_id]))
    events = load_events(db, [record_id])
    states = derive(events, flag_rows)
    flags = []
    for f in flag_rows:
        st = states[f["id"]]
        if st.state == "withdrawn":
            continue
        ev = [e for e in _loads(f["evidence"], []) if isinstance(e, dict)]
        flags.append({
            "id": f["id"], "rule_id": f["rule_id"], "rule_name": f["rule_name"], "category": f["category"],
            "severity": f["severity"], "score": f["score"], "reason": f["reason"], "amount": f["amount"],
            "evidence": ev, "charge_ids": [int(c) for c in _loads(f["charge_ids"], []) if str(c).isdigit()],
            "catalogue_version": f["catalogue_version"], "model_version": f["model_version"],
            "source": f["source"], "legal_basis": legal_basis(f["rule_id"]),
            "state": st.state, "decided_by": st.by, "decided_at": st.at, "reason_code": st.reason_code,
            "note": st.note, "changed_rule_id": st.rule_id, "changed_amount": st.amount,
            "by_user": st.by_user,
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
                hl_lines.setdefault(int(e["line_id"]), []).append(e.get("text") or "")
        w, h = page["width"] or 0, page["height"] or 0
        for f, e in ev_here:
            b = e.get("bbox")
            if not (isinstance(b, (list, tuple)) and len(b) == 4 and w and h):
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
            ln["box"] = ([round(100 * ln["x0"] / w, 3), round(100 * ln["y0"] / h, 3),
                          round(100 * ln["x1"] / w, 3), round(100 * ln["y1"] / h, 3)]
                         if w and h and ln["x0"] is not None else None)
            # A needle not found verbatim in the line (OCR vs. normalized text) marks the whole line.
            ln["segments"] = _segments(ln["text"], needles or [])
            if needles and not any(s[1] for s in ln["segments"]):
                ln["segments"] = [(ln["text"], True)]
            lines.append(ln)

    from pipeline.entity_review import record_entities   # it builds on this module's claims
    entities = record_entities(db, record_id)
    flagged_charges = {c for f in flags for c in f["charge_ids"]}
    charges = list(db.query(
        "SELECT c.id, c.seq, c.source, c.at, c.item_code, c.item_name, c.category, c.qty, c.unit_price, c.amount,"
        " c.page_id, p.page_no FROM charges c LEFT JOIN pages p ON p.id = c.page_id WHERE c.record_id = ?"
        " ORDER BY c.source, c.seq", [record_id]))
    for c in charges:
        c["flagged"] = c["id"] in flagged_charges
        c["current"] = bool(current and c["id"] in current["charge_ids"])
    return {
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
        "claimed_by": claim_holder(db, record_id, at),
        "can_undo": bool(user and any(e["user"] == user for e in effective_events(events))),
        "history": [
            {"id": e["id"], "flag_id": e["flag_id"], "user": e["user"], "action": e["action"], "at": e["at"],
             "reason_code": e["payload"].get("reason_code"), "round": e["payload"].get("round")}
            for e in events
        ],
    }


def next_flag_id(case: dict, after_flag_id: int | None) -> int | None:
    """The next pending flag of the case after ``after_flag_id`` (wrapping), else None."""
    flags = case["flags"]
    ids = [f["id"] for f in flags]
    k = ids.index(after_flag_id) + 1 if after_flag_id in ids else 0
    order = flags[k:] + flags[:k]
    return next((f["id"] for f in order if f["state"] == "pending"), None)


# ---------------------------------------------------------------------------------------------
# Lead auditor: agreement, second review, export


def agreement(db) -> dict:
    """Pairwise agreement between reviewers on flags that two or more of them decided."""
    flags = list(db.query("SELECT id, record_id, rule_id, source FROM flags"))
    states = derive(load_events(db), flags)
    pairs: dict[tuple[str, str], list[int]] = {}
    disagreements = []
    agree = total = 0
    for f in flags:
        by = states[f["id"]].by_user
        users = sorted(by)
        for i in range(len(users)):
            for j in range(i + 1, len(users)):
                same = by[users[i]] == by[users[j]]
                p = pairs.setdefault((users[i], users[j]), [0, 0])
                p[0] += same
                p[1] += 1
                agree += same
                total += 1
        if len(set(by.values())) > 1:
            disagreements.append({"flag_id": f["id"], "record_id": f["record_id"], "rule_id": f["rule_id"],
                                  "by_user": by, "state": states[f["id"]].state})
    return {
        "rate": round(agree / total, 4) if total else None,
        "pairs_compared": total,
        "by_pair": [{"a": a, "b": b, "agree": v[0], "n": v[1], "rate": round(v[0] / v[1], 4)}
                    for (a, b), v in sorted(pairs.items())],
        "disagreements": disagreements,
    }


def second_review_sample(db, *, rate: float = 0.1, seed: str = "medreview") -> list[dict]:
    """Flags decided by exactly one reviewer, chosen by a stable hash so the sample never shifts."""
    flags = list(db.query("SELECT id, record_id, rule_id, source FROM flags"))
    states = derive(load_events(db), flags)
    out = []
    for f in flags:
        st = states[f["id"]]
        if len(st.by_user) != 1 or st.state == "withdrawn":
            continue
        h = int(hashlib.sha256(f"{seed}:{f['id']}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        if h < rate:
            out.append({"flag_id": f["id"], "record_id": f["record_id"], "rule_id": f["rule_id"],
                        "state": st.state, "by": st.by})
    return out


EXPORT_COLUMNS = (
    "hospital_id", "admission_no", "record_id", "flag_id", "rule_id", "rule_name", "category", "severity",
    "amount", "reason", "evidence_pages", "source", "confirmed_by", "confirmed_at", "note",
    "catalogue_version", "model_version",
)


def confirmed_findings(db) -> list[dict]:
    flags = list(db.query(
        "SELECT f.*, r.hospital_id, r.admission_no FROM flags f JOIN records r ON r.id = f.record_id ORDER BY f.record_id, f.id"))
    states = derive(load_events(db), flags)
    out = []
    for f in flags:
        st = states[f["id"]]
        if st.state != "confirmed":
            continue
        ev = _loads(f["evidence"], [])
        out.append({
            "hospital_id": f["hospital_id"], "admission_no": f["admission_no"], "record_id": f["record_id"],
            "flag_id": f["id"], "rule_id": st.rule_id or f["rule_id"], "rule_name": f["rule_name"],
            "category": f["category"], "severity": f["severity"], "amount": _effective_amount(f, st),
            "reason": f["reason"],
            "evidence_pages": ",".join(str(p) for p in sorted({e.get("page_no") for e in ev if isinstance(e, dict) and e.get("page_no")})),
            "source": f["source"], "confirmed_by": st.by, "confirmed_at": st.at, "note": st.note,
            "catalogue_version": f["catalogue_version"], "model_version": f["model_version"],
        })
    return out


def findings_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=EXPORT_COLUMNS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        # Spreadsheet formula injection: record text must not start a formula in Excel.
        w.writerow({k: ("'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v) for k, v in r.items()})
    return "\ufeff" + buf.getvalue()
