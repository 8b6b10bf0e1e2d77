"""Masked-character pretraining of the shared encoder (pipeline/nlp/pretrain.py)."""
import json
import random

from pipeline.nlp import pretrain, train
from pipeline.nlp.build import blank_nlp, encoder_config
from tests.test_nlp_shared_encoder import SETS, SMALL

TEXTS = [d.text for docs in SETS.values() for d in docs]


def test_masker_hides_about_15_percent_and_remembers_the_originals():
    text = "患者3年前无明显诱因出现上腹痛，胃镜示胃体溃疡。 否认高血压、糖尿病病史。" * 40
    mask = pretrain.Masker([text], random.Random(0))
    masked, targets = mask(text)
    assert len(masked) == len(text)
    assert 0.10 < len(targets) / len(text) < 0.20
    assert all(text[i] != " " for i, _ in targets)                       # whitespace is never a target
    assert all(mask.class_of.get(text[i], 0) == c for i, c in targets)
    assert sum(masked[i] == pretrain.MASK for i, _ in targets) > 0.7 * len(targets)
    assert all(masked[i] == ch for i, ch in enumerate(text) if i not in {j for j, _ in targets})


def test_pretraining_learns_and_is_reproducible(tmp_path):
    nlp, cfg = blank_nlp(None), encoder_config(**SMALL)
    a = pretrain.pretrain_encoder(nlp, cfg, TEXTS * 4, epochs=4, seed=1, log_path=tmp_path / "a.log")
    b = pretrain.pretrain_encoder(nlp, cfg, TEXTS * 4, epochs=4, seed=1)
    assert a == b
    losses = [float(line.split(" loss ")[1].split()[0]) for line in (tmp_path / "a.log").read_text().splitlines()]
    assert len(losses) == 4 and losses[-1] < losses[0]


def test_ner_training_starts_from_the_pretrained_encoder(tmp_path):
    def run(name, epochs):
        (tmp_path / f"work_{name}").mkdir()
        infos = train.fit(SETS, tmp_path / name, tmp_path / f"work_{name}", None, seed=2, max_epochs=1,
                          pretrain_epochs=epochs, unlabeled=["腹腔镜下胆囊切除术，慢性胆囊炎"], **SMALL)
        return (tmp_path / name / "tok2vec" / "model").read_bytes(), infos

    plain, plain_info = run("plain", 0)
    first, info = run("first", 2)
    again, _ = run("again", 2)
    assert first == again and first != plain
    assert info[0]["pretrain"]["epochs"] == 2 and info[0]["pretrain"]["texts"] == len(TEXTS) - 4 + 1  # dev docs left out
    assert "pretrain" not in plain_info[0]
    assert "pretrain epoch 2" in (tmp_path / "work_first" / "shared.log").read_text()
    json.dumps(info)  # the model card stores it
