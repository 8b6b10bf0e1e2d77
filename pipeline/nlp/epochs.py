"""The pieces of the epoch loop both NER trainers share (train.py per head, train_shared.py
multi-task): training examples, dev predictions, early stopping and the epoch log."""
from __future__ import annotations

import logging
import time
from pathlib import Path

from spacy.training import Example

from pipeline.nlp import corpora

log = logging.getLogger(__name__)


def to_examples(nlp, docs: list[corpora.NerDoc]) -> list[Example]:
    out = []
    for d in docs:
        doc = nlp.make_doc(d.text)
        ents = []
        for s, e, l in d.entities:
            # Edge whitespace is a layout artefact, not part of the entity: do not teach it.
            while s < e and d.text[s].isspace():
                s += 1
            while e > s and d.text[e - 1].isspace():
                e -= 1
            if s < e:
                ents.append((s, e, l))
        out.append(Example.from_dict(doc, {"entities": ents}))
    return out


def predict_spans(nlp, texts, batch_size: int = 64) -> list[list[tuple[int, int, str]]]:
    return [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in nlp.pipe(texts, batch_size=batch_size)]


def should_stop(bad: int, patience: int, t0: float, epochs: int, time_budget_s: float) -> bool:
    """After ``patience`` epochs without dev improvement, or when another epoch would overrun the budget."""
    per_epoch = (time.time() - t0) / epochs
    return bad >= patience or time.time() - t0 + per_epoch > time_budget_s


def log_epoch(msg: str, log_path: Path | None) -> None:
    log.info(msg)
    if log_path:
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(msg + "\n")
