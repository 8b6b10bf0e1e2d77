"""Sex, birth date and age cross-checked with the ID number (GB 11643-1999 公民身份号码).

An 18-character number carries the birth date (characters 7–14), the sex (the 17th digit: odd
男, even 女) and a check character over the first 17 (weights 2^(17-i) mod 11); a 15-digit number
(issued before 1999) carries the birth date as YYMMDD (19YY) and the sex in its last digit. A number
whose check character is wrong is not used. Where a field was not read from its label, the value
comes from the ID number (sex, birth) or from the birth date and the admission time (age), marked
by ``Value.source``; where both are there and disagree, the record keeps what was written and the
disagreement is reported (``segment_issues``). An ID number printed without a readable label
(a grid cell the reading split, a form without colons) is taken from the 病案首页's lines when
exactly one valid number is there.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from pipeline.dates import find_datetime, normalize_text
from pipeline.segment.model import Document, Value

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"
_ID_TOKEN = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
AGE_TOLERANCE = 1  # years: a written age may be counted on another day than the admission
ID_DOCS = ("住院病案首页",)


@dataclass(frozen=True)
class IdNumber:
    value: str
    birth: dt.date
    sex: str


def parse_id(text: str | None) -> IdNumber | None:
    """The ID number in ``text`` (spaces and full-width digits allowed) when it is valid."""
    if not text:
        return None
    s = re.sub(r"\s+", "", normalize_text(text)).upper()
    if re.fullmatch(r"\d{17}[\dX]", s):
        if CHECK[sum(int(c) * w for c, w in zip(s[:17], WEIGHTS)) % 11] != s[17]:
            return None
        y, m, d, sex_digit = s[6:10], s[10:12], s[12:14], s[16]
    elif re.fullmatch(r"\d{15}", s):
        y, m, d, sex_digit = "19" + s[6:8], s[8:10], s[10:12], s[14]
    else:
        return None
    try:
        birth = dt.date(int(y), int(m), int(d))
    except ValueError:
        return None
    return IdNumber(s, birth, "男" if int(sex_digit) % 2 else "女")


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _unlabelled_id(docs: list[Document]) -> Value | None:
    found: dict[str, Value] = {}
    for doc in docs:
        if doc.doc_type not in ID_DOCS:
            continue
        for ln in doc.lines:
            for m in _ID_TOKEN.finditer(ln.text):
                if parse_id(m.group(1)):
                    found.setdefault(m.group(1).upper(), Value("id_number", m.group(1).upper(), m.group(1), ln,
                                                               source="text"))
    return next(iter(found.values())) if len(found) == 1 else None


def reconcile(values: list[Value], docs: list[Document]) -> tuple[list[Value], list[tuple[str, dict]]]:
    """Values derived for what was not written, and (issue kind, detail) for disagreements."""
    have = {v.name: v for v in values if v.seq == 0}
    out: list[Value] = []
    issues: list[tuple[str, dict]] = []
    idv = have.get("id_number")
    if idv is None:
        idv = _unlabelled_id(docs)
        if idv is not None:
            out.append(idv)
    ident = parse_id(idv.value) if idv else None
    if idv is not None and ident is None:
        issues.append(("identity_id_invalid", {"length": len(re.sub(r"\s+", "", idv.value or ""))}))
    if ident:
        sex = have.get("sex")
        if sex is None:
            out.append(Value("sex", ident.sex, idv.raw, idv.line, source="id_number"))
        elif sex.value != ident.sex:
            issues.append(("identity_sex_mismatch", {"written": sex.value, "id_number": ident.sex}))
    birth_v = have.get("birth")
    written_birth = find_datetime(birth_v.value)[0].date() if birth_v and birth_v.value and find_datetime(birth_v.value) else None
    if ident and written_birth and written_birth != ident.birth:
        issues.append(("identity_birth_mismatch", {"written": written_birth.isoformat(), "id_number": ident.birth.isoformat()}))
    if ident and birth_v is None:
        out.append(Value("birth", ident.birth.isoformat(), idv.raw, idv.line, source="id_number"))
    born, born_line, born_raw, source = None, None, "", None
    if ident:
        born, born_line, born_raw, source = ident.birth, idv.line, idv.raw, "id_number"
    elif written_birth:
        born, born_line, born_raw, source = written_birth, birth_v.line, birth_v.raw, "birth"
    admit = have.get("admit_at")
    admit_day = find_datetime(admit.value)[0].date() if admit and admit.value and find_datetime(admit.value) else None
    if born and admit_day and born <= admit_day:
        years = age_on(born, admit_day)
        age = have.get("age")
        if age is None:
            out.append(Value("age", str(years), born_raw, born_line, source=source))
        elif age.value is not None and age.value.isdigit() and abs(int(age.value) - years) > AGE_TOLERANCE:
            issues.append(("identity_age_mismatch", {"written": int(age.value), source: years}))
    return out, issues
