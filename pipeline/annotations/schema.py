"""The flag-decision row: field names, types and allowed values (documented in annotations/SCHEMA.md)."""
from __future__ import annotations

SCHEMA = "medreview/flag-decision@1"
KIND = "flag_decisions"
DECISIONS = ("confirmed", "rejected")

# field -> allowed Python types; every row carries every field (None where unknown).
FIELDS: dict[str, tuple[type, ...]] = {
    "schema": (str,),
    "key": (str,),                      # sha256 of record_sha256 | rule_id | flag key | catalogue_version
    "record_sha256": (str,),
    "hospital_id": (str, type(None)),
    "admission_no": (str, type(None)),
    "record_id": (int,),                # id in the exporting database (not stable across databases)
    "flag_id": (int,),
    "rule_id": (str,),                  # rule that raised the flag
    "rule_id_final": (str,),            # rule after a reviewer's change (= rule_id otherwise)
    "rule_name": (str, type(None)),
    "catalogue_version": (str, type(None)),
    "severity": (str, type(None)),
    "source": (str,),                   # system | reviewer
    "decision": (str,),                 # confirmed | rejected
    "reason_code": (str, type(None)),   # reject reason (pipeline/data/reject_reasons.yaml)
    "note": (str, type(None)),          # reviewer's note, masked
    "amount_flagged": (int, float),     # 元, as raised
    "amount_final": (int, float),       # 元, after a reviewer's change
    "decided_by": (str, type(None)),
    "decided_at": (str, type(None)),
    "reviewers": (dict,),               # user -> confirmed | rejected
    "flag_model_version": (str, type(None)),
    "score_model_version": (str, type(None)),   # classifier version shown to the reviewer
    "evidence": (list,),                # [{page_no, line_id, text (masked)}]
}
