"""The shared-encoder NER: one tok2vec, heads listening to it, each head trained only on its own
corpus's batches; reproducible and assembled like the shipped model."""
import numpy as np
import spacy

from pipeline.nlp import corpora, train, train_shared
from pipeline.nlp.epochs import to_examples

DISEASE_DOCS = [
    corpora.NerDoc(f"d{i}", f"患者{a}，予{b}治疗。", [(2, 2 + len(a), "DISEASE"), (4 + len(a), 4 + len(a) + len(b), "DRUG")], group=f"g{i}")
    for i, (a, b) in enumerate([("高血压", "硝苯地平"), ("糖尿病", "二甲双胍"), ("肺炎", "头孢曲松"), ("胃炎", "奥美拉唑")] * 5)
]
SYMPTOM_DOCS = [
    corpora.NerDoc(f"s{i}", f"患者诉{a}{n}天。", [(3, 3 + len(a), "SYMPTOM")], group=f"h{i}")
    for i, (a, n) in enumerate([("咳嗽", 3), ("发热", 2), ("胸痛", 1), ("腹痛", 5)] * 5)
]
SETS = {"ner": DISEASE_DOCS, "ner_ccks2017": SYMPTOM_DOCS}
SMALL = {"width": 32, "depth": 2, "rows": 400}


def _params(nlp, name):
    model = nlp.get_pipe(name).model
    return {(node.id, p): node.get_param(p).copy() for node in model.walk() for p in node.param_names if node.has_param(p)}


def test_one_encoder_heads_listen_and_keep_their_labels(tmp_path):
    info = train_shared.train_shared(SETS, tmp_path / "m", None, seed=3, max_epochs=2, **SMALL)
    nlp = spacy.load(tmp_path / "m")
    assert nlp.pipe_names == ["tok2vec", "ner", "ner_ccks2017"]
    assert set(nlp.get_pipe("tok2vec").listening_components) == {"ner", "ner_ccks2017"}
    assert set(nlp.get_pipe("ner").entity_labels) == {"DISEASE", "DRUG"}
    assert set(nlp.get_pipe("ner_ccks2017").entity_labels) == {"SYMPTOM"}
    assert set(info["components"]) == {"ner", "ner_ccks2017"} and len(info["history"]) == 2


def test_encoder_shape_reaches_the_saved_model_and_the_info(tmp_path):
    # window 2 × depth 2: each character sees 4 characters either side; two maxout pieces
    info = train_shared.train_shared(SETS, tmp_path / "m", None, seed=3, max_epochs=1, window=2, maxout=2, **SMALL)
    assert (info["window"], info["maxout"]) == (2, 2)
    nlp = spacy.load(tmp_path / "m")
    encode = nlp.get_pipe("tok2vec").model.get_ref("encode")
    maxouts = [n for n in encode.walk() if n.name == "maxout"]
    assert len(maxouts) == 2
    assert all(n.get_dim("nI") == 5 * 32 and n.get_dim("nP") == 2 for n in maxouts)


def test_a_batch_of_one_corpus_updates_the_encoder_and_its_head_only(tmp_path):
    from thinc.api import Adam

    nlp = train_shared.build(None, {"ner": ["DISEASE", "DRUG"], "ner_ccks2017": ["SYMPTOM"]}, **SMALL)
    examples = to_examples(nlp, DISEASE_DOCS[:4])
    nlp.initialize(lambda: examples, sgd=Adam(0.001))
    before = {n: _params(nlp, n) for n in ("tok2vec", "ner", "ner_ccks2017")}
    train_shared._listen_last(nlp, "ner")
    opt = Adam(0.01)
    # The heads' output layer starts at zero (no gradient reaches the encoder on the first update)
    # and the encoder applies a gradient at the next update: 4 updates are enough to see it move.
    for _ in range(4):
        nlp.update(examples, sgd=opt, exclude=["ner_ccks2017"])
    after = {n: _params(nlp, n) for n in before}
    same = {n: all(np.array_equal(before[n][k], after[n][k]) for k in before[n]) for n in before}
    assert same == {"tok2vec": False, "ner": False, "ner_ccks2017": True}


def test_without_reordering_the_excluded_last_listener_starves_the_encoder(tmp_path):
    """Why _listen_last exists: spaCy's encoder backpropagates through its last listener."""
    from thinc.api import Adam

    nlp = train_shared.build(None, {"ner": ["DISEASE", "DRUG"], "ner_ccks2017": ["SYMPTOM"]}, **SMALL)
    examples = to_examples(nlp, DISEASE_DOCS[:4])
    nlp.initialize(lambda: examples, sgd=Adam(0.001))
    before = _params(nlp, "tok2vec")
    opt = Adam(0.01)
    for _ in range(4):
        nlp.update(examples, sgd=opt, exclude=["ner_ccks2017"])
    after = _params(nlp, "tok2vec")
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_reproducible_and_assembled_like_the_shipped_model(tmp_path):
    a = train_shared.train_shared(SETS, tmp_path / "a", None, seed=5, max_epochs=2, **SMALL)
    b = train_shared.train_shared(SETS, tmp_path / "b", None, seed=5, max_epochs=2, **SMALL)
    # the same losses and dev scores epoch by epoch; elapsed_s is wall time, not part of the result
    untimed = lambda h: [{k: v for k, v in e.items() if k != "elapsed_s"} for e in h]   # noqa: E731
    assert untimed(a["history"]) == untimed(b["history"])
    for part in ("tok2vec", "ner", "ner_ccks2017"):
        assert (tmp_path / "a" / part / "model").read_bytes() == (tmp_path / "b" / part / "model").read_bytes()
    train_shared.assemble_shared(tmp_path / "a", tmp_path / "full", {"ner": None, "ner_ccks2017": ["SYMPTOM"]},
                                 train.MAY_CONTAIN)
    full = spacy.load(tmp_path / "full")
    assert full.pipe_names == ["tok2vec", "entity_ruler", "ner", "stash_ner_ccks2017", "ner_ccks2017",
                               "merge_ner_ccks2017"]
    text = "入院后予一级护理，患者诉咳嗽3天。"
    again = spacy.load(tmp_path / "full")
    ents = [(e.start_char, e.end_char, e.label_) for e in full(text).ents]
    assert ents == [(e.start_char, e.end_char, e.label_) for e in again(text).ents]
    assert (4, 8, "NURSING_LEVEL") in ents
