"""How well the restriction parser (pipeline/packs/indications.py) turns 药品限适应症 texts into
conditions.

Usage: python bench/indications.py [--wrong]

1. Share of the shipped national pack's points per parsed rule class that have conditions a
   check can judge, and the share parsed whole (nothing left as a note), parsed now from their text.
2. Accuracy on the hand-checked points (tests/data/indications_gold.yaml): exact (every
   alternative with the same conditions: diagnoses on their ICD-10 categories, treatments on their
   names' stems) and the mean F1 over conditions, for the development points and for the
   held-out ones (chosen first, never used to write the rules). --wrong lists the points missed.
3. The conditions the parser writes for the 510 points, by kind.
"""
from __future__ import annotations

import argparse
import sys
import unicodedata
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.packs import active, indications, indication_eval  # noqa: E402

GOLD = Path(__file__).resolve().parent.parent / "tests" / "data" / "indications_gold.yaml"


def _pad(s: str, width: int) -> str:
    return s + " " * max(0, width - sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wrong", action="store_true", help="list the hand-checked points parsed wrong")
    args = ap.parse_args(argv)
    vocab = indications.vocabulary()
    points = [p for p in active.load_active().points.values() if p.rule_class in vocab.classes]
    print(f"1. parse share on the shipped pack (vocabulary version {vocab.version})")
    print(f"{_pad('rule class', 20)}{'points':>8}{'with conditions':>17}{'share':>8}{'parsed whole':>14}")
    kinds: Counter = Counter()
    for rc in vocab.classes:
        pts = [p for p in points if p.rule_class == rc]
        parsed = [indications.parse(p.constraint, p.item_name, p.rule_class) for p in pts]
        with_c = sum(1 for r in parsed if r and r.parsed)
        whole = sum(1 for r in parsed if r and r.parsed and not r.unparsed)
        if rc == "药品限适应症":
            for r in parsed:
                for c in [c for a in (r.alternatives if r else []) for c in a] + (r.common if r else []):
                    kinds[c["kind"]] += 1
        print(f"{_pad(rc, 20)}{len(pts):>8}{with_c:>17}{with_c / max(1, len(pts)):>8.3f}{whole:>14}")
    scores = indication_eval.score(indication_eval.load_gold(GOLD))
    print(f"\n2. accuracy on hand-checked points ({GOLD.name})")
    print(f"{'split':<10}{'points':>8}{'exact':>8}{'share':>8}{'mean F1':>9}")
    for split in ("dev", "heldout"):
        s = scores[split]
        print(f"{split:<10}{s['points']:>8}{s['exact']:>8}{s['exact_share']:>8.3f}{s['f1_mean']:>9.3f}")
    if args.wrong:
        for split in ("dev", "heldout"):
            print(f"   {split} wrong: {', '.join(scores[split]['wrong'])}")
    print("\n3. conditions written for 药品限适应症, by kind")
    for k, n in kinds.most_common():
        print(f"   {k:<16}{n:>6}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
