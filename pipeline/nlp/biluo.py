"""NER head that tags each character O or B/I/L/U-<label> (one softmax over the encoder's vectors)
and decodes the tags into entities with constrained Viterbi.

Why not spaCy's transition-based NER: it steps through the text one character at a time, which
cost as much as the encoder, and on our corpora this tagger learned faster and better. Shared
encoder, same seed and dev split: Yidu-S4K head dev F1 0.767 → 0.795, CCKS 2017 head 0.940 → 0.945;
full pipeline 13k → 17k chars/s per core. Viterbi matters: greedy tags with repairs scored 0.699.
"""
from __future__ import annotations

import numpy as np
from spacy.language import Language
from spacy.pipeline.ner import ner_score
from spacy.pipeline.tagger import Tagger
from spacy.tokens import Span
from thinc.api import SequenceCategoricalCrossentropy

FACTORY = "medreview_biluo_ner"
OUTSIDE = "O"
PREFIXES = "BILU"
_NEG = -1e9


def head_config(tok2vec: dict) -> dict:
    return {"@architectures": "spacy.Tagger.v2", "nO": None, "normalize": False, "tok2vec": tok2vec}


def add_head(nlp: Language, name: str, labels, tok2vec: dict) -> "BiluoNer":
    head = nlp.add_pipe(FACTORY, name=name, config={"model": head_config(tok2vec)})
    for label in labels:
        head.add_entity_label(label)
    return head


class BiluoNer(Tagger):
    """spaCy's Tagger trained on the BILUO form of the reference entities; entities already on
    the doc (entity_ruler) are kept and predictions overlapping them dropped, as spaCy's NER does."""

    @property
    def entity_labels(self) -> tuple[str, ...]:
        return tuple(sorted({t.partition("-")[2] for t in self.labels if t != OUTSIDE}))

    def add_entity_label(self, label: str) -> None:
        for tag in (OUTSIDE, *(f"{p}-{label}" for p in PREFIXES)):
            self.add_label(tag)

    def initialize(self, get_examples, *, nlp=None, labels=None):
        # The tag set comes from add_entity_label; the sample only gives the layers their shapes.
        docs = [eg.x for _, eg in zip(range(10), get_examples())]
        self._require_labels()
        self.model.initialize(X=docs, Y=[self.model.ops.alloc2f(len(d), len(self.labels)) for d in docs])

    def get_loss(self, examples, scores):
        loss_func = SequenceCategoricalCrossentropy(names=self.labels, normalize=False)
        # "-" (no annotation) and None (misaligned) are missing, not "O"
        truths = [[t if t not in (None, "", "-") else None for t in eg.get_aligned_ner()] for eg in examples]
        d_scores, loss = loss_func(scores, truths)
        return float(loss), d_scores

    def predict(self, docs):
        return self.model.predict(docs) if any(len(d) for d in docs) else [None for _ in docs]

    def set_annotations(self, docs, batch_scores):
        docs = list(docs)
        lengths = [len(d) for d in docs]
        if not any(lengths):
            return
        full = [(doc, scores, n) for doc, scores, n in zip(docs, batch_scores, lengths) if n]
        paths = self._viterbi([scores for _, scores, _ in full], [n for _, _, n in full])
        for (doc, _, _), path in zip(full, paths):
            self._set_ents(doc, path)

    def score(self, examples, **kwargs):
        return ner_score(examples, **kwargs)

    def _constraints(self):
        if getattr(self, "_cons_for", None) != self.labels:
            labs = [t.partition("-") for t in self.labels]
            allowed = np.array([[(pb in "IL" and lb == la) if pa in "BI" else pb in (OUTSIDE, "B", "U")
                                 for pb, _, lb in labs] for pa, _, la in labs])
            start = np.array([p in (OUTSIDE, "B", "U") for p, _, _ in labs])
            end = np.array([p in (OUTSIDE, "L", "U") for p, _, _ in labs])
            self._cons = (np.where(allowed, 0.0, _NEG), np.where(start, 0.0, _NEG), np.where(end, 0.0, _NEG))
            self._cons_for = self.labels
        return self._cons

    def _viterbi(self, scores, lengths) -> list[np.ndarray]:
        """Best valid tag sequence of each doc; the batch is decoded together (padded), so the
        per-step cost is shared by all its docs."""
        trans, start, end = self._constraints()
        n_docs, n_tags, longest = len(scores), len(self.labels), max(lengths)
        lp = np.zeros((n_docs, longest, n_tags))
        for i, s in enumerate(scores):
            z = self.model.ops.to_numpy(s).astype(np.float64)  # logits (normalize=False at inference)
            z = z - z.max(1, keepdims=True)
            lp[i, :len(z)] = z - np.log(np.exp(z).sum(1, keepdims=True))
        lens = np.array(lengths)
        stay = np.broadcast_to(np.arange(n_tags), (n_docs, n_tags))
        back = np.empty((n_docs, longest, n_tags), dtype=np.int32)
        best = lp[:, 0] + start
        for t in range(1, longest):
            cand = best[:, :, None] + trans
            active = (t < lens)[:, None]
            back[:, t] = np.where(active, cand.argmax(1), stay)  # past a doc's end its path stands still
            best = np.where(active, cand.max(1) + lp[:, t], best)
        path = np.empty((n_docs, longest), dtype=np.int32)
        path[:, -1] = (best + end).argmax(1)
        for t in range(longest - 1, 0, -1):
            path[:, t - 1] = back[np.arange(n_docs), t, path[:, t]]
        return [path[i, :n] for i, n in enumerate(lengths)]

    def _set_ents(self, doc, path) -> None:
        labels = self.labels  # a property that builds a tuple: read it once
        spans, begin = [], None
        for i in np.flatnonzero(path != labels.index(OUTSIDE)).tolist():  # only entity characters
            prefix, _, label = labels[path[i]].partition("-")
            if prefix == "U":
                spans.append(Span(doc, i, i + 1, label))
            elif prefix == "B":
                begin = i
            elif prefix == "L":
                spans.append(Span(doc, begin, i + 1, label))
        kept = list(doc.ents)
        taken = {i for e in kept for i in range(e.start, e.end)}
        doc.ents = kept + [s for s in spans if not taken.intersection(range(s.start, s.end))]


@Language.factory(FACTORY, default_config={"model": None})
def make_biluo_ner(nlp: Language, name: str, model) -> BiluoNer:
    return BiluoNer(nlp.vocab, model, name)
