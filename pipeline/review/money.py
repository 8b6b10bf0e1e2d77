"""Money counted once: an admission's amount at risk is never more than what it billed, and a
charge line two flags rest on counts once in any total.

Each flag's amount is spread over its charge lines (the whole line when the flag's amount is the
lines' sum, else in proportion; a flag without lines, or the part of its amount above its lines,
stands on its own). Within a record the flags are taken largest first: a line already counted
for one flag adds nothing for the next, whose difference is its *overlap*. Last, the record's
total is cut to its bill (费用清单 lines, else the claims rows, else the 病案首页 total), taking
the cut from the smallest flags. Per-flag counted amounts therefore add up to the record's
total, so per-rule, per-hospital and batch totals built from them never count a yuan twice.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from pipeline.review.state import FlagState, effective_amount, parse_json, stored_id
from pipeline.review.values import stored_number

CENT = 0.005


@dataclass
class Counted:
    flag_id: int
    gross: float        # the flag's amount as decided (a reviewer's changed amount replaces the system's)
    counted: float      # what it adds to totals after lines already counted and the bill cap
    overlap: float      # gross - counted: counted under another flag, or above the bill


def count_once(flags: Iterable[dict], lines: dict[int, float], billed: float | None) -> dict[int, Counted]:
    """One record: ``flags`` are ``{"id", "amount", "charge_ids"}`` (amount as decided),
    ``lines`` the amounts of their charge lines, ``billed`` the record's bill (None: unknown)."""
    flags = sorted(flags, key=lambda f: (-(f["amount"] or 0.0), f["id"]))
    left = {cid: max(0.0, a) for cid, a in lines.items()}
    out: dict[int, Counted] = {}
    for f in flags:
        gross = max(0.0, f["amount"] or 0.0)
        ids = [c for c in dict.fromkeys(f.get("charge_ids") or ()) if c in lines]
        on_lines = sum(max(0.0, lines[c]) for c in ids)
        counted = 0.0
        if on_lines > 0:
            share = min(1.0, gross / on_lines)
            for c in ids:
                want = max(0.0, lines[c]) * share
                take = min(want, left[c])
                left[c] -= take
                counted += take
        counted += max(0.0, gross - on_lines)   # what the lines do not cover stands on its own
        out[f["id"]] = Counted(f["id"], round(gross, 2), counted, 0.0)
    total = sum(c.counted for c in out.values())
    if billed is not None and total > billed + CENT:
        excess = total - max(0.0, billed)
        for f in reversed(flags):
            c = out[f["id"]]
            cut = min(excess, c.counted)
            c.counted -= cut
            excess -= cut
            if excess <= CENT:
                break
    for c in out.values():
        c.counted = round(c.counted, 2)
        c.overlap = round(max(0.0, c.gross - c.counted), 2)
    return out


def _chunks(ids: list[int], n: int = 500):
    for k in range(0, len(ids), n):
        yield ids[k:k + n]


def bills(db, record_ids: Iterable[int]) -> dict[int, float]:
    """record id -> what the admission billed: its 费用清单 lines, else its claims rows, else the
    病案首页 total (records with none of them are left out: their bill is unknown)."""
    ids = sorted(set(record_ids))
    by_source: dict[int, dict[str, float]] = {}
    front: dict[int, float] = {}
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        for rid, source, total in db.execute(
                f"SELECT record_id, source, SUM(amount) FROM charges WHERE record_id IN ({marks})"
                " GROUP BY record_id, source", chunk):
            v = stored_number(total)
            if v is not None:
                by_source.setdefault(rid, {})[source] = v
        for rid, value in db.execute(
                f"SELECT record_id, value FROM fields WHERE name = 'total_cost' AND record_id IN ({marks})", chunk):
            v = stored_number(value)
            if v is not None:
                front.setdefault(rid, v)
    out = {}
    for rid in ids:
        src = by_source.get(rid, {})
        for key in ("bill", "claims"):
            if key in src:
                out[rid] = src[key]
                break
        else:
            if rid in front:
                out[rid] = front[rid]
    return out


def line_amounts(db, charge_ids: Iterable[int]) -> dict[int, float]:
    ids = sorted(set(charge_ids))
    out = {}
    for chunk in _chunks(ids):
        for cid, amount in db.execute(
                f"SELECT id, amount FROM charges WHERE id IN ({','.join('?' * len(chunk))})", chunk):
            v = stored_number(amount)
            if v is not None:
                out[cid] = v
    return out


def charge_ids_of(flag: dict) -> list[int]:
    raw = flag.get("charge_ids")
    items = raw if isinstance(raw, list) else parse_json(raw, [])
    return [c for c in map(stored_id, items) if c is not None]


def counted(db, flags: list[dict], states: dict[int, FlagState], *,
            states_counted: tuple[str, ...] = ("confirmed",)) -> dict[int, Counted]:
    """flag id -> Counted for the flags whose state is in ``states_counted``, counted once per
    record (``flags`` are ``flags`` rows with id, record_id, amount and charge_ids)."""
    by_record: dict[int, list[dict]] = {}
    for f in flags:
        if states[f["id"]].state in states_counted:
            by_record.setdefault(f["record_id"], []).append(f)
    billed = bills(db, by_record)
    out: dict[int, Counted] = {}
    shared: dict[int, list[dict]] = {}
    for rid, fs in by_record.items():
        if len(fs) == 1:   # most records: nothing to share a line with, only the bill caps it
            f = fs[0]
            gross = round(max(0.0, effective_amount(f, states[f["id"]])), 2)
            cap = billed.get(rid)
            c = gross if cap is None else round(min(gross, max(0.0, cap)), 2)
            out[f["id"]] = Counted(f["id"], gross, c, round(gross - c, 2))
        else:
            shared[rid] = [{"id": f["id"], "amount": effective_amount(f, states[f["id"]]), "charge_ids": charge_ids_of(f)}
                           for f in fs]
    lines = line_amounts(db, (c for fs in shared.values() for f in fs for c in f["charge_ids"]))
    for rid, fs in shared.items():
        mine = {c: lines[c] for f in fs for c in f["charge_ids"] if c in lines}
        out.update(count_once(fs, mine, billed.get(rid)))
    return out
