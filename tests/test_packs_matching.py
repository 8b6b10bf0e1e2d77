"""Charge lines to knowledge points: code families and normalization, the product prefix, and name
matching for lines without a national code (bench/pack_matching.py measures its precision)."""
import random

from pipeline.packs import active, codes
from pipeline.packs.index import NAME_THRESHOLD, CodeIndex, item_names, strip_spec
from pipeline.packs.schema import KnowledgePoint

X = "XL02BBA326A001010102180"          # 西药: class L02BB, generic A326, form A001, spec/package 0101, maker 02180
X_OTHER_MAKER = "XL02BBA326A001020299999"
X_OTHER_FORM = "XL02BBA326E001010102180"
Z = "ZD03AAA0043010100166"
Z_OTHER = "ZD03AAA0043020299999"
T = "T000700200"
S = "003313010080000"
S_SUB = "003313010080001"


def test_code_families_and_normalization():
    assert codes.normalize(" xl02bba326a001010102180 ") == X
    assert codes.normalize("ＸＬ０２BBA326A001010102180") == X
    assert codes.normalize("0033 1301 0080 000") == S
    assert [codes.family(c).key for c in (X, Z, T, S)] == ["X", "Z", "T", "S"]
    for bad in ("", None, "X123", X + "0", "00331301008000", "T00070020A", "ZY012400001", "XB05BAF076B001"):
        assert codes.family(codes.normalize(bad)) is None
    assert codes.prefix_key(X) == "X:XL02BBA326A001" == codes.prefix_key(X_OTHER_MAKER) != codes.prefix_key(X_OTHER_FORM)
    assert codes.prefix_key(Z) == codes.prefix_key(Z_OTHER) == "Z:ZD03AAA0043"
    assert codes.prefix_key(S) == codes.prefix_key(S_SUB) == "S:00331301008"
    assert codes.prefix_key(T) == "T:" + T and codes.prefix_key("local-1") is None


def kp(kp_id, med_codes, item_name, rule_class="药品区分性别使用", **kw):
    return KnowledgePoint(kp_id, rule_class, med_codes=tuple(med_codes), item_name=item_name, **kw)


def test_match_by_code_then_product_prefix():
    sex = kp("KP-sex", [X], "阿帕他胺片")
    child = kp("KP-child", [X_OTHER_MAKER], "阿帕他胺片", rule_class="药品儿童专用")
    herb = kp("KP-herb", [T], "丁香", rule_class="中药饮片单方使用不予支付")
    sub = kp("KP-op", [S], "卵巢输卵管切除术", rule_class="手术项目未按规定折价收费")
    gone = kp("KP-old", [Z], "艾附暖宫丸", superseded_by="KP-new")
    index = CodeIndex([sex, child, herb, sub, gone])
    m = index.match(" xl02bba326a001010102180")
    assert [(x.point.kp_id, x.how, x.code) for x in m] == [("KP-sex", "code", X), ("KP-child", "prefix", X_OTHER_MAKER)]
    # another maker's package of the same product: both points by prefix; another dosage form: none
    assert [(x.point.kp_id, x.how) for x in index.match("XL02BBA326A001030388888")] == [("KP-child", "prefix"), ("KP-sex", "prefix")]
    assert index.match(X_OTHER_FORM) == []
    assert [(x.point.kp_id, x.how) for x in index.match(S_SUB)] == [("KP-op", "prefix")]
    assert [x.how for x in index.match(T)] == ["code"] and index.match("T000700201") == []
    assert index.match(Z) == []                       # superseded points are not indexed
    # a national code decides alone, even when its name would match something
    assert index.match(X_OTHER_FORM, "阿帕他胺片") == []


def test_match_by_name_without_a_national_code():
    pair = kp("KP-pair", ["003102060070000", "002503040010200"], "低钠试验×钾测定(火焰分光光度法或离子选择电极法)",
              rule_class="医疗服务项目重复收费")
    drug = kp("KP-drug", [X], "阿帕他胺片")
    index = CodeIndex([pair, drug])
    assert item_names(pair) == [("低钠试验", "003102060070000"), ("钾测定(火焰分光光度法或离子选择电极法)", "002503040010200")]
    m = index.match("ZY-LOCAL-9", "阿帕他胺片 0.06g*120片")
    assert [(x.point.kp_id, x.how, x.score, x.code, x.name) for x in m] == [("KP-drug", "name", 1.0, None, "阿帕他胺片")]
    m = index.match(None, "低钠试验")
    assert [(x.point.kp_id, x.code) for x in m] == [("KP-pair", "003102060070000")]
    ocr = index.match("", "阿帕他胺爿")                # one character misread
    assert ocr and ocr[0].how == "name" and NAME_THRESHOLD <= ocr[0].score < 1
    assert index.match(None, "普通病房床位费") == [] and index.match(None, None) == []


def test_strip_spec_keeps_the_name_and_drops_what_bills_append():
    for billed, name in (("阿帕他胺片0.06g*120片", "阿帕他胺片"), ("注射用头孢曲松钠(罗氏)1g/支", "注射用头孢曲松钠"),
                         ("葡萄糖注射液(500ml)", "葡萄糖注射液"), ("复方氨基酸注射液(18AA-III)", "复方氨基酸注射液(18AA-III)"),
                         ("中长链脂肪乳/氨基酸(16)/葡萄糖(30%)注射液250ml", "中长链脂肪乳/氨基酸(16)/葡萄糖(30%)注射液"),
                         ("丁香", "丁香")):
        assert strip_spec(billed) == name


def test_the_national_index_finds_its_own_names_as_bills_write_them():
    ps = active.load_active()
    index = ps.index
    assert index is ps.index                                    # built once per pack set
    assert len(index.by_code) > 19_000 and len(index.names) > 2_500
    rng = random.Random(7)
    names = rng.sample(index.names, 200)
    for n in names:
        billed = n + rng.choice(["0.25g*24片", "(500ml)", "1g/支", "[国产]", ""])
        hit = index.best_name(billed)
        assert hit is not None and index.names[hit[0]] == n, billed
    # every code in force finds its own points by code
    p = next(iter(ps.points.values()))
    assert all(any(m.point is p and m.how == "code" for m in index.match(c)) for c in p.med_codes)
