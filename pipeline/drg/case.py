"""What the grouper reads about one stay (README "Input"), and how the reference CSV spells it:
numbers parsed as the reference does (``12`` and ``12.0`` are the integer 12, anything else stays
a string, an empty field is absent), diagnosis and procedure codes split on ``|`` or ``,``."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

COLUMNS = ("Index", "gender", "age", "ageDay", "weight", "dept", "inHospitalTime", "leavingType", "ICD10_DRGS", "ICD9_DRGS")
_SPLIT = re.compile(r"[|,]")


@dataclass
class Case:
    index: str = ""
    sex: int | str | None = None          # 1 male, 2 female (男/女 pass validation but match no sex condition)
    age: int | str | None = None          # whole years
    age_day: int | str | None = None      # age in days (infants)
    weight: int | str | None = None       # birth weight, grams
    dept: str | None = None
    los: int | str | None = None          # length of stay, days (not used by CHS-DRG 1.1)
    leaving_type: int | str | None = None  # 离院方式 code (not used by CHS-DRG 1.1)
    dx: list[str] = field(default_factory=list)   # main diagnosis first
    px: list[str] = field(default_factory=list)   # main procedure first

    def to_row(self) -> dict[str, str]:
        """The case as a row of the reference CSV."""
        def s(v):
            return "" if v is None else str(v)
        return {"Index": self.index, "gender": s(self.sex), "age": s(self.age), "ageDay": s(self.age_day),
                "weight": s(self.weight), "dept": s(self.dept), "inHospitalTime": s(self.los),
                "leavingType": s(self.leaving_type), "ICD10_DRGS": "|".join(self.dx), "ICD9_DRGS": "|".join(self.px)}


def number(raw: str | None) -> int | str | None:
    """A numeric field as the reference reads it: absent, an integer, or the string as written."""
    if raw is None:
        return None
    s = raw.strip()
    if not s:
        return None
    try:
        return int(s)
    except ValueError:
        pass
    try:
        f = float(s)
    except ValueError:
        return s
    return int(f) if math.isfinite(f) and f.is_integer() else s


def codes(raw: str | None, *, empty_is_one: bool) -> list[str]:
    """Codes split on ``|`` or ``,``; an empty diagnosis field is one empty code (``[""]``), an
    empty procedure field no procedure (README "Parsing")."""
    s = (raw or "").strip()
    if not s:
        return [""] if empty_is_one else []
    return [c.strip() for c in _SPLIT.split(s)]


def from_row(row: dict[str, str | None]) -> Case:
    """A case from a CSV row with the reference's columns (extra columns ignored)."""
    return Case(
        index=(row.get("Index") or "").strip(),
        sex=number(row.get("gender")),
        age=number(row.get("age")),
        age_day=number(row.get("ageDay")),
        weight=number(row.get("weight")),
        dept=(row.get("dept") or "").strip() or None,
        los=number(row.get("inHospitalTime")),
        leaving_type=number(row.get("leavingType")),
        dx=codes(row.get("ICD10_DRGS"), empty_is_one=True),
        px=codes(row.get("ICD9_DRGS"), empty_is_one=False),
    )
