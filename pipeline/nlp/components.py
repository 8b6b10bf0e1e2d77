"""Pipeline components that let two NER models with different annotation schemes work together.

Our NER heads (biluo.py), like spaCy's NER, keep entities already on the doc, so a second head
run after the first could only fill gaps, and would be pushed off correct spans by the first
one's mistakes. Instead the first model's entities are stashed, the second model runs on a clean
doc, and the merge keeps the first model's entities plus the second's entities of the labels it
adds (e.g. SYMPTOM, EXAM, TREATMENT from CCKS 2017); those that overlap the first model's go to
``doc.spans[EXTRA_KEY]``.
"""
from __future__ import annotations

from spacy.language import Language
from spacy.util import filter_spans

STASH_KEY = "medreview_ner"
# Second-model entities that overlap the first model's (胸痛 SYMPTOM over 胸 ANATOMY): doc.ents
# cannot overlap, but the entities table can, so they travel in this span group.
EXTRA_KEY = "medreview_extra"


@Language.component("medreview_stash_ents")
def stash_ents(doc):
    doc.spans[STASH_KEY] = list(doc.spans.get(STASH_KEY, [])) + list(doc.ents)
    doc.ents = ()
    return doc


class MergeEnts:
    """``adds``: labels taken from the second model; ``may_contain``: label → first-model labels
    an added entity may wholly contain (a SYMPTOM 胸痛 contains an ANATOMY 胸); such an entity
    is kept in the extra span group, any other overlap is dropped."""

    def __init__(self, adds: list[str], may_contain: dict[str, list[str]] | None = None):
        self.adds = set(adds)
        self.may_contain = {k: set(v) for k, v in (may_contain or {}).items()}

    def _contains_ok(self, e, kept) -> bool:
        inner = [k for k in kept if k.start < e.end and e.start < k.end]
        allowed = self.may_contain.get(e.label_, set())
        return bool(inner) and all(k.label_ in allowed and e.start <= k.start and k.end <= e.end for k in inner)

    def __call__(self, doc):
        kept = list(doc.spans.get(STASH_KEY, []))
        extra = [e for e in doc.ents if e.label_ in self.adds]
        taken = set()
        for e in kept:
            taken.update(range(e.start, e.end))
        free = [e for e in extra if not taken.intersection(range(e.start, e.end))]
        doc.ents = filter_spans(kept + free)
        doc.spans[EXTRA_KEY] = list(doc.spans.get(EXTRA_KEY, [])) + [
            e for e in extra if e not in free and self._contains_ok(e, kept)]
        doc.spans[STASH_KEY] = []
        return doc


@Language.factory("medreview_merge_ents", default_config={"adds": [], "may_contain": {}})
def make_merge_ents(nlp, name, adds: list[str], may_contain: dict[str, list[str]]):
    return MergeEnts(adds, may_contain)


ENCODER = "tok2vec"


def with_encoder(pipe_names: list[str], names: list[str]) -> list[str]:
    """``names`` plus the shared encoder their NER heads listen to, when the model has one
    (a head alone cannot run without it)."""
    return ([ENCODER] if ENCODER in pipe_names and ENCODER not in names else []) + list(names)
