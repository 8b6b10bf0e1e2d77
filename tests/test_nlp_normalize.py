import numpy as np
import pytest

from pipeline.nlp import corpora, normalize
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


def test_forest_export_matches_scikit_learn():
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 6))
    y = ((X[:, 0] * X[:, 1] > 0.2) | (X[:, 2] > 1.0)).astype(int)   # needs interactions and depth
    model = HistGradientBoostingClassifier(max_iter=80, random_state=0).fit(X, y)
    forest = normalize.Forest.from_sklearn(model)
    Xt = rng.normal(size=(500, 6))
    assert np.allclose(forest.predict(Xt), model.predict_proba(Xt)[:, 1], atol=1e-9)
    assert forest.predict(np.zeros((0, 6))).shape == (0,)


def test_context_features_see_containment():
    names = ["支气管扩张症", "支气管扩张症合并感染", "感染"]
    f = normalize.context_features(names, np.array([0.4, 0.9, 0.2]))
    col = dict(zip(normalize.CONTEXT_FEATURES, f.T))
    assert col["p_within"].tolist() == [0.9, 0.0, 0.9]        # inside a likelier name
    assert col["p_contains"].tolist() == [0.0, 0.4, 0.0]      # contains 支气管扩张症 (0.4); 感染 is within it too
    assert col["p1_inv_rank"].tolist() == [0.5, 1.0, 1 / 3]


def test_nearest_training_examples_propose_their_targets():
    """A target the wording does not spell out (癌 for 肺癌) comes from similar training texts."""
    table = CodeTable(["C34.9", "M80.0", "J18.9"], ["肺恶性肿瘤", "癌", "肺炎"], "t")
    zero = {"weights": [0.0] * len(normalize.FEATURES), "bias": 0.0, "threshold": 0.5}
    examples = [("右肺癌", ["肺恶性肿瘤", "癌"]), ("社区获得性肺炎", ["肺炎"])]
    n = Normalizer(table, ranker=zero, examples=examples)
    cands, X = n.features("左肺癌")
    col = dict(zip(normalize.FEATURES, X.T))
    by_name = {table.names[c]: i for i, c in enumerate(cands)}
    assert col["knn_max"][by_name["癌"]] > 0.3 and col["knn_vote"][by_name["癌"]] > col["knn_vote"][by_name["肺炎"]]
    assert col["knn_first"][by_name["肺恶性肿瘤"]] == 1.0
    assert Normalizer(table, ranker=zero).features("左肺癌")[1][:, normalize.FEATURES.index("knn_max")].max() == 0.0


def test_knn_bounds_the_training_examples_consulted():
    table = CodeTable(["C34.9", "M80.0", "J18.9"], ["肺恶性肿瘤", "癌", "肺炎"], "t")
    zero = {"weights": [0.0] * len(normalize.FEATURES), "bias": 0.0, "threshold": 0.5}
    examples = [("右肺癌", ["肺恶性肿瘤", "癌"]), ("社区获得性肺炎", ["肺炎"])]
    knn_max = normalize.FEATURES.index("knn_max")
    for knn, expected in ((1, {"肺恶性肿瘤", "癌"}), (2, {"肺恶性肿瘤", "癌", "肺炎"})):
        cands, X = Normalizer(table, ranker=zero, examples=examples, knn=knn).features("左肺癌")
        assert {table.names[c] for c, x in zip(cands, X[:, knn_max]) if x > 0} == expected, knn


def test_cdn_normalizer_looks_as_wide_as_its_ranker_was_trained():
    table = CodeTable(["C34.9", "J18.9"], ["肺恶性肿瘤", "肺炎"], "t")
    norm = normalize.cdn_normalizer(table, [corpora.CdnItem("右肺癌", ["肺恶性肿瘤"])])
    meta = normalize.StackedRanker.load(normalize.MEMORY_RANKER_PATH).meta
    assert (norm.k, norm.knn) == (meta["k"], meta["knn"]) == (normalize.MEMORY_K, normalize.MEMORY_KNN)
    assert Normalizer(table).k == 10                      # the pipeline's table-only setting


def test_stacked_ranker_round_trip(tmp_path):
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(1)
    k = len(normalize.FEATURES)
    X = rng.random((400, k))
    y = (X[:, 0] > 0.5).astype(int)
    first = normalize.Forest.from_sklearn(HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y))
    X2 = np.hstack([X, normalize.context_features([str(i) for i in range(400)], first.predict(X))])
    second = normalize.Forest.from_sklearn(HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X2, y))
    ranker = normalize.StackedRanker(first, second, 0.3, {"dev_f1": 0.5})
    ranker.save(tmp_path / "r.npz")
    back = normalize.StackedRanker.load(tmp_path / "r.npz")
    names = [str(i) for i in range(10)]
    assert back.threshold == 0.3 and back.meta["dev_f1"] == 0.5
    assert np.array_equal(back.probs(names, X[:10]), ranker.probs(names, X[:10]))


def test_shipped_rankers_match_the_feature_list():
    """The rankers in pipeline/nlp/data are built for today's FEATURES (retrain when they change)."""
    assert len(normalize.load_ranker("table_only")["weights"]) == len(normalize.FEATURES)
    stacked = normalize.StackedRanker.load(normalize.MEMORY_RANKER_PATH)
    assert stacked.meta["features"] == normalize.FEATURES and 0 < stacked.threshold < 1


def test_char_index_matches_scikit_learn():
    from sklearn.feature_extraction.text import TfidfVectorizer

    names = ["2型糖尿病", "糖尿病性肾病", "高血压", "冠状动脉粥样硬化性心脏病", "COPD  急性加重", "胃恶性肿瘤"]
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, dtype=np.float32)
    ref = vec.fit_transform(names)
    index = normalize.CharIndex(names)
    for q in ["糖尿病肾病糖尿病", "copd 急性加重", "高血压病", "无关词"]:
        expected = (vec.transform([q]) @ ref.T).toarray()[0]
        assert np.allclose(index.similarities(q), expected, atol=1e-6), q


@pytest.mark.parametrize("a,b,n", [("糖尿病肾病", "2型糖尿病", 3), ("肺炎", "肺恶性肿瘤", 1), ("", "x", 0),
                                   ("胃癌", "胃癌术后", 2), ("abc", "xyz", 0)])
def test_longest_common_substring(a, b, n):
    assert normalize._lcs(a, b) == n
