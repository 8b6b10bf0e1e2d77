"""Throughput of the batch runner: per stage, per executor, and a county-year projection.

    python bench/throughput.py --records 1000            # text-layer batch (minutes)
    python bench/throughput.py --scan-records 3          # + a small scanned batch (OCR, ReadConfig's engine)
    python bench/throughput.py --records 20 --scan-records 100 --raw-pages 40   # the county check (hours on 2 cores)
    python bench/throughput.py --scaling                 # + 1 vs 2 workers and Ray with 2 workers (--scaling-records)

Prints tables: seconds, records/hour and pages/s per stage with each stage's share of the time;
the OCR stage against the raw engine on the same page images; scaling ratios; and the projected
time for a county (20,000 admissions x 30 pages) on one machine and on N nodes.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline import ingest, store, synth  # noqa: E402
from pipeline.run import RunOptions, run_batch  # noqa: E402
from pipeline.run.runner import peak_rss_mb  # noqa: E402
from pipeline.run.stages import ORDER  # noqa: E402

COUNTY_RECORDS, COUNTY_PAGES = 20_000, 30


def run_timed(batch: Path, db_path: Path, *, workers: int, executor: str = "local", names=ORDER):
    db = store.connect(db_path)
    ingest.ingest(db, batch)
    run = run_batch(db, names, RunOptions(workers=workers, executor=executor))
    out = {r.stage: {"seconds": r.seconds, "done": r.done, "failed": r.failed, "store": r.store_seconds,
                     "workers": max(workers, 1)} for r in run.stages}
    pages = db.execute("SELECT COUNT(*) FROM pages").fetchone()[0]
    records = db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    return out, records, pages


def print_stage_table(title, timings, records, pages):
    total = sum(t["seconds"] for t in timings.values())
    print(f"\n## {title}: {records} records, {pages} pages, {total:.1f} s")
    print(f"{'stage':<10}{'seconds':>10}{'share':>8}{'records/h':>12}{'pages/s':>10}{'failed':>8}")
    for name, t in timings.items():
        s = max(t["seconds"], 1e-9)
        print(f"{name:<10}{t['seconds']:>10.1f}{t['seconds'] / total:>8.0%}{records / s * 3600:>12.0f}"
              f"{pages / s:>10.2f}{t['failed']:>8}")
    print(f"{'all':<10}{total:>10.1f}{1:>8.0%}{records / total * 3600:>12.0f}{pages / total:>10.2f}")
    print("one writer: its busy share of each stage, and how many workers it could serve at that rate")
    for name, t in timings.items():
        busy = t["store"] / max(t["seconds"], 1e-9)
        print(f"  {name:<10} writer {t['store']:6.1f} s = {busy:4.0%} busy, "
              f"{t['store'] / max(t['done'], 1) * 1000:6.1f} ms/record, saturates at ~{t['workers'] / max(busy, 1e-9):,.0f} workers")
    return total


def merge_seconds(db_path: Path, work: Path) -> tuple[float, int]:
    """The serial step shard databases would add: copying one finished shard's rows into the main
    store (ATTACH + INSERT ... SELECT per table, no id remapping, so a lower bound)."""
    import sqlite3

    target = work / "merge-target.db"
    target.unlink(missing_ok=True)
    store.connect(target).conn.close()  # same schema, empty
    conn = sqlite3.connect(target)
    conn.execute("ATTACH DATABASE ? AS shard", (str(db_path),))
    # bookkeeping tables (_migrations…) and full-text shadow tables are not per-record results
    tables = [r[0] for r in conn.execute("SELECT name FROM shard.sqlite_master WHERE type = 'table'")
              if not r[0].startswith(("sqlite_", "_")) and "_fts" not in r[0]]
    rows = 0
    t0 = time.monotonic()
    with conn:
        for t in tables:
            rows += conn.execute(f'INSERT INTO main."{t}" SELECT * FROM shard."{t}"').rowcount
    seconds = time.monotonic() - t0
    conn.close()
    target.unlink(missing_ok=True)
    return seconds, rows


def raw_engine_seconds(batch: Path, limit: int) -> tuple[float, int]:
    """Call the OCR engine directly on the scanned page images (the stage's lower bound)."""
    import cv2

    from pipeline.read import engines
    from pipeline.read.config import ReadConfig

    cfg = ReadConfig()
    engine = engines.create("rapidocr", threads=cfg.ocr_threads, **cfg.engine_settings())
    images = sorted(batch.glob("*/*/page-*.jpg"))[:limit]
    engine.recognize(cv2.imread(str(images[0])))  # warm-up, as the stage does
    t0 = time.monotonic()
    for p in images:
        engine.recognize(cv2.imread(str(p)))
    return time.monotonic() - t0, len(images)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=200, help="text-layer admissions")
    ap.add_argument("--scan-records", type=int, default=0, help="scanned admissions (OCR, slow)")
    ap.add_argument("--raw-pages", type=int, default=0,
                    help="scanned pages the raw engine reads for the overhead figure (0: all of them)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scaling", action="store_true", help="also measure 1 vs 2 workers and Ray")
    ap.add_argument("--scaling-records", type=int, default=200, help="text-layer admissions for the scaling runs")
    ap.add_argument("--nodes", type=int, default=10, help="cluster size for the projection")
    ap.add_argument("--seed", type=int, default=777)
    ap.add_argument("--keep", type=Path, help="keep the work folder here")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="medreview-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    synth.generate(work / "text-batch", records=args.records, hospitals=4, seed=args.seed, forms=("text",))
    print(f"generated {args.records} text records in {time.monotonic() - t0:.0f} s")
    timings, records, pages = run_timed(work / "text-batch" / "text", work / "text.db", workers=args.workers)
    text_total = print_stage_table(f"text-layer PDFs, {args.workers} workers", timings, records, pages)
    per_page_text = text_total / max(pages, 1)
    merge_s, merge_rows = merge_seconds(work / "text.db", work)
    writer_s = sum(t["store"] for t in timings.values())
    print(f"\nshard merge (lower bound): {merge_s:.1f} s for {merge_rows:,} rows = {merge_s / records * 1000:.1f} ms/record, "
          f"against {writer_s / records * 1000:.1f} ms/record for the one writer over all stages")
    per_page_scan = None

    if args.scan_records:
        synth.generate(work / "scan-batch", records=args.scan_records, hospitals=1, seed=args.seed + 1,
                       forms=("scan",))
        scan_timings, s_records, s_pages = run_timed(work / "scan-batch" / "scan", work / "scan.db",
                                                     workers=args.workers)
        scan_total = print_stage_table("scanned pages (OCR, rapidocr)", scan_timings, s_records, s_pages)
        per_page_scan = scan_total / max(s_pages, 1)
        raw_s, raw_pages = raw_engine_seconds(work / "scan-batch" / "scan", limit=min(s_pages, args.raw_pages or s_pages))
        stage_per_page = scan_timings["read"]["seconds"] / max(s_pages, 1)
        raw_per_page = raw_s / max(raw_pages, 1)
        print(f"\nOCR stage {stage_per_page:.2f} s/page vs raw engine {raw_per_page:.2f} s/page "
              f"on the same {raw_pages} images: overhead {stage_per_page / raw_per_page - 1:+.1%}")

    if args.scaling:
        print(f"\n## scaling (read + segment + extract + score, text-layer batch of {args.scaling_records})")
        synth.generate(work / "scale-batch", records=args.scaling_records, hospitals=4, seed=args.seed + 2,
                       forms=("text",))
        base = None
        for label, workers, executor in (("local, 1 worker", 1, "local"), ("local, 2 workers", 2, "local"),
                                         ("ray, 2 workers", 2, "ray")):
            try:
                t, _, _ = run_timed(work / "scale-batch" / "text", work / f"scale-{workers}-{executor}.db",
                                    workers=workers, executor=executor)
            except RuntimeError as exc:
                print(f"{label:<18} skipped: {exc}")
                continue
            total = sum(x["seconds"] for x in t.values())
            base = base or total
            print(f"{label:<18}{total:>8.1f} s   speed-up ×{base / total:.2f}")

    print(f"\n## projection: county = {COUNTY_RECORDS:,} admissions × {COUNTY_PAGES} pages")
    for label, per_page in (("text-layer", per_page_text), ("scanned", per_page_scan)):
        if per_page is None:
            continue
        hours = COUNTY_RECORDS * COUNTY_PAGES * per_page / 3600
        print(f"{label:<11} one machine (2 cores): {hours:8.1f} h   {args.nodes} such nodes: {hours / args.nodes:8.1f} h")
    print(f"\npeak RSS (runner or a finished worker): {peak_rss_mb():.0f} MiB")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
