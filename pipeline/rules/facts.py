"""What the national checks read about the patient and the stay, each with where it was read:
sex, age (birth date or ID number against the admission date, else the 首页 age), the hospital's
level (hospitals.csv), the insurance type and the visit type (the claims export; a record with
admission and discharge times is an inpatient stay). A value the record does not give is unknown
(``Fact.value is None``), never a default, so a check can say it could not judge."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from pipeline.dates import parse_datetime
from pipeline.record.view import Evidence, RecordView

LEVELS = {"一": 1, "二": 2, "三": 3, "1": 1, "2": 2, "3": 3}
LEVEL_NAMES = {1: "一级", 2: "二级", 3: "三级"}
_ID = re.compile(r"\d{6}(\d{4})(\d{2})(\d{2})\d{3}[\dXx]")


@dataclass(frozen=True)
class Fact:
    """One value of the record a check compares with a knowledge point. ``value`` None: unknown;
    ``source``: where it was read (or why it is unknown), shown in reasons and ``flags.knowledge``."""

    name: str
    value: Any
    source: str
    evidence: Evidence | None = None

    @property
    def known(self) -> bool:
        return self.value is not None


@dataclass(frozen=True)
class Age:
    years: int
    days: int | None = None   # exact age in days where the birth date is known


def sex(view: RecordView) -> Fact:
    f = view.field("sex")
    if view.sex in ("男", "女"):
        return Fact("性别", view.sex, "病案首页", view.field_evidence(f) if f else None)
    return Fact("性别", None, "病历中未见患者性别")


def _birth(view: RecordView) -> tuple[dt.date | None, str, Any]:
    f = view.field("birth")
    d = parse_datetime(f.value or "") if f and f.value else None
    if d:
        return d.date(), "出生日期", f
    f = view.field("id_number")
    m = _ID.fullmatch((f.value or "").strip()) if f else None
    if m:
        try:
            return dt.date(int(m[1]), int(m[2]), int(m[3])), "身份证号", f
        except ValueError:
            pass
    return None, "", None


def age(view: RecordView) -> Fact:
    """Age at admission: exact from the birth date (or the ID number), else the 首页's years."""
    admit = view.admit
    born, where, f = _birth(view)
    if born and admit and born <= admit.date():
        a = admit.date()
        years = a.year - born.year - ((a.month, a.day) < (born.month, born.day))
        return Fact("年龄", Age(years, (a - born).days), f"{where}与入院日期", view.field_evidence(f))
    if view.age is not None:
        f = view.field("age")
        return Fact("年龄", Age(int(view.age)), "病案首页年龄", view.field_evidence(f) if f else None)
    return Fact("年龄", None, "病历中未见患者年龄或出生日期")


def hospital_level(view: RecordView) -> Fact:
    """The hospital's level as 1 / 2 / 3 (二级甲等, 二甲 and 三级 all read)."""
    raw = (view.hospital_level or "").strip()
    m = re.match(r"([一二三123])(?:级|甲|乙|丙)", raw)
    if m:
        return Fact("医疗机构级别", LEVELS[m[1]], f"医院级别 {raw}")
    return Fact("医疗机构级别", None, f"医院级别 {raw} 无法识别" if raw else "未提供医院级别 (hospitals.csv)")


def insurance_type(view: RecordView) -> Fact:
    if view.insurance_type:
        return Fact("险种", view.insurance_type, "医保结算数据")
    return Fact("险种", None, "医保结算数据未提供险种")


def visit_type(view: RecordView) -> Fact:
    """住院 / 门诊 / 急诊 / 互联网 from the claims export; else a record with admission and
    discharge times is an inpatient stay."""
    if view.visit_type:
        return Fact("就医方式", view.visit_type, "医保结算数据(医疗类别)")
    if view.admit and view.discharge:
        return Fact("就医方式", "住院", "住院病历(有入院、出院时间)")
    return Fact("就医方式", None, "未提供医疗类别, 病历中也无入出院时间")
