"""Strict span evaluation of NER and micro P/R/F1 of normalized names.

Strict: a predicted entity counts only when its start, end and label all equal a gold entity's.
Gold labels are mapped to project labels through data/label_map.yaml; only predicted labels that
the gold scheme knows are scored (a corpus without SYMPTOM annotations cannot judge SYMPTOM
predictions), and a coarse gold label accepts its finer predictions (EXAM ← IMAGING, LAB).
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

from pipeline.nlp.labels import equivalent_labels

Span = tuple[int, int, str]


def prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "tp": tp, "fp": fp, "fn": fn}


def score_spans(gold: Sequence[Iterable[Span]], pred: Sequence[Iterable[Span]], labels: Iterable[str] | None = None) -> dict:
    """Per-label and micro strict P/R/F1 over parallel lists of gold and predicted spans."""
    gold = [list(g) for g in gold]
    gold_labels = set(labels) if labels else {l for g in gold for _, _, l in g}
    to_gold = {}
    for g in gold_labels:
        for p in equivalent_labels(g):
            to_gold.setdefault(p, g)
        to_gold.setdefault(g, g)
    tp, fp, fn = Counter(), Counter(), Counter()
    for g_spans, p_spans in zip(gold, pred):
        g_set = {(s, e, l) for s, e, l in g_spans if l in gold_labels}
        p_set = {(s, e, to_gold[l]) for s, e, l in p_spans if l in to_gold}
        for s in p_set:
            (tp if s in g_set else fp)[s[2]] += 1
        for s in g_set - p_set:
            fn[s[2]] += 1
    per = {l: prf(tp[l], fp[l], fn[l]) for l in sorted(gold_labels)}
    micro = prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    return {"labels": per, "micro": micro}


def score_names(gold: Sequence[Iterable[str]], pred: Sequence[Iterable[str]]) -> dict:
    """Micro P/R/F1 of sets of standard names per item (CHIP-CDN style)."""
    tp = fp = fn = 0
    for g, p in zip(gold, pred):
        g, p = set(g), set(p)
        tp += len(g & p)
        fp += len(p - g)
        fn += len(g - p)
    return prf(tp, fp, fn)


def format_table(result: dict, title: str = "") -> str:
    rows = [f"{title}" if title else "", f"{'label':<14}{'P':>8}{'R':>8}{'F1':>8}{'gold':>8}"]
    for label, m in list(result["labels"].items()) + [("micro", result["micro"])]:
        rows.append(f"{label:<14}{m['precision']:>8.4f}{m['recall']:>8.4f}{m['f1']:>8.4f}{m['tp'] + m['fn']:>8}")
    return "\n".join(r for r in rows if r)
