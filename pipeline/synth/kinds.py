"""Violation type ids used in labels.jsonl, with their Chinese names (DOMAIN.md §2)."""
from __future__ import annotations

VIOLATION_TYPES = {
    "low_standard_admission": "低标准入院",
    "split_admission": "分解住院",
    "bed_hanging": "挂床住院",
    "duplicate_charge": "重复收费",
    "excess_charge": "超标准收费",
    "item_substitution": "串换项目",
    "over_examination": "过度检查",
    "drug_restriction": "超限定/限性别年龄用药",
    "upcoding": "高套诊断",
    "doc_timeliness": "病历书写不及时",
}
TYPES = tuple(VIOLATION_TYPES)
