"""Masking of patient names and ID numbers in everything exported (reports, annotations).

Known values (the record's ``patient_name`` / ``id_number`` fields) are replaced wherever
they occur; ID-number shaped digit runs and text after a 姓名 label are masked as well, so
free text (evidence, notes) does not leak what segmentation missed.
"""
from __future__ import annotations

import re
from typing import Iterable

# 18-digit resident ID (last char may be X) or the old 15-digit form, not inside a longer number.
ID_RE = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
NAME_LABEL_RE = re.compile(r"((?:患者)?姓\s*名\s*[:：]?\s*)([\u4e00-\u9fff·]{2,5}?)(?=[\s，,。；;:：、（(]|性别|$)")


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


def mask_text(text: str | None, names: Iterable[str] = (), ids: Iterable[str] = ()) -> str | None:
    if not text:
        return text
    for n in sorted({n.strip() for n in names if n and len(n.strip()) >= 2}, key=len, reverse=True):
        text = text.replace(n, mask_name(n))
    for i in sorted({i.strip() for i in ids if i and i.strip()}, key=len, reverse=True):
        text = text.replace(i, mask_id(i))
    text = ID_RE.sub(lambda m: mask_id(m.group(1)), text)
    return NAME_LABEL_RE.sub(lambda m: m.group(1) + mask_name(m.group(2)), text)


TEXT_KEYS = ("evidence_text", "reason", "note")


def mask_finding(row: dict) -> dict:
    """A copy of a findings row with the patient's name and ID number masked everywhere."""
    names = [row.get("patient_name") or ""]
    ids = [row.get("id_number") or ""]
    out = dict(row)
    out["patient_name"] = mask_name(row.get("patient_name"))
    out["id_number"] = mask_id(row.get("id_number"))
    for k in TEXT_KEYS:
        if isinstance(out.get(k), str):
            out[k] = mask_text(out[k], names, ids)
    return out
