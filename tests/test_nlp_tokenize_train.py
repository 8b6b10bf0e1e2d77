import spacy

from pipeline.nlp import build, corpora, tokenize, train


def test_char_tokens_carry_word_features(tmp_path):
    ud = tmp_path / "ud.txt"
    ud.write_text("直肠癌根治术 10 n\n", encoding="utf-8")
    nlp = build.blank_nlp(ud)
    doc = nlp("行直肠癌根治术")
    assert [t.text for t in doc] == list("行直肠癌根治术")
    assert doc[1].lemma_ == "直肠癌根治术" and doc[1].tag_ == "B" and doc[6].tag_ == "E"
    assert doc[1].norm_ == "直肠"


def test_userdict_from_code_table(tmp_path):
    icd = tmp_path / "icd"
    icd.mkdir()
    (icd / "t.csv").write_text("code,name\nI10,特发性（原发性）高血压\nX1,\"霍乱,由于O1群\"\nI25,冠状动脉粥样硬化性心脏病\n", encoding="utf-8")
    words = tokenize.build_userdict(icd, extra_terms=["一级护理"], out=tmp_path / "ud.txt")
    assert "冠状动脉粥样硬化性心脏病" in words and "特发性高血压" in words and "一级护理" in words
    assert not any("," in w for w in words)
    assert (tmp_path / "ud.txt").read_text(encoding="utf-8").count("\n") == len(words)


def test_alignment_ceiling():
    docs = [corpora.NerDoc("d", "右肺上叶癌", [(0, 4, "ANATOMY"), (0, 5, "DISEASE")])]
    assert tokenize.alignment_ceiling(docs, list)["ceiling"] == 1.0
    assert tokenize.alignment_ceiling(docs, lambda t: ["右肺", "上叶癌"])["ceiling"] == 0.5


DOCS = [
    corpora.NerDoc(f"d{i}", f"患者{a}，予{b}治疗。", [(2, 2 + len(a), "DISEASE"), (4 + len(a), 4 + len(a) + len(b), "DRUG")], group=f"g{i}")
    for i, (a, b) in enumerate([("高血压", "硝苯地平"), ("糖尿病", "二甲双胍"), ("肺炎", "头孢曲松"), ("胃炎", "奥美拉唑")] * 5)
]


def _train(tmp_path, name):
    return train.train_on_docs("ner", DOCS, tmp_path / name, None, seed=7, max_epochs=2, width=32, depth=2)


def test_training_is_reproducible_and_model_round_trips(tmp_path):
    a = _train(tmp_path, "a")
    b = _train(tmp_path, "b")
    # the same losses and dev scores epoch by epoch; elapsed_s is wall time, not part of the result
    untimed = lambda h: [{k: v for k, v in e.items() if k != "elapsed_s"} for e in h]   # noqa: E731
    assert untimed(a["history"]) == untimed(b["history"])
    ner_a = (tmp_path / "a" / "ner" / "model").read_bytes()
    assert ner_a == (tmp_path / "b" / "ner" / "model").read_bytes()
    nlp = spacy.load(tmp_path / "a")
    assert isinstance(nlp.tokenizer, tokenize.CharTokenizer)
    nlp.to_disk(tmp_path / "c")
    text = "患者高血压，予硝苯地平治疗。"
    again = spacy.load(tmp_path / "c")
    assert [(e.start_char, e.end_char, e.label_) for e in nlp(text).ents] == [(e.start_char, e.end_char, e.label_) for e in again(text).ents]
    assert set(nlp.get_pipe("ner").entity_labels) == {"DISEASE", "DRUG"}


def test_assembled_pipeline_has_rule_labels(tmp_path):
    _train(tmp_path, "part")
    nlp = train.assemble({"ner": tmp_path / "part"}, tmp_path / "full", None)
    assert nlp.pipe_names == ["entity_ruler", "ner"]
    ents = [(e.text, e.label_) for e in nlp("入院后予一级护理").ents]
    assert ("一级护理", "NURSING_LEVEL") in ents


def test_merge_keeps_first_model_and_adds_only_new_labels():
    from spacy.tokens import Span

    from pipeline.nlp.components import MergeEnts, stash_ents

    nlp = build.blank_nlp(None)
    doc = nlp("右肺癌伴咳嗽胸痛")
    doc.ents = [Span(doc, 0, 3, "DISEASE"), Span(doc, 6, 7, "ANATOMY")]  # first model: 右肺癌, 胸
    doc = stash_ents(doc)
    assert doc.ents == ()
    # second model: its own DISEASE/ANATOMY view and two symptoms, one overlapping
    doc.ents = [Span(doc, 0, 2, "ANATOMY"), Span(doc, 2, 4, "SYMPTOM"), Span(doc, 4, 6, "SYMPTOM"), Span(doc, 6, 8, "SYMPTOM")]
    doc = MergeEnts(["SYMPTOM"], {"SYMPTOM": ["ANATOMY"]})(doc)
    assert [(e.text, e.label_) for e in doc.ents] == [("右肺癌", "DISEASE"), ("咳嗽", "SYMPTOM"), ("胸", "ANATOMY")]
    # 胸痛 contains the first model's ANATOMY: kept aside; 癌伴 cuts into a DISEASE: dropped;
    # the second model's own ANATOMY is not an added label: dropped
    assert [(e.text, e.label_) for e in doc.spans["medreview_extra"]] == [("胸痛", "SYMPTOM")]


def test_an_added_exam_or_treatment_may_contain_any_first_model_entity_a_symptom_only_a_body_part():
    from spacy.tokens import Span

    from pipeline.nlp.components import MergeEnts, stash_ents

    nlp = build.blank_nlp(None)
    doc = nlp("肠鸣音正常，腰椎CT，行胃癌根治术，腹痛，头孢他啶")
    # first model: 肠 ANATOMY, 腰椎CT IMAGING, 胃癌 DISEASE, 腹痛 DISEASE (a mistake), 头孢他啶 DRUG
    doc.ents = [Span(doc, 0, 1, "ANATOMY"), Span(doc, 6, 10, "IMAGING"), Span(doc, 12, 14, "DISEASE"),
                Span(doc, 18, 20, "DISEASE"), Span(doc, 21, 25, "DRUG")]
    doc = stash_ents(doc)
    # second model: the same mentions under CCKS 2017's coarser labels, and one cutting into a drug
    doc.ents = [Span(doc, 0, 3, "EXAM"), Span(doc, 6, 10, "EXAM"), Span(doc, 11, 17, "TREATMENT"),
                Span(doc, 18, 20, "SYMPTOM"), Span(doc, 20, 23, "TREATMENT")]
    doc = MergeEnts(["SYMPTOM", "EXAM", "TREATMENT"], train.MAY_CONTAIN)(doc)
    assert [(e.text, e.label_) for e in doc.ents] == [("肠", "ANATOMY"), ("腰椎CT", "IMAGING"), ("胃癌", "DISEASE"),
                                                      ("腹痛", "DISEASE"), ("头孢他啶", "DRUG")]
    # kept aside: an exam over a body part and over the same span as an IMAGING, a treatment over a
    # disease; dropped: a SYMPTOM over a DISEASE, and a partial overlap (，头孢) whatever its label
    assert [(e.text, e.label_) for e in doc.spans["medreview_extra"]] == [
        ("肠鸣音", "EXAM"), ("腰椎CT", "EXAM"), ("行胃癌根治术", "TREATMENT")]
