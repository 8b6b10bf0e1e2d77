"""Claims CSV ↔ record: link the hospital's claims rows by (hospital, admission no.) and
report where they disagree with the record's own 费用清单.

An admission number that two records of one hospital share is reported for both
(``segment_issues``) and its claims are left unlinked rather than merged into either. The linked
rows' insurance and visit type (optional claims columns) become the record's.
"""
from __future__ import annotations

from pipeline import store
from pipeline.segment.model import squash

QTY_TOL = 1e-6
AMOUNT_TOL = 0.005


def norm_admission_no(value: str | None) -> str | None:
    v = "".join((value or "").split()).upper()
    return v or None


def _issue(db, record_id: int, kind: str, detail: dict | None) -> None:
    store.insert_one(db, "segment_issues", {"record_id": record_id, "kind": kind, "detail": detail,
                                             "created_at": store.now()}, on_conflict="replace")


def link(db, record_id: int, hospital_id: str | None, admission_no: str | None) -> None:
    """Link claims rows to the record and rewrite its mismatch report (inside a transaction)."""
    adm = norm_admission_no(admission_no)
    db.execute("DELETE FROM segment_issues WHERE record_id = ? AND kind IN ('no_admission_no', 'duplicate_admission_no')",
               (record_id,))
    db.execute("DELETE FROM charge_mismatches WHERE record_id = ?", (record_id,))
    # Claims linked earlier under another admission number are no longer this record's.
    db.execute("UPDATE charges SET record_id = NULL WHERE source = 'claims' AND record_id = ?", (record_id,))
    db.execute("UPDATE records SET insurance_type = NULL, visit_type = NULL WHERE id = ?", (record_id,))
    if adm is None:
        _issue(db, record_id, "no_admission_no", None)
        return
    same = [r[0] for r in db.execute(
        "SELECT id FROM records WHERE hospital_id IS ? AND admission_no = ? AND id != ? ORDER BY id",
        (hospital_id, adm, record_id))]
    if same:
        ids = sorted(same + [record_id])
        marks = ",".join("?" * len(same))
        db.execute(f"UPDATE charges SET record_id = NULL WHERE source = 'claims' AND record_id IN ({marks})", same)
        db.execute(f"DELETE FROM charge_mismatches WHERE record_id IN ({marks})", same)
        for rid in ids:
            _issue(db, rid, "duplicate_admission_no", {"hospital_id": hospital_id, "record_ids": ids})
        return
    db.execute(
        "UPDATE charges INDEXED BY charges_claims_admission SET record_id = ? WHERE source = 'claims'"
        " AND UPPER(REPLACE(TRIM(admission_no), ' ', '')) = ? AND hospital_id IS ?",
        (record_id, adm, hospital_id))
    carry_types(db, record_id)
    compare(db, record_id)


TYPE_COLUMNS = ("insurance_type", "visit_type")


def carry_types(db, record_id: int) -> None:
    """The record's insurance and visit type: the one value its claims rows give; none, or rows
    that disagree (reported as ``conflicting_<column>``), leave it unknown."""
    values = {}
    for col in TYPE_COLUMNS:
        found = sorted(r[0] for r in db.execute(
            f"SELECT DISTINCT {col} FROM charges WHERE record_id = ? AND source = 'claims' AND {col} IS NOT NULL",
            (record_id,)))
        if len(found) > 1:
            _issue(db, record_id, f"conflicting_{col}", {"values": found})
        values[col] = found[0] if len(found) == 1 else None
    db.execute("UPDATE records SET insurance_type = ?, visit_type = ? WHERE id = ?",
               (values["insurance_type"], values["visit_type"], record_id))


def _groups(rows: list[dict], use_code: bool) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for r in rows:
        key = (r["item_code"] or "").strip().upper() if use_code and r["item_code"] else "name:" + squash(r["item_name"] or "")
        g = out.setdefault(key, {"qty": 0.0, "amount": 0.0, "ids": [], "code": r["item_code"], "name": r["item_name"]})
        g["qty"] += r["qty"] or 0.0
        g["amount"] += r["amount"] or 0.0
        g["ids"].append(r["id"])
    return out


def compare(db, record_id: int) -> int:
    """Write charge_mismatches for the record; returns the number of rows written."""
    def rows(source):
        return list(db.query("SELECT id, item_code, item_name, qty, amount FROM charges"
                             " WHERE record_id = ? AND source = ? ORDER BY seq", [record_id, source]))
    claims, bill = rows("claims"), rows("bill")
    now = store.now()
    if not claims or not bill:
        if claims or bill:
            kind = "no_claims" if bill else "no_bill"
            return store.insert_many(db, "charge_mismatches", [{
                "record_id": record_id, "kind": kind, "item_key": "", "created_at": now,
                "claims_amount": sum(r["amount"] or 0 for r in claims),
                "bill_amount": sum(r["amount"] or 0 for r in bill)}])
        return 0
    use_code = any(r["item_code"] for r in claims) and any(r["item_code"] for r in bill)
    cg, bg = _groups(claims, use_code), _groups(bill, use_code)
    out = []
    for key in sorted(set(cg) | set(bg)):
        c, b = cg.get(key), bg.get(key)
        base = {"record_id": record_id, "item_key": key, "created_at": now,
                "item_code": (c or b)["code"], "item_name": (c or b)["name"],
                "claims_qty": c and c["qty"], "bill_qty": b and b["qty"],
                "claims_amount": c and round(c["amount"], 2), "bill_amount": b and round(b["amount"], 2),
                "claims_charge_ids": c["ids"] if c else [], "bill_charge_ids": b["ids"] if b else []}
        if b is None:
            out.append({**base, "kind": "missing_in_bill"})
        elif c is None:
            out.append({**base, "kind": "missing_in_claims"})
        else:
            if abs(c["qty"] - b["qty"]) > QTY_TOL:
                out.append({**base, "kind": "qty_diff"})
            if abs(c["amount"] - b["amount"]) > AMOUNT_TOL:
                out.append({**base, "kind": "amount_diff"})
    return store.insert_many(db, "charge_mismatches", out)
