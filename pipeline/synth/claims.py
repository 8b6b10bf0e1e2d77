"""Hospital claims export (费用明细): one CSV row per charge line, UTF-8 with BOM like HIS exports,
with the stay's 险种类型 and 医疗类别 on every row (as 医保结算明细 exports carry them)."""
from __future__ import annotations

import csv
from pathlib import Path

from .people import INSURANCE_LABELS
from .plan import Plan

HEADER = ["住院号", "费用发生时间", "医保项目编码", "项目名称", "费用类别", "数量", "单价", "金额", "险种类型", "医疗类别"]
VISIT_LABELS = {"住院": "普通住院", "急诊": "急诊留观", "门诊": "普通门诊"}


def claim_rows(plan: Plan) -> list[list[str]]:
    """Rows in 费用清单 order (row i of an admission = charge_rows value i)."""
    no = plan.slot.admission_no
    insurance, visit = INSURANCE_LABELS[plan.insurance], VISIT_LABELS[plan.visit_type]
    return [[no, f"{c.at:%Y-%m-%d %H:%M:%S}", c.code, c.name, c.category, str(c.qty), f"{c.price:.2f}", f"{c.amount:.2f}",
             insurance, visit] for c in plan.charges]


class ClaimsWriter:
    """One hospital's claims CSV, appended admission by admission, in its style's encoding and
    column names (the same ten columns)."""

    def __init__(self, path: Path, style=None):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("w", encoding=style.claims_encoding if style else "utf-8-sig", newline="")
        self._csv = csv.writer(self._fh, lineterminator="\r\n")
        self._csv.writerow(style.claims_header if style else HEADER)

    def write(self, rows: list[list[str]]) -> None:
        self._csv.writerows(rows)

    def __enter__(self) -> "ClaimsWriter":
        return self

    def __exit__(self, *exc) -> None:
        self._fh.close()
