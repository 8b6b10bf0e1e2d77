"""Masking of patient names, ID numbers and phone numbers in everything exported (reports,
annotations, the review UI's findings export).

Known values (the record's ``patient_name`` / ``id_number`` fields) are replaced wherever they
occur; ID-number and phone-number shaped digit runs and text after a name label (姓名, 联系人, …)
are masked as well, so free text (evidence, notes, reasons) does not leak what segmentation
missed. Every mask keeps the text's length, so character offsets into masked text still hold.
"""
from __future__ import annotations

import re
from typing import Iterable

# 18-digit resident ID (last char may be X) or the old 15-digit form, not inside a longer number.
ID_RE = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
# Mainland mobile numbers (optionally +86 / 86 in front) and landlines with an area code.
MOBILE_RE = re.compile(r"(?<![0-9])((?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4})(?![0-9])")
LANDLINE_RE = re.compile(r"(?<![0-9])(0\d{2,3}[- ]\d{7,8})(?![0-9])")
# Digits after a phone or ID label that the shapes above miss (short, spaced or mistyped numbers).
LABELLED_NUMBER_RE = re.compile(
    r"((?:联系电话|电话|手机号?码?|联系方式|身份证号?码?|证件号码?)\s*[:：]?\s*)([0-9Xx][0-9Xx -]{5,22}[0-9Xx])")
NAME_LABEL_RE = re.compile(
    r"((?:(?:患者|病人)?姓\s*名\s*[:：]?|(?:联系人|家属|监护人|陪护人?)(?:姓\s*名)?\s*[:：])\s*)"
    r"([\u4e00-\u9fff·]{2,5}?)(?=[\s，,。；;:：、（(]|性别|电话|手机|关系|$)")


def mask_name(name: str | None) -> str | None:
    """张三丰 -> 张**: the surname stays so a reviewer can still tell cases apart on paper."""
    if not name:
        return name
    name = name.strip()
    return name[:1] + "*" * max(1, len(name) - 1)


def mask_id(number: str | None) -> str | None:
    """110101199001011234 -> 110101********1234 (birth date hidden)."""
    if not number:
        return number
    n = number.strip()
    if len(n) <= 8:
        return "*" * len(n)
    return n[:6] + "*" * (len(n) - 10) + n[-4:]


def mask_digits(text: str, keep_head: int, keep_tail: int = 4) -> str:
    """Digits (and X) between the first ``keep_head`` and the last ``keep_tail`` become ``*``;
    separators stay, so the length does not change."""
    pos = [i for i, c in enumerate(text) if c.isdigit() or c in "Xx"]
    hide = set(pos[keep_head:len(pos) - keep_tail]) if len(pos) > keep_head + keep_tail else set(pos)
    return "".join("*" if i in hide else c for i, c in enumerate(text))


def mask_phone(number: str) -> str:
    """13812345678 -> 138****5678; 010-12345678 -> 010-****5678."""
    digits = sum(c.isdigit() for c in number)
    head = digits - 8 if digits >= 11 else 3     # keep the operator or area prefix
    return mask_digits(number, max(0, head), 4)


def mask_text(text: str | None, names: Iterable[str] = (), ids: Iterable[str] = ()) -> str | None:
    if not text:
        return text
    for n in sorted({n.strip() for n in names if n and len(n.strip()) >= 2}, key=len, reverse=True):
        text = text.replace(n, mask_name(n))
    for i in sorted({i.strip() for i in ids if i and i.strip()}, key=len, reverse=True):
        text = text.replace(i, mask_id(i))
    text = ID_RE.sub(lambda m: mask_id(m.group(1)), text)
    text = MOBILE_RE.sub(lambda m: mask_phone(m.group(1)), text)
    text = LANDLINE_RE.sub(lambda m: mask_phone(m.group(1)), text)
    text = LABELLED_NUMBER_RE.sub(lambda m: m.group(1) + mask_digits(m.group(2), 0, 4), text)
    return NAME_LABEL_RE.sub(lambda m: m.group(1) + mask_name(m.group(2)), text)


TEXT_KEYS = ("evidence_text", "reason", "note")


def mask_finding(row: dict, names: Iterable[str] = (), ids: Iterable[str] = ()) -> dict:
    """A copy of a findings row with the patient's name and ID number masked everywhere (the
    row's own ``patient_name`` / ``id_number`` and any ``names`` / ``ids`` given)."""
    names = [row.get("patient_name") or "", *names]
    ids = [row.get("id_number") or "", *ids]
    out = dict(row)
    if "patient_name" in row:
        out["patient_name"] = mask_name(row.get("patient_name"))
    if "id_number" in row:
        out["id_number"] = mask_id(row.get("id_number"))
    for k in TEXT_KEYS:
        if isinstance(out.get(k), str):
            out[k] = mask_text(out[k], names, ids)
    return out


def identities(db, record_ids: Iterable[int]) -> dict[int, dict[str, list[str]]]:
    """record id -> {"patient_name": [...], "id_number": [...]}: the values masking replaces."""
    ids = sorted(set(record_ids))
    out: dict[int, dict[str, list[str]]] = {}
    for k in range(0, len(ids), 500):
        chunk = ids[k:k + 500]
        for rid, name, value in db.execute(
                "SELECT record_id, name, value FROM fields WHERE name IN ('patient_name', 'id_number')"
                f" AND record_id IN ({','.join('?' * len(chunk))})", chunk):
            out.setdefault(rid, {}).setdefault(name, []).append(value or "")
    return out


def mask_findings(db, rows: list[dict]) -> list[dict]:
    """Findings rows (``pipeline.review.confirmed_findings``) with their free text masked using
    each record's known name and ID number."""
    who = identities(db, (r["record_id"] for r in rows))
    return [mask_finding(r, who.get(r["record_id"], {}).get("patient_name", ()),
                         who.get(r["record_id"], {}).get("id_number", ())) for r in rows]
