"""Matrix products of the NER models through numpy's BLAS, in training and at run time.

thinc's CPU ops multiply with BLIS by default. For the encoder's shapes (tens of thousands of
characters × 480 inputs × 192 outputs) BLIS is several times slower than numpy's OpenBLAS, and
those products are most of the pipeline's time, at run time and in training
(docs/NER-EXPERIMENTS.md). Only the arithmetic library changes: a model finds the same entities
with either library, whichever it was trained with.
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
