"""Accuracy of the ConText attributes on the hand-checked sentences (tests/data/context_sentences.yaml).

Usage: python bench/context.py [FILE.yaml] [--errors]
Prints per-attribute accuracy/precision/recall and sentence-level accuracy (all attributes of all
entities right).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from pipeline.nlp.context import ATTRS, attributes

LETTERS = {"N": "negated", "U": "uncertain", "H": "historical", "F": "family"}


def run(path: Path, show_errors: bool = False) -> dict:
    items = yaml.safe_load(path.read_text(encoding="utf-8"))
    counts = {a: {"tp": 0, "fp": 0, "fn": 0, "tn": 0} for a in ATTRS}
    ok_sent = 0
    for it in items:
        text, ents = it["t"], it.get("e") or {}
        spans = [(text.index(m), text.index(m) + len(m)) for m in ents]
        got = attributes(text, spans, it.get("s"))
        sent_ok = True
        for (m, exp), g in zip(ents.items(), got):
            want = {LETTERS[c] for c in (exp or "")}
            for a in ATTRS:
                key = ("t" if g[a] == (a in want) else "f") + ("p" if g[a] else "n")
                counts[a][key] += 1
                if g[a] != (a in want):
                    sent_ok = False
                    if show_errors:
                        print(f"  {text!r} {m}: {a} expected {a in want} got {g[a]}")
        ok_sent += sent_ok
    return {"sentences": len(items), "entities": sum(len(i.get("e") or {}) for i in items),
            "sentence_accuracy": ok_sent / len(items), "attrs": counts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", nargs="?", type=Path, help="sentences YAML (default: tests/data/context_sentences.yaml)",
                    default=Path(__file__).resolve().parents[1] / "tests" / "data" / "context_sentences.yaml")
    ap.add_argument("--errors", action="store_true", help="print each wrong attribute")
    args = ap.parse_args()
    r = run(args.file, args.errors)
    print(f"sentences {r['sentences']}  entities {r['entities']}  all-correct sentences {r['sentence_accuracy']:.3f}")
    print(f"{'attribute':<12}{'acc':>8}{'P':>8}{'R':>8}{'pos':>6}")
    for a, c in r["attrs"].items():
        n = sum(c.values())
        p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
        rec = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 0.0
        print(f"{a:<12}{(c['tp'] + c['tn']) / n:>8.3f}{p:>8.3f}{rec:>8.3f}{c['tp'] + c['fn']:>6}")


if __name__ == "__main__":
    main()
