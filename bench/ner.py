"""NER on the held-out 20 % of each corpus: strict per-label/micro P/R/F1, speed, size, and the
entity-boundary alignment ceiling of each tokenization.

Usage: python bench/ner.py [MODEL_DIR] [--json] [--dict]
--dict: does adding ICD-name dictionary matches (DISEASE, OPERATION) to the Yidu-S4K component
help? Measured on the Yidu dev set (10 % of the training split), not on the held-out part.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from pipeline.nlp import corpora
from pipeline.nlp.components import with_encoder
from pipeline.nlp.evaluate import format_table
from pipeline.nlp.modelcard import HELDOUT, measure
from pipeline.nlp.pipeline import DEFAULT_MODEL
from pipeline.nlp.tokenize import USERDICT_NAME, JiebaSegmenter, alignment_ceiling


def dictionary_check(model: Path, d: Path) -> None:
    import csv

    import spacy
    from spacy.matcher import PhraseMatcher
    from spacy.tokens import Span
    from spacy.util import filter_spans

    from pipeline.nlp.evaluate import score_spans

    train, _ = corpora.load_split("yidu-s4k", d)
    dev_groups = corpora.split_groups([x.group for x in train], seed=1, fraction=0.1)  # as train_on_docs(seed=0)
    dev = [x for x in train if x.group in dev_groups]
    nlp = spacy.load(model)
    names: dict[str, str] = {}
    for f, label in (("icd10_national_clinical_v1.1.csv", "DISEASE"), ("icd9cm3_procedures_national_clinical_v1.1.csv", "OPERATION")):
        with open(d / "icd" / f, encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                n = row["name"].strip()
                if 4 <= len(n) <= 15 and not any(c in n for c in ",，"):
                    names.setdefault(n, label)
    pm = PhraseMatcher(nlp.vocab)
    for label in ("DISEASE", "OPERATION"):
        pm.add(label, [nlp.make_doc(n) for n, lab in names.items() if lab == label])
    gold = [x.entities for x in dev]
    rows = {"model only": [], "+ dictionary where free": [], "dictionary overrides model": []}
    with nlp.select_pipes(enable=with_encoder(nlp.pipe_names, ["entity_ruler", "ner"])):
        for doc in nlp.pipe([x.text for x in dev]):
            matches = filter_spans([Span(doc, s, e, label=nlp.vocab.strings[m]) for m, s, e in pm(doc)])
            ents = list(doc.ents)
            taken = {i for e in ents for i in range(e.start, e.end)}
            in_match = {i for m in matches for i in range(m.start, m.end)}
            variants = (ents, ents + [m for m in matches if not taken & set(range(m.start, m.end))],
                        [e for e in ents if not in_match & set(range(e.start, e.end))] + matches)
            for key, v in zip(rows, variants):
                rows[key].append([(e.start_char, e.end_char, e.label_) for e in v])
    print(f"\n== ICD dictionary ({len(names)} names) with the Yidu-S4K component, dev set ({len(dev)} docs)")
    for key, pred in rows.items():
        m = score_spans(gold, pred)["micro"]
        print(f"{key:<28} P {m['precision']:.4f}  R {m['recall']:.4f}  F1 {m['f1']:.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", nargs="?", type=Path, default=DEFAULT_MODEL, help="model folder (default: the shipped models/ner)")
    ap.add_argument("--json", action="store_true", help="print the measurements as JSON")
    ap.add_argument("--dict", action="store_true", help="also check ICD-name dictionary matches on the Yidu-S4K dev set")
    args = ap.parse_args()
    model = args.model
    d = corpora.shared_data_dir()
    t = time.time()
    m = measure(model, d)
    segs = {"char": list, "jieba": JiebaSegmenter(None).cut,
            "jieba+medical dict": JiebaSegmenter(model / "tokenizer" / USERDICT_NAME).cut}
    m["alignment_ceiling"] = {}
    for corpus in HELDOUT:
        _, held = corpora.load_split(corpus, d)
        m["alignment_ceiling"][corpus] = {k: round(alignment_ceiling(held, f)["ceiling"], 4) for k, f in segs.items()}
    if args.json:
        print(json.dumps(m, ensure_ascii=False, indent=1))
        return
    for corpus, r in m["heldout"].items():
        print(format_table(r, f"\n== {corpus} held-out ({r['documents']} docs), full pipeline"))
    print("\n== each NER component alone, micro-F1")
    for corpus, comps in m["component_only"].items():
        print(f"{corpus:<16}" + "  ".join(f"{n} {v['f1']:.4f}" for n, v in comps.items()))
    print("\n== entity-boundary alignment ceiling (held-out)")
    print(f"{'corpus':<16}" + "".join(f"{k:>20}" for k in segs))
    for corpus, row in m["alignment_ceiling"].items():
        print(f"{corpus:<16}" + "".join(f"{v:>20.4f}" for v in row.values()))
    sp = m.get("speed", {})
    print(f"\nspeed: {sp.get('chars_per_s_per_core', 0):,} chars/s/core (full pipeline, CPU time, {sp.get('chars', 0):,} chars)")
    print(f"model size: {m['size_mb']} MB; pipes: {m['pipe_names']}; bench took {time.time() - t:.0f}s")
    if args.dict:
        dictionary_check(model, d)


if __name__ == "__main__":
    main()
