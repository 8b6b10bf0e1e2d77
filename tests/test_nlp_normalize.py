import pytest

from pipeline.nlp import normalize
from pipeline.nlp.normalize import CodeTable, CodeTableError, Normalizer, expand


def test_abbreviations_expand():
    assert expand("冠心病") == "冠状动脉粥样硬化性心脏病"
    assert expand("右肺Ca") == "右肺癌"
    assert expand("胃CA术后") == "胃癌术后"
    assert expand("2型DM") == "2型糖尿病"
    assert expand("COPD急性加重") == "慢性阻塞性肺疾病急性加重"
    # a Latin abbreviation inside a longer Latin word is not expanded
    assert expand("CAT扫描") == "CAT扫描"


@pytest.fixture(scope="module")
def builtin():
    return Normalizer(CodeTable.from_csv(normalize.BUILTIN_TABLE, kind="disease"))


@pytest.mark.parametrize("mention,code", [
    ("冠心病", "I25.1"),
    ("2型DM", "E11.9"),
    ("COPD", "J44.9"),
    ("高血压病", "I10"),
    ("急性阑尾炎", "K35.8"),
    ("脑梗塞", "I63.9"),
    ("直肠癌", "C20"),
    ("胃Ca", "C16.9"),
])
def test_builtin_table_codes_common_mentions(builtin, mention, code):
    m = builtin.normalize(mention)
    assert m is not None and m.code == code, (mention, m)


def test_procedure_table_is_separate():
    n = Normalizer(CodeTable.from_csv(normalize.BUILTIN_TABLE, kind="procedure"))
    assert n.normalize("行阑尾切除").code == "47.0900"
    assert n.normalize("腹腔镜下阑尾切除术").code == "47.0100"
    assert n.normalize("冠脉支架置入术").code == "36.0600"


def test_compound_mention_gives_several_names(builtin):
    names = {m.name for m in builtin.normalize_all("高血压；2型糖尿病；冠心病")}
    assert {"高血压", "2型糖尿病", "冠状动脉粥样硬化性心脏病"} <= names


def test_bad_table_is_a_clear_error(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("foo,bar\n1,2\n", encoding="utf-8")
    with pytest.raises(CodeTableError, match="code column"):
        CodeTable.from_csv(p)
    with pytest.raises(CodeTableError, match="not found"):
        CodeTable.from_csv(tmp_path / "none.csv")


def test_aliases_from_training_data_win(tmp_path):
    table = CodeTable.from_csv(normalize.BUILTIN_TABLE, kind="disease")
    assert Normalizer(table).normalize("甲乙丙症").code != "D64.9"
    n = Normalizer(table, aliases={"甲乙丙症": "贫血"})
    assert n.normalize("甲乙丙症").code == "D64.9"
