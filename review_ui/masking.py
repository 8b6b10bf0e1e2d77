"""What each role sees of a patient's identity on the case page and in its JSON: ID numbers (in
the record summary, the OCR text and the evidence quotes) are masked unless the role may see them.
The page image is the scan itself and is shown as it is."""
from __future__ import annotations

import re

from pipeline.report.mask import mask_id
from review_ui import auth

SEES_ID_NUMBERS = "lead"     # this role and those above it see ID numbers unmasked
# An 18-character resident ID with a plausible birth date. The page's text is full of other long
# digit runs (医保 item codes, bill numbers), which the export masks' looser shape would hide.
RESIDENT_ID = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx])"
                         r"(?![0-9A-Za-z])")


def sees_ids(user: dict) -> bool:
    return auth.has_role(user, SEES_ID_NUMBERS)


def _mask(text, ids):
    if not isinstance(text, str):
        return text
    for i in sorted({i for i in ids if i}, key=len, reverse=True):
        text = text.replace(i, mask_id(i))
    return RESIDENT_ID.sub(lambda m: mask_id(m.group(1)), text)


def mask_case(case: dict, user: dict) -> dict:
    """``case`` (``pipeline.review.case_view``) as ``user`` may see it."""
    if sees_ids(user):
        return case
    ids = [f["value"] for f in case["fields"] if f["name"] == "id_number" and f["value"]]
    for f in case["fields"]:
        if f["name"] == "id_number":
            f["value"], f["raw"] = mask_id(f["value"]), mask_id(f["raw"])
    for row in case["summary"]:
        for v in row["values"]:
            v["value"] = mask_id(v["value"]) if row["name"] == "id_number" else _mask(v["value"], ids)
    for ln in case["lines"]:
        ln["text"] = _mask(ln["text"], ids)
        # Masking keeps the length, but a highlight may end inside a number: mask the parts joined.
        joined = _mask("".join(p for p, _ in ln["segments"]), ids)
        k, parts = 0, []
        for part, hl in ln["segments"]:
            parts.append((joined[k:k + len(part)], hl))
            k += len(part)
        ln["segments"] = parts
    for f in case["flags"]:
        f["reason"] = _mask(f["reason"], ids)
        for e in f["evidence"]:
            e["text"] = _mask(e["text"], ids)
    for e in case["entities"] + case["page_entities"]:
        e["text"] = _mask(e.get("text"), ids)
    case["ids_masked"] = True
    return case
