"""Benchmark the sample batch generator: speed per form, output size, and content statistics.

    python bench/synth.py [--records 100] [--workers 2] [--out /tmp/synth-bench]

Prints one table row per configuration (records/min, pages/min, MB written, projected minutes
for 1,000 records) and a table of label statistics (pages per record, clean share, cost range fit).
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import time
from pathlib import Path

from pipeline.synth import catalog, generate

CONFIGS = [
    ("labels only", (), "jpg"),
    ("text", ("text",), "jpg"),
    ("text+scan (jpg)", ("text", "scan"), "jpg"),
]


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("/tmp/medreview-synth-bench"))
    args = ap.parse_args()

    # wall time depends on what else runs on the machine; CPU seconds give the projection for
    # `workers` otherwise idle cores
    print(f"{'configuration':<18} {'records':>7} {'workers':>7} {'seconds':>8} {'rec/min':>8} {'pages/min':>9} {'MB':>8} "
          f"{'1,000 rec (min)':>15} {'CPU s/rec':>9} {'1,000 rec idle (min)':>20}")
    last = None
    for name, forms, fmt in CONFIGS:
        out = args.out / name.replace(" ", "_").replace("(", "").replace(")", "").replace("+", "_")
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        cpu0 = _cpu()
        manifest = generate(out, records=args.records, hospitals=3, seed=args.seed, forms=forms, scan_format=fmt, workers=args.workers)
        dt = time.perf_counter() - t0
        cpu = (_cpu() - cpu0) / args.records
        pages = manifest["counts"]["pages"]
        rate = args.records / dt * 60
        print(f"{name:<18} {args.records:>7} {args.workers:>7} {dt:>8.1f} {rate:>8.0f} {pages / dt * 60:>9.0f} {_size_mb(out):>8.1f} {1000 / rate:>15.1f} {cpu:>9.2f} {cpu * 1000 / args.workers / 60:>20.1f}")
        last = out

    labels = [json.loads(line) for line in (last / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
    cat = catalog.load()
    pages = [len(lab["pages"]) for lab in labels]
    clean = [lab for lab in labels if lab["clean"]]
    in_range = sum(1 for lab in clean if cat.conditions_by_id[lab["condition_id"]]["cost"][0] <= lab["total_cost"]
                   <= cat.conditions_by_id[lab["condition_id"]]["cost"][1])
    print()
    print(f"{'statistic':<40} {'value':>10}")
    print(f"{'pages per record (min/median/max)':<40} {min(pages):>3}/{statistics.median(pages):>3.0f}/{max(pages):>3}")
    print(f"{'clean share':<40} {len(clean) / len(labels):>10.2f}")
    print(f"{'clean records with cost in condition range':<40} {in_range / max(1, len(clean)):>10.2f}")
    print(f"{'median total cost (yuan)':<40} {statistics.median(lab['total_cost'] for lab in labels):>10.2f}")
    print(f"{'charge rows per record (median)':<40} {statistics.median(lab['charge_count'] for lab in labels):>10.0f}")


if __name__ == "__main__":
    main()
