"""Do the two text-layer readers (ReadConfig.text_reader) give the same pipeline results?

    python bench/textreaders.py [--records 48] [--hospitals 6] [--styles all] [--seed 4242]

Generates a text-PDF batch (every print style, narratives from the real corpora when
../shared/data is there), runs ingest + read + segment on it once per reader (one worker, so row
ids line up) and compares the two databases row by row with bench/dbdump.py's dump: every column
of every table must be equal, except the line boxes (pdfium's positions are 32-bit floats and take
the descent from the font's ascent and descent: the largest difference is printed) and the page's
``engine`` (the reader's name). Prints the rows compared, the differences and the time per reader.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dbdump import dump  # noqa: E402

from pipeline import ingest, store, synth  # noqa: E402
from pipeline.run import RunOptions, run_batch  # noqa: E402

READERS = ("pdfminer", "pdfium")
BOX = ("x0", "y0", "x1", "y1")


def run(batch: Path, db_path: Path, reader: str) -> float:
    db = store.connect(db_path)
    ingest.ingest(db, batch)
    t = time.process_time()
    run_batch(db, ("read", "segment"), RunOptions(workers=1, executor="inline",
                                                  stage_options={"read": {"text_reader": reader}}))
    return time.process_time() - t


def compare(a: dict, b: dict) -> tuple[int, list[str], float]:
    rows, diffs, box = 0, [], 0.0
    for table in sorted(set(a) | set(b)):
        ra, rb = a.get(table, []), b.get(table, [])
        if len(ra) != len(rb):
            diffs.append(f"{table}: {len(ra)} rows against {len(rb)}")
            continue
        for x, y in zip(ra, rb):
            rows += 1
            for col in sorted(set(x) | set(y)):
                u, v = x.get(col), y.get(col)
                if table == "lines" and col in BOX and u is not None and v is not None:
                    box = max(box, abs(u - v))
                elif table == "pages" and col == "engine":
                    continue
                elif u != v:
                    diffs.append(f"{table} id {x.get('id')}: {col} {str(u)[:60]!r} against {str(v)[:60]!r}")
    return rows, diffs, box


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=48)
    ap.add_argument("--hospitals", type=int, default=6)
    ap.add_argument("--styles", default="all", help="print styles, as for `medreview synth --styles`")
    ap.add_argument("--seed", type=int, default=4242)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        from pipeline.synth import styles as styles_mod

        named = {"developed": styles_mod.developed(), "all": tuple(styles_mod.load())}
        styles = named.get(args.styles) or tuple(x.strip() for x in args.styles.split(",") if x.strip())
        synth.generate(work / "batch", records=args.records, hospitals=args.hospitals, seed=args.seed,
                       forms=("text",), styles=styles, workers=1)
        seconds = {r: run(work / "batch" / "text", work / f"{r}.db", r) for r in READERS}
        a, b = (dump(work / f"{r}.db") for r in READERS)
        engines = {r: sorted({p["engine"] for p in d.get("pages", [])} - {None}) for r, d in zip(READERS, (a, b))}
        rows, diffs, box = compare(a, b)
    pages = len(a.get("pages", []))
    print(f"{args.records} records, {pages} pages, {len(a.get('lines', []))} lines, {rows} rows compared "
          f"(tables: {', '.join(sorted(a))})")
    print(f"page engines: " + "; ".join(f"{r}: {', '.join(e)}" for r, e in engines.items()))
    print(f"differences: {len(diffs)}; largest line-box difference {box:.3f} pt")
    for d in diffs[:20]:
        print("  " + d)
    print("read + segment CPU seconds (one process): " + ", ".join(f"{r} {s:.1f}" for r, s in seconds.items()))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
