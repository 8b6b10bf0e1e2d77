"""The BILUO tagger NER head: tag set, constrained Viterbi decoding, entities already on the doc."""
import numpy as np
import pytest
from spacy.tokens import Span

from pipeline.nlp import biluo, corpora
from pipeline.nlp.build import blank_nlp, encoder_config
from pipeline.nlp.epochs import to_examples

DOCS = [corpora.NerDoc(f"d{i}", f"患者{a}，予{b}治疗。", [(2, 2 + len(a), "DISEASE"), (4 + len(a), 4 + len(a) + len(b), "DRUG")])
        for i, (a, b) in enumerate([("高血压", "硝苯地平"), ("糖尿病", "二甲双胍")])]


def _new_head():
    """A small initialized pipeline with one head; returns (nlp, head, optimizer)."""
    nlp = blank_nlp(None)
    h = biluo.add_head(nlp, "ner", ["DISEASE", "DRUG"], encoder_config(width=16, depth=1, rows=200))
    return nlp, h, nlp.initialize(lambda: to_examples(nlp, DOCS))


@pytest.fixture(scope="module")
def head():
    return _new_head()[:2]


def _valid(tags):
    open_label = None
    for t in tags:
        p, _, lab = t.partition("-")
        if open_label is None and p in ("I", "L"):
            return False
        if open_label is not None and (p not in ("I", "L") or lab != open_label):
            return False
        open_label = lab if p in ("B", "I") else None
    return open_label is None


def test_tag_set_and_entity_labels(head):
    _, h = head
    assert h.entity_labels == ("DISEASE", "DRUG")
    assert set(h.labels) == {"O"} | {f"{p}-{lab}" for p in "BILU" for lab in ("DISEASE", "DRUG")}


def test_viterbi_paths_are_valid_and_a_batch_decodes_like_single_docs(head):
    _, h = head
    rng = np.random.default_rng(0)
    lengths = [1, 7, 30, 3]
    scores = [rng.normal(0, 3, (n, len(h.labels))).astype("float32") for n in lengths]
    batch = h._viterbi(scores, lengths)
    for s, n, path in zip(scores, lengths, batch):
        assert len(path) == n and _valid([h.labels[i] for i in path])
        assert list(h._viterbi([s], [n])[0]) == list(path)   # padding changes nothing


def _brute_best(z, weights, labels):
    """The best score of any valid tag sequence: logits plus the weights of its steps."""
    import itertools

    valid = [p for p in itertools.product(range(len(labels)), repeat=len(z)) if _valid([labels[i] for i in p])]
    return max(sum(z[t, i] for t, i in enumerate(p)) + sum(weights[a, b] for a, b in zip(p, p[1:])) for p in valid)


def test_viterbi_finds_the_best_valid_path(head):
    """Against brute force over every valid tag sequence of short random docs."""
    _, h = head
    rng = np.random.default_rng(1)
    no_weights = np.zeros((len(h.labels), len(h.labels)))
    for n in (1, 2, 4):
        for _ in range(3):
            z = rng.normal(0, 2, (n, len(h.labels))).astype("float32")
            got = h._viterbi([z], [n])[0]
            assert sum(z[t, i] for t, i in enumerate(got)) == pytest.approx(_brute_best(z, no_weights, h.labels))


def test_viterbi_repairs_what_greedy_argmax_gets_wrong(head):
    _, h = head
    ix = {t: i for i, t in enumerate(h.labels)}
    want = ["O", "B-DISEASE", "I-DISEASE", "L-DISEASE", "O"]
    greedy = ["O", "I-DISEASE", "I-DISEASE", "L-DISEASE", "O"]     # invalid: I without B
    z = np.full((5, len(h.labels)), -5.0, dtype="float32")
    for t, (g, w) in enumerate(zip(greedy, want)):
        z[t, ix[g]] = 2.0
        z[t, ix[w]] = max(z[t, ix[w]], 1.5)
    assert [h.labels[i] for i in z.argmax(1)] == greedy
    assert [h.labels[i] for i in h._viterbi([z], [5])[0]] == want


def test_entities_already_on_the_doc_are_kept(head):
    nlp, h = head
    doc = nlp.make_doc("入院后予一级护理")
    doc.ents = [Span(doc, 4, 8, "NURSING_LEVEL")]
    ix = {t: i for i, t in enumerate(h.labels)}
    path = [ix[t] for t in ["O", "O", "O", "B-DRUG", "I-DRUG", "L-DRUG", "O", "O"]]  # overlaps the ruler's span
    h._set_ents(doc, path)
    assert [(e.start, e.end, e.label_) for e in doc.ents] == [(4, 8, "NURSING_LEVEL")]
    path = [ix[t] for t in ["U-DRUG", "O", "O", "O", "O", "O", "O", "O"]]
    h._set_ents(doc, path)
    assert [(e.start, e.end, e.label_) for e in doc.ents] == [(0, 1, "DRUG"), (4, 8, "NURSING_LEVEL")]


@pytest.mark.parametrize("loss", ["sequence", "character"])
def test_unannotated_characters_are_missing_not_outside(head, loss):
    nlp, h = head
    from spacy.training import Example

    ix = {t: i for i, t in enumerate(h.labels)}
    z = np.full((5, len(h.labels)), -4.0)
    for t, tag in enumerate(["O", "O", "B-DISEASE", "I-DISEASE", "L-DISEASE"]):
        z[t, ix[tag]] = 4.0
    probs = [(np.exp(z) / np.exp(z).sum(1, keepdims=True)).astype("float32")]
    missing = Example.from_dict(nlp.make_doc("患者高血压"), {"entities": ["O", "O", "-", "-", "-"]})
    outside = Example.from_dict(nlp.make_doc("患者高血压"), {"entities": ["O"] * 5})
    h.loss = loss
    try:
        loss_missing, d_missing = h.get_loss([missing], probs)
        loss_outside, d_outside = h.get_loss([outside], probs)
    finally:
        h.loss = "sequence"
    # the model's DISEASE is not punished where nothing is annotated, but is where O is
    assert loss_missing < 0.01 < 1 < loss_outside
    assert np.abs(d_missing[0][2:]).max() < 0.01
    assert (d_outside[0][2:, ix["O"]] < -0.5).all()


def test_an_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="loss must be one of sequence, character"):
        biluo.add_head(blank_nlp(None), "ner", ["DRUG"], encoder_config(width=16, depth=1, rows=200), loss="hinge")


def test_viterbi_adds_the_learned_transition_weights():
    _, h, _ = _new_head()        # its own: the weights are set below
    rng = np.random.default_rng(7)
    weights = rng.normal(0, 2, (len(h.labels), len(h.labels))).astype("float32")
    h.model.get_ref(biluo.TRANSITIONS).set_param("W", weights)
    changed = False
    for n in (2, 3, 4):
        for _ in range(3):
            z = rng.normal(0, 1, (n, len(h.labels))).astype("float32")
            got = h._viterbi([z], [n])[0]
            score = sum(z[t, i] for t, i in enumerate(got)) + sum(weights[a, b] for a, b in zip(got, got[1:]))
            assert _valid([h.labels[i] for i in got])
            assert score == pytest.approx(_brute_best(z, weights, h.labels), abs=1e-4)
            changed |= score != pytest.approx(_brute_best(z, np.zeros_like(weights), h.labels), abs=1e-4)
    assert changed


def test_training_learns_transition_weights_that_survive_save_and_load(tmp_path):
    import spacy

    nlp, h, optimizer = _new_head()
    for _ in range(5):
        nlp.update(to_examples(nlp, DOCS), sgd=optimizer)
    weights = h.model.ops.to_numpy(h.model.get_ref(biluo.TRANSITIONS).get_param("W"))
    from pipeline.nlp.crf import Layout

    allowed = Layout(h.labels).allowed
    assert np.abs(weights[allowed]).max() > 1e-3 and not weights[~allowed].any()
    nlp.to_disk(tmp_path / "m")
    loaded = spacy.load(tmp_path / "m")
    again = loaded.get_pipe("ner").model.get_ref(biluo.TRANSITIONS).get_param("W")
    assert np.array_equal(loaded.get_pipe("ner").model.ops.to_numpy(again), weights)
    text = DOCS[0].text
    assert [(e.start_char, e.end_char, e.label_) for e in loaded(text).ents] == \
        [(e.start_char, e.end_char, e.label_) for e in nlp(text).ents]


def test_a_head_on_plain_spacy_tagger_decodes_with_weightless_steps():
    """Models trained before the transition weights existed still load, decode and train."""
    nlp = blank_nlp(None)
    config = dict(biluo.head_config(encoder_config(width=16, depth=1, rows=200)), **{"@architectures": "spacy.Tagger.v2"})
    h = nlp.add_pipe(biluo.FACTORY, name="ner", config={"model": config})
    for label in ("DISEASE", "DRUG"):
        h.add_entity_label(label)
    optimizer = nlp.initialize(lambda: to_examples(nlp, DOCS))
    assert not h.model.has_ref(biluo.TRANSITIONS)
    losses = {}
    nlp.update(to_examples(nlp, DOCS), sgd=optimizer, losses=losses)
    assert losses["ner"] > 0
    z = np.random.default_rng(2).normal(0, 1, (3, len(h.labels))).astype("float32")
    got = h._viterbi([z], [3])[0]
    assert sum(z[t, i] for t, i in enumerate(got)) == pytest.approx(_brute_best(z, np.zeros((len(h.labels),) * 2), h.labels), abs=1e-4)
