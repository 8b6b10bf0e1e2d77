"""CHIP-CDN normalization: micro P/R/F1 of predicted standard names on the held-out 20 %.

Usage: python bench/normalize.py [--retrain]
--retrain fits both rankers on the train split first (writes pipeline/nlp/data/normalize_ranker.json
and normalize_ranker_memory.npz; about a minute on 2 cores).
Rows: table-only ranker (what the pipeline uses on a user's code table) and with memory (aliases, nearest examples and
target counts mined from the CHIP-CDN train split). Also prints lookup speed.
"""
from __future__ import annotations

import argparse
import sys
import time

from pipeline.nlp import corpora
from pipeline.nlp.normalize import CodeTable, cdn_normalizer, evaluate_cdn, fit_and_save


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--retrain", action="store_true", help="fit both rankers on the train split first")
    args = ap.parse_args()
    d = corpora.shared_data_dir()
    if not (d / corpora.CDN_PATH).is_file():
        sys.exit(f"CHIP-CDN not found under {d} (set MEDREVIEW_SHARED_DATA)")
    if args.retrain:
        t = time.time()
        r = fit_and_save(d)
        print(f"ranker trained in {time.time() - t:.0f}s; dev F1 table_only {r['table_only']['dev_f1']}, with_memory {r['with_memory']['dev_f1']}")
    train, held = corpora.split_cdn(corpora.read_cdn(d / corpora.CDN_PATH))
    table = CodeTable.from_csv(d / "icd" / "icd10_beijing_clinical_v601.csv")
    print(f"CHIP-CDN held-out: {len(held)} items; table {len(table.names)} names")
    print(f"{'variant':<14}{'P':>8}{'R':>8}{'F1':>8}{'ms/item':>9}")
    for name, items in (("table_only", None), ("with_memory", train)):
        norm = cdn_normalizer(table, items)
        t = time.time()
        r = evaluate_cdn(held, norm)
        ms = (time.time() - t) * 1000 / len(held)
        print(f"{name:<14}{r['precision']:>8.4f}{r['recall']:>8.4f}{r['f1']:>8.4f}{ms:>9.1f}")


if __name__ == "__main__":
    main()
