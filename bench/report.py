"""How long the report takes on a county-sized batch (built directly in the store).

    python bench/report.py --records 20000

Prints one table: rows in the store, seconds per step, output sizes.
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from pipeline import store
from pipeline.report import figures, write_report

T = "2026-11-20T08:00:00+00:00"
RULES = [(f"R-{i:02d}", f"规则{i:02d}") for i in range(40)]


def build(path: Path, n: int, seed: int = 0) -> dict:
    rnd = random.Random(seed)
    db = store.connect(path)
    flags, reviews = [], []
    with store.transaction(db):
        store.insert_many(db, "hospitals", [{"id": f"H{h:02d}", "name": f"医院{h:02d}", "created_at": T} for h in range(30)])
        store.insert_many(db, "records", [
            {"id": i, "sha256": f"s{i}", "source_path": f"/b/{i}.pdf", "kind": "pdf", "hospital_id": f"H{i % 30:02d}",
             "admission_no": f"ZY{i}", "stage": "scored" if i % 50 else "read",
             "status": "failed" if i % 50 == 0 else "ok", "error": "PDF 无法打开" if i % 50 == 0 else None,
             "error_stage": "read" if i % 50 == 0 else None, "created_at": T, "updated_at": T}
            for i in range(1, n + 1)])
        fid = eid = 0
        for rid in range(1, n + 1):
            if rnd.random() > 0.3:
                continue
            for _ in range(rnd.randint(1, 3)):
                fid += 1
                rule = rnd.choice(RULES)
                flags.append({"id": fid, "record_id": rid, "rule_id": rule[0], "rule_name": rule[1], "key": str(fid),
                              "severity": "可疑", "amount": round(rnd.uniform(10, 5000), 2), "source": "system",
                              "evidence": json.dumps([{"text": "证据文字" * 5, "page_no": rnd.randint(1, 40),
                                                       "page_id": None, "line_id": None}], ensure_ascii=False),
                              "created_at": T})
                if rnd.random() < 0.7:
                    eid += 1
                    action = "confirm" if rnd.random() < 0.6 else "reject"
                    reviews.append({"id": eid, "flag_id": fid, "record_id": rid, "user": "r1", "action": action,
                                    "payload": "{}" if action == "confirm" else '{"reason_code": "charge_correct"}',
                                    "at": T})
        store.insert_many(db, "flags", flags)
        store.insert_many(db, "reviews", reviews)
    return {"db": db, "records": n, "flags": len(flags), "reviews": len(reviews)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=20000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        info = build(Path(tmp) / "audit.db", args.records)
        t_build = time.perf_counter() - t0
        db = info["db"]
        t0 = time.perf_counter()
        fig = figures.collect(db)
        t_fig = time.perf_counter() - t0
        t0 = time.perf_counter()
        rows = figures.findings(db)
        t_find = time.perf_counter() - t0
        t0 = time.perf_counter()
        paths = write_report(db, Path(tmp) / "report")
        t_all = time.perf_counter() - t0
        print(f"{'records':>10} {'flags':>8} {'reviews':>8} {'findings':>9} | {'figures s':>9} {'findings s':>10}"
              f" {'report s':>9} | {'xlsx KB':>8} {'html KB':>8}   (build {t_build:.1f}s)")
        print(f"{info['records']:>10} {info['flags']:>8} {info['reviews']:>8} {len(rows):>9} | {t_fig:>9.2f} {t_find:>10.2f}"
              f" {t_all:>9.2f} | {paths['xlsx'].stat().st_size / 1024:>8.0f} {paths['html'].stat().st_size / 1024:>8.0f}")
        assert fig["batch"]["confirmed_findings"] == len(rows)


if __name__ == "__main__":
    main()
