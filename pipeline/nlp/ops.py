"""Matrix products of the NER models through numpy's BLAS, in training and at run time.

thinc's CPU ops multiply with BLIS by default. For the encoder's shapes (tens of thousands of
characters × 480 inputs × 192 outputs) BLIS ran at about a third of numpy's OpenBLAS on our
2-core test machine (34 vs 92 GFLOP/s, one thread each), and those products are most of the
pipeline's time: run time 17k → 26k chars/s per core, training about twice as fast. Only the
arithmetic library changes: a model trained with BLIS and one trained with numpy's BLAS each find
the same entities on the 458 held-out documents of the three corpora with either library.
"""
from __future__ import annotations

import spacy
from thinc.api import NumpyOps


NUMPY_BLAS = NumpyOps(use_blis=False)


def use_numpy_blas(nlp: spacy.Language) -> None:
    """Point every layer of the pipeline's models at numpy-BLAS ops."""
    for _, component in nlp.pipeline:
        model = getattr(component, "model", None)
        if model is not None and hasattr(model, "walk"):
            for node in model.walk():
                node.ops = NUMPY_BLAS
