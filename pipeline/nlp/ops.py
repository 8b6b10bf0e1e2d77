"""Matrix products of the NER models through numpy's BLAS at run time.

thinc's CPU ops multiply with BLIS by default. For the encoder's shapes (tens of thousands of
characters × 480 inputs × 192 outputs) BLIS ran at about a third of numpy's OpenBLAS on our
2-core test machine (34 vs 92 GFLOP/s, one thread each), and those products are most of the
pipeline's time. Only the arithmetic library changes, not the model: the entities on the 458
held-out documents of the three corpora are identical either way.

Training keeps thinc's default so that `medreview train ner` still reproduces the shipped model
byte for byte. Trained with numpy's BLAS it took 200 s instead of 381 s, but the different rounding
gives a different model (held-out Yidu-S4K 0.7997 vs 0.8029).
"""
from __future__ import annotations

import spacy
from thinc.api import NumpyOps


def use_numpy_blas(nlp: spacy.Language) -> None:
    """Point every layer of the pipeline's models at numpy-BLAS ops."""
    ops = NumpyOps(use_blis=False)
    for _, component in nlp.pipeline:
        model = getattr(component, "model", None)
        if model is not None and hasattr(model, "walk"):
            for node in model.walk():
                node.ops = ops
