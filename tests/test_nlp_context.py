from pathlib import Path

import pytest
import yaml

from pipeline.nlp.context import ContextRulesError, attributes, load_rules

SENTENCES = Path(__file__).parent / "data" / "context_sentences.yaml"
LETTERS = {"N": "negated", "U": "uncertain", "H": "historical", "F": "family"}


def attrs(text, mentions, section=None):
    spans = [(text.index(m), text.index(m) + len(m)) for m in mentions]
    return {m: {k for k, v in a.items() if v} for m, a in zip(mentions, attributes(text, spans, section))}


def test_negation_covers_a_list():
    assert attrs("否认高血压、糖尿病病史", ["高血压", "糖尿病"]) == {
        "高血压": {"negated", "historical"}, "糖尿病": {"negated", "historical"}}


def test_negation_stops_at_a_clause():
    assert attrs("无发热，有咳嗽", ["发热", "咳嗽"]) == {"发热": {"negated"}, "咳嗽": set()}


def test_negation_stops_at_newline_and_sentence():
    assert attrs("无发热\n咳嗽3天", ["发热", "咳嗽"])["咳嗽"] == set()
    assert attrs("否认发热。今日出现寒战", ["发热", "寒战"])["寒战"] == set()


def test_pseudo_cue_and_cue_inside_entity_do_not_negate():
    assert attrs("患者无明显诱因出现发热", ["发热"])["发热"] == set()
    assert attrs("四肢无力，伴头痛", ["四肢无力", "头痛"]) == {"四肢无力": set(), "头痛": set()}


def test_uncertainty_forward_and_backward():
    assert attrs("考虑肺炎", ["肺炎"])["肺炎"] == {"uncertain"}
    assert attrs("肺结核待排", ["肺结核"])["肺结核"] == {"uncertain"}
    assert attrs("急性胰腺炎?", ["急性胰腺炎"])["急性胰腺炎"] == {"uncertain"}


def test_short_reach_cue_binds_to_the_nearest_entity():
    assert attrs("CT示肝转移可能", ["CT", "肝转移"]) == {"CT": set(), "肝转移": {"uncertain"}}


def test_section_defaults():
    assert attrs("高血压10年", ["高血压"], "既往史")["高血压"] == {"historical"}
    assert attrs("父亲患肺癌", ["肺癌"], "家族史")["肺癌"] == {"family"}
    assert attrs("高血压10年", ["高血压"], "现病史")["高血压"] == set()


def test_hand_checked_sentences_accuracy():
    items = yaml.safe_load(SENTENCES.read_text(encoding="utf-8"))
    assert len(items) >= 200
    right = total = 0
    for it in items:
        got = attrs(it["t"], list(it.get("e") or {}), it.get("s"))
        for m, exp in (it.get("e") or {}).items():
            want = {LETTERS[c] for c in exp or ""}
            for a in LETTERS.values():
                total += 1
                right += (a in got[m]) == (a in want)
    assert right / total >= 0.99


def test_bad_rules_file_is_reported(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("cues:\n  - {cue: 无, attr: maybe}\n", encoding="utf-8")
    with pytest.raises(ContextRulesError, match="cue #1"):
        load_rules(str(p))
