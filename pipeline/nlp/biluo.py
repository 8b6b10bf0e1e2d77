"""NER head that tags each character O or B/I/L/U-<label> (one softmax over the encoder's vectors)
and decodes the tags into entities with constrained Viterbi.

Why not spaCy's transition-based NER: it steps through the text one character at a time, which
costs as much as the encoder; this tagger is faster and scores higher on both corpora. Viterbi
matters: greedy tags with repairs score far lower (docs/NER-EXPERIMENTS.md).

Training loss (the ``loss`` setting): "sequence" (default) is the likelihood of the reference tags
among the valid sequences (crf.py); "character" is the per-character softmax cross-entropy, which
scores lower, kept to compare against.

The model (``medreview.BiluoTagger.v1``) is spaCy's Tagger.v2 followed by a pass-through layer
holding the head's tag-to-tag transition weights, which the sequence loss learns and Viterbi adds
to each step. Heads built on plain ``spacy.Tagger.v2`` (models saved without transition weights)
decode with every allowed step weighted 0.
"""
from __future__ import annotations

import numpy as np
from spacy import registry
from spacy.language import Language
from spacy.pipeline.ner import ner_score
from spacy.pipeline.tagger import Tagger
from spacy.tokens import Span
from thinc.api import Model, SequenceCategoricalCrossentropy, Softmax_v2, chain, with_array, zero_init

from pipeline.nlp.crf import Layout, sequence_loss

FACTORY = "medreview_biluo_ner"
OUTSIDE = "O"
PREFIXES = "BILU"
LOSSES = ("sequence", "character")
TRANSITIONS = "transitions"   # ref name of the layer holding the transition weights


def head_config(tok2vec: dict) -> dict:
    return {"@architectures": "medreview.BiluoTagger.v1", "nO": None, "tok2vec": tok2vec}


@registry.architectures("medreview.BiluoTagger.v1")
def build_biluo_tagger(tok2vec: Model, nO: int | None = None) -> Model:
    """spaCy's Tagger.v2 (a softmax per character over the encoder's vectors; logits when not
    training) and then the transition weights (tags × tags), passed over by the data."""
    width = tok2vec.get_dim("nO") if tok2vec.has_dim("nO") else None
    output_layer = Softmax_v2(nO, width, init_W=zero_init, normalize_outputs=False)
    transitions = Model(TRANSITIONS, _pass_through, init=_init_transitions, params={"W": None}, dims={"nO": nO})
    model = chain(tok2vec, with_array(output_layer), transitions)
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("output_layer", output_layer)
    model.set_ref(TRANSITIONS, transitions)
    return model


def _pass_through(model: Model, X, is_train: bool):
    return X, lambda dY: dY


def _init_transitions(model: Model, X=None, Y=None) -> None:
    if X is not None:
        model.set_dim("nO", X[0].shape[1])
    n = model.get_dim("nO")
    model.set_param("W", model.ops.alloc2f(n, n))


def add_head(nlp: Language, name: str, labels, tok2vec: dict, loss: str = "sequence") -> "BiluoNer":
    head = nlp.add_pipe(FACTORY, name=name, config={"model": head_config(tok2vec), "loss": loss})
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
        # "-" (no annotation) and None (misaligned) are missing, not "O"
        truths = [[t if t not in (None, "", "-") else None for t in eg.get_aligned_ner()] for eg in examples]
        if self.loss == "sequence":
            index = {t: i for i, t in enumerate(self.labels)}
            layer, weights = self._transitions()
            loss, d_scores, d_weights = sequence_loss(scores, [[index.get(t) for t in ts] for ts in truths],
                                                      self.labels, weights)
            if layer is not None:
                layer.inc_grad("W", self.model.ops.asarray2f(d_weights))
            return loss, d_scores
        loss_func = SequenceCategoricalCrossentropy(names=self.labels, normalize=False)
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

    def _transitions(self) -> tuple[Model | None, np.ndarray | None]:
        """The layer holding the transition weights and the weights; (None, None) on heads built
        on plain spacy.Tagger.v2."""
        if not self.model.has_ref(TRANSITIONS):
            return None, None
        layer = self.model.get_ref(TRANSITIONS)
        return layer, self.model.ops.to_numpy(layer.get_param("W"))

    def _viterbi(self, scores, lengths) -> list[np.ndarray]:
        """Best valid tag sequence of each doc: the sum of its logits and its steps' transition
        weights, decoded for the whole batch at once. Logits are used as they are: the
        per-character softmax normaliser is the same for every path. Docs are sorted longest first
        so that those still running at a step are a prefix of the batch."""
        lay = Layout(self.labels)
        trans = lay.transitions(self._transitions()[1])
        order = np.argsort(-np.asarray(lengths), kind="stable")
        lens = np.asarray(lengths)[order]
        n, longest = len(scores), int(lens[0])
        z = np.zeros((n, longest, lay.n_tags))
        for r, i in enumerate(order):
            z[r, :lens[r]] = self.model.ops.to_numpy(scores[i])
        best = z[:, 0] + lay.start
        back = np.zeros((n, longest, lay.n_tags), dtype=np.uint8 if lay.n_tags < 256 else np.int32)
        running = n
        for t in range(1, longest):
            while lens[running - 1] <= t:          # finished docs keep their last scores
                running -= 1
            step = best[:running, :, None] + trans  # [doc, previous tag, tag]
            prev = step.argmax(1)
            back[:running, t] = prev
            best[:running] = np.take_along_axis(step, prev[:, None, :], 1)[:, 0] + z[:running, t]
        state = (best + lay.end).argmax(1)          # a doc must end outside an entity
        path = np.zeros((n, longest), dtype=np.int64)
        path[np.arange(n), lens - 1] = state
        for t in range(longest - 1, 0, -1):
            k = int(np.count_nonzero(lens > t))     # docs still running at t (a prefix)
            state[:k] = back[np.arange(k), t, state[:k]]
            path[:k, t - 1] = state[:k]
        out = [None] * n
        for r, i in enumerate(order):
            out[i] = path[r, :lens[r]]
        return out

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


@Language.factory(FACTORY, default_config={"model": None, "loss": "sequence"})
def make_biluo_ner(nlp: Language, name: str, model, loss: str) -> BiluoNer:
    if loss not in LOSSES:
        raise ValueError(f"{name}: loss must be one of {', '.join(LOSSES)}, not {loss!r}")
    head = BiluoNer(nlp.vocab, model, name)
    head.loss = loss
    return head
