"""How often the 高套诊断 support check calls a real diagnosis unsupported, on real narrative.

    python bench/upcoding.py [--data ../shared/data]

The CCKS 2017 training set holds real discharge records (一般项目, 病史特点, 诊疗经过, 出院情况 of 300
patients) with their 疾病和诊断 mentions. For every diagnosis of the support table
(pipeline/rules/data/knowledge/diagnosis_support.yaml) a patient whose text names it has it: the
check should find its support there (a miss is a false alarm of 诊断无依据); a patient whose text
never names it does not: coded anyway, the check should find no support (a find is a missed
upcode). The record is the patient's text as sections (no lab rows, orders or charges: the check's
term conditions only, as on a scan whose tables were not read). Prints per diagnosis and overall:
patients with it, false alarms, patients without it, misses, and the precision of an 诊断无依据 flag
at equal numbers of coded-with and coded-without patients. Nothing from the corpus is stored.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.record.view import Field, RecordView, Section  # noqa: E402
from pipeline.rules import knowledge  # noqa: E402


def patients(path: Path) -> dict[str, dict]:
    out: dict[str, dict] = defaultdict(lambda: {"sections": [], "diagnoses": set()})
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            m = re.match(r"ccks2017-train-(.+)-(\d+)$", doc["id"])
            if not m:
                continue
            p = out[m.group(2)]
            p["sections"].append((m.group(1), doc["text"]))
            p["diagnoses"] |= {e["mention"] for e in doc["entities"] if e["label"] == "疾病和诊断"}
    return out


def view_of(sections: list[tuple[str, str]]) -> RecordView:
    v = RecordView(record_id=1)
    v.sections = [Section(i + 1, name, text, document_id=1) for i, (name, text) in enumerate(sections)]
    return v


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("MEDREVIEW_SHARED_DATA") or ROOT.parent / "shared" / "data"))
    args = ap.parse_args()
    path = args.data / "ccks2017-cner" / "train.jsonl"
    if not path.is_file():
        print(f"CCKS 2017 corpus not found at {path}")
        return 2
    kb = knowledge.load()
    table = kb["diagnosis_support"]["diagnoses"]
    people = patients(path)
    print(f"# 高套诊断 support check on real narrative: CCKS 2017, {len(people)} patients")
    print(f"{'diagnosis':16} {'with':>5} {'false alarm':>12} {'without':>8} {'missed':>7} {'precision':>9}")
    tot = [0, 0, 0, 0]
    for entry in table:
        name = entry["name"]
        # the patient has it when a diagnosis mention contains the table's name or its first term
        keys = [name] + [t for c in entry["support"] for t in c.get("terms", [])[:1] if len(t) >= 3][:1]
        with_, alarm, without, missed = 0, 0, 0, 0
        for p in people.values():
            has = any(k in d for d in p["diagnoses"] for k in keys)
            view = view_of(p["sections"])
            dx = Field("other_diagnosis", name, code=entry["icd"][0])
            view.fields = [dx]
            found = knowledge.any_condition(view, entry["support"], exclude_field=dx, skip_diagnosis_text=True) is not None
            if has:
                with_ += 1
                alarm += not found
            else:
                without += 1
                missed += found
        if not with_:
            continue
        # precision of an 诊断无依据 flag with as many coded-with as coded-without patients
        flagged_true = (without - missed) / without if without else 0.0
        flagged_false = alarm / with_
        precision = flagged_true / (flagged_true + flagged_false) if flagged_true + flagged_false else float("nan")
        print(f"{name:16} {with_:5d} {alarm:6d} ({alarm / with_:4.0%}) {without:8d} {missed:7d} {precision:9.3f}")
        tot = [tot[0] + with_, tot[1] + alarm, tot[2] + without, tot[3] + missed]
    with_, alarm, without, missed = tot
    ft, ff = (without - missed) / without, alarm / with_
    print(f"{'all':16} {with_:5d} {alarm:6d} ({alarm / with_:4.0%}) {without:8d} {missed:7d} {ft / (ft + ff):9.3f}")
    print("\nThe rule flags on support alone only with CL-UNSUPPORTED-DIAGNOSIS support_only: true; by default a "
          "首页 diagnosis must also be missing from the record's own 出院诊断 (or replace its 入院诊断).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
