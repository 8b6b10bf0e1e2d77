"""The lead auditor's checks: progress per reviewer and per hospital (decided and pending, time per
case, decisions per day), agreement between reviewers (pairwise and Cohen's κ per rule) on the
flags two of them decided, and a stable sample of single-reviewer decisions for a blind second
review, whose rate the lead sets once and which says why when it is empty."""
from __future__ import annotations

import hashlib
import statistics
from collections import defaultdict

from pipeline.clock import iso, utc
from pipeline.review import assign, audit
from pipeline.review.errors import ReviewError
from pipeline.review.events import load_events
from pipeline.review.reasons import rule_name
from pipeline.review.state import DECISIONS, derive, effective_events
from pipeline.review.values import stored_number
from pipeline.store import transaction

SAMPLE_RATE_KEY = "review.second_review_rate"
DEFAULT_SAMPLE_RATE = 0.1


def _flags(db) -> list[dict]:
    return list(db.query(
        "SELECT f.id, f.record_id, f.rule_id, f.rule_name, f.source, r.hospital_id, r.admission_no,"
        " h.name AS hospital_name FROM flags f JOIN records r ON r.id = f.record_id"
        " LEFT JOIN hospitals h ON h.id = r.hospital_id"))


def _first_two(st) -> tuple[str, str] | None:
    """The first decision of each of the first two reviewers of a flag: (first, second)."""
    order = []
    for e in effective_events(st.events):
        if e["action"] in DECISIONS and e["user"] not in order:
            order.append(e["user"])
    if len(order) < 2:
        return None
    return st.by_user[order[0]], st.by_user[order[1]]


def kappa(pairs: list[tuple[str, str]]) -> float | None:
    """Cohen's κ of two raters over ``pairs`` of labels; None when chance agreement is total
    (both raters gave one same label throughout: κ is undefined)."""
    n = len(pairs)
    if not n:
        return None
    labels = {x for p in pairs for x in p}
    po = sum(a == b for a, b in pairs) / n
    pe = sum((sum(a == lab for a, _ in pairs) / n) * (sum(b == lab for _, b in pairs) / n) for lab in labels)
    if pe >= 1.0:
        return None
    return round((po - pe) / (1 - pe), 4)


def agreement(db) -> dict:
    """Pairwise agreement between reviewers, and Cohen's κ per rule between the first and the
    second reviewer of each flag that two or more decided."""
    flags = _flags(db)
    states = derive(load_events(db), flags)
    pairs: dict[tuple[str, str], list[int]] = {}
    per_rule: dict[str, list[tuple[str, str]]] = defaultdict(list)
    names: dict[str, str | None] = {}
    disagreements = []
    agree = total = 0
    for f in flags:
        st = states[f["id"]]
        by = st.by_user
        users = sorted(by)
        for i in range(len(users)):
            for j in range(i + 1, len(users)):
                same = by[users[i]] == by[users[j]]
                p = pairs.setdefault((users[i], users[j]), [0, 0])
                p[0] += same
                p[1] += 1
                agree += same
                total += 1
        two = _first_two(st)
        if two:
            per_rule[f["rule_id"]].append(two)
            names[f["rule_id"]] = f["rule_name"]
        if len(set(by.values())) > 1:
            disagreements.append({"flag_id": f["id"], "record_id": f["record_id"], "rule_id": f["rule_id"],
                                  "rule_name": rule_name(f["rule_id"], f["rule_name"]),
                                  "hospital_name": f["hospital_name"] or f["hospital_id"],
                                  "admission_no": f["admission_no"], "by_user": by, "state": st.state})
    by_rule = []
    for rid, ps in sorted(per_rule.items()):
        by_rule.append({"rule_id": rid, "rule_name": rule_name(rid, names.get(rid)), "n": len(ps),
                        "agree": sum(a == b for a, b in ps), "kappa": kappa(ps)})
    all_pairs = [p for ps in per_rule.values() for p in ps]
    return {
        "rate": round(agree / total, 4) if total else None,
        "pairs_compared": total,
        "kappa": kappa(all_pairs), "kappa_n": len(all_pairs),
        "by_pair": [{"a": a, "b": b, "agree": v[0], "n": v[1], "rate": round(v[0] / v[1], 4)}
                    for (a, b), v in sorted(pairs.items())],
        "by_rule": by_rule,
        "disagreements": disagreements,
    }


def sample_rate(db) -> float:
    """The second-review sample rate the lead set (kept in ``settings``), else the default."""
    row = db.execute("SELECT value FROM settings WHERE key = ?", (SAMPLE_RATE_KEY,)).fetchone()
    value = stored_number(row[0]) if row else None
    return value if value is not None and 0 <= value <= 1 else DEFAULT_SAMPLE_RATE


def set_sample_rate(db, rate: float, by: str, *, ip: str | None = None) -> float:
    """Keep the second-review sample rate (0–1) for every later visit; audited."""
    rate = stored_number(rate)
    if rate is None or not 0 <= rate <= 1:
        raise ReviewError("抽样比例须在 0 到 1 之间（例如 0.1 表示 10%）", field="sample_rate")
    with transaction(db) as conn:
        conn.execute("INSERT INTO settings (key, value, created_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE"
                     " SET value = excluded.value, created_at = excluded.created_at",
                     (SAMPLE_RATE_KEY, repr(rate), iso(utc())))
        audit.record(conn, by, "sample-rate", None, detail={"rate": rate}, ip=ip)
    return rate


def _hashed(seed: str, flag_id: int) -> float:
    return int(hashlib.sha256(f"{seed}:{flag_id}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def second_review_sample(db, *, rate: float = DEFAULT_SAMPLE_RATE, seed: str = "medreview") -> list[dict]:
    """Flags decided by exactly one reviewer, chosen by a stable hash so the sample never shifts,
    with the second reviewer a lead gave each (blind review) if any."""
    return sample(db, rate=rate, seed=seed)["items"]


def sample(db, *, rate: float = DEFAULT_SAMPLE_RATE, seed: str = "medreview") -> dict:
    """The second-review sample and, when it is empty, why (``empty_reason``). A flag already
    given to a second reviewer stays in it whatever the rate is now."""
    flags = _flags(db)
    states = derive(load_events(db), flags)
    seconds = {int(t): u for (k, t), u in assign.current(db, "second").items()}
    eligible, out = 0, []
    for f in flags:
        st = states[f["id"]]
        if st.state == "withdrawn":
            continue
        second = seconds.get(f["id"])
        decided_by = [u for u in st.by_user if u != second]
        if len(decided_by) != 1:
            continue
        eligible += 1
        if second or _hashed(seed, f["id"]) < rate:
            first = decided_by[0]
            out.append({"flag_id": f["id"], "record_id": f["record_id"], "rule_id": f["rule_id"],
                        "rule_name": rule_name(f["rule_id"], f["rule_name"]),
                        "hospital_name": f["hospital_name"] or f["hospital_id"], "admission_no": f["admission_no"],
                        "state": st.by_user[first], "by": first, "second": second,
                        "second_done": bool(second and second in st.by_user)})
    why = None
    if not out:
        if rate <= 0:
            why = "抽样比例为 0，不抽样。"
        elif not eligible:
            why = "尚无只经一位审核员决定的疑点，暂无可抽的样本。"
        else:
            why = f"按当前比例 {rate:.0%} 在 {eligible} 条可抽疑点中没有抽中，可提高抽样比例。"
    return {"items": out, "eligible": eligible, "rate": rate, "empty_reason": why}


def progress(db) -> dict:
    """Per reviewer: flags and cases decided, pending flags in the cases given to them, time per
    case (from the time the page measured per decision) and per decision; per hospital: flags
    decided and pending and the reviewer it is given to; decisions per day per reviewer."""
    flags = _flags(db)
    events = load_events(db)
    states = derive(events, flags)
    assigned = assign.current(db)
    live = [e for e in effective_events(events) if e["action"] in DECISIONS + ("add",)]
    reviewers: dict[str, dict] = defaultdict(lambda: {"flags": set(), "cases": set(), "ms": defaultdict(int),
                                                      "decisions": 0, "pending": 0})
    days: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for e in live:
        r = reviewers[e["user"]]
        r["flags"].add(e["flag_id"])
        r["cases"].add(e["record_id"])
        r["decisions"] += 1
        ms = stored_number(e["payload"].get("ms_spent"))
        if ms:
            r["ms"][e["record_id"]] += ms
        days[str(e["at"])[:10]][e["user"]] += 1
    hospitals: dict = defaultdict(lambda: {"decided": 0, "pending": 0, "cases": set(), "cases_pending": set()})
    for f in flags:
        st = states[f["id"]]
        if st.state == "withdrawn":
            continue
        h = hospitals[f["hospital_id"]]
        h["name"] = f["hospital_name"] or f["hospital_id"]
        h["cases"].add(f["record_id"])
        if st.state == "pending":
            h["pending"] += 1
            h["cases_pending"].add(f["record_id"])
            owner = assign.case_owner(assigned, f["record_id"], f["hospital_id"])
            if owner:
                reviewers[owner]["pending"] += 1
        else:
            h["decided"] += 1
    rows = []
    for user, r in sorted(reviewers.items()):
        per_case = [ms / 1000 for ms in r["ms"].values()]
        rows.append({"user": user, "flags_decided": len(r["flags"]), "cases": len(r["cases"]),
                     "decisions": r["decisions"], "pending_assigned": r["pending"],
                     "seconds_per_case": round(statistics.median(per_case), 1) if per_case else None,
                     "seconds_total": round(sum(per_case), 1),
                     "seconds_per_decision": round(sum(per_case) / r["decisions"], 1) if per_case and r["decisions"] else None})
    hosp_rows = [{"hospital_id": hid, "name": h["name"], "flags_decided": h["decided"], "flags_pending": h["pending"],
                  "cases": len(h["cases"]), "cases_pending": len(h["cases_pending"]),
                  "assigned_to": assigned.get(("hospital", str(hid)))}
                 for hid, h in sorted(hospitals.items(), key=lambda kv: str(kv[0]))]
    users = sorted(reviewers)
    return {
        "reviewers": rows,
        "hospitals": hosp_rows,
        "days": [{"day": d, "by_user": {u: days[d].get(u, 0) for u in users}, "total": sum(days[d].values())}
                 for d in sorted(days)],
        "day_users": users,
    }
