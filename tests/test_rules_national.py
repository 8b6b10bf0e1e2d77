"""The national 两库 checks on hand-built record views and hand-made knowledge points: each kind
positive, negative, its exclusions and its unknowns; code, prefix and name matching reaching
``flags.knowledge``; the pack version in the stamp; a region pack changing a verdict; a violation
found by a table rule and a national rule counted once."""
import json

import pytest

from pipeline import claims, ingest, store
from pipeline.packs import active, store as pack_store
from pipeline.packs.active import PackSet
from pipeline.packs.schema import validate
from pipeline.record.view import Charge, Field, Lab, Line, Order, RecordView, Section
from pipeline.review import case_view
from pipeline.report import figures
from pipeline.rules import ruleset
from pipeline.rules.checks import national
from pipeline.rules.ruleset import RuleSet, counted_once
from pipeline.score.stage import sync_flags

RULES = ruleset.load()
CAT = RULES.catalogue

# Codes of the national families (made up, well formed).
XF = "XG03DAH001B002010100001"        # a women's drug
XF2 = "XG03DAH001B002010199999"       # same product, another package / maker
XC = "XR05CAX002X001010100001"        # a children's drug
XL = "ZA12BAD074B0010100001"[:20]     # a 中成药 (20 characters)
XD = "XN07XXD025B002010100001"        # a course-limited drug
XG = "XA10BHS001A001010100001"        # a drug paid for one indication
X2 = "XJ01XDA001B002010100001"        # a second-line drug
X1 = "XJ01XDB002B002010100001"        # another drug of its class (J01XD)
XM = "XG02ADK026B002010100568"        # 限生育保险
S_BED, S_ICU = "001109000010000", "001103000010000"
S_MALE = "003312040090000"
S_NEO = "003112020030000"
S_WORK = "003402000320000"
S_HBA1C = "002503020030000"
S_OP1, S_OP2 = "003310060190000", "003310060200000"
T_SINGLE, T_SINGLE2, T_OTHER, T_EXCL = "T001300602", "T001200858", "T001700999", "T001300357"


def kp(kp_id, rule_class, codes, item_name, constraint, level1="政策类", **kw):
    return validate({"kp_id": kp_id, "rule_class": rule_class, "med_codes": list(codes), "item_name": item_name,
                     "constraint": constraint, "level1": level1, "detect_logic": kw.pop("detect_logic", "检出"),
                     "batch": 1, "batch_tag": "batch_01",
                     "source": {"attachment_file": "第一批.xlsx", "row": 7}, **kw}, "test")


POINTS = [
    kp("KP-F", "药品区分性别使用", [XF], "黄体酮注射液", "用于月经失调、先兆流产。", level1="医疗类"),
    kp("KP-M", "医疗服务项目区分性别使用", [S_MALE], "阴茎阴囊全切术", "男性泌尿生殖系统相关手术", level1="医疗类"),
    kp("KP-C", "药品儿童专用", [XC], "小儿止咳糖浆", "用于小儿咳嗽。", level1="医疗类"),
    kp("KP-NEO", "医疗服务项目儿童专用", [S_NEO], "新生儿复苏", "新生儿专用项目", level1="医疗类"),
    kp("KP-CL", "药品限儿童使用", ["XC02KXB001A001010100001"], "波生坦分散片", "限3-12岁特发性或先天性肺动脉高压患者。"),
    kp("KP-W", "医疗服务项目限年龄", [S_WORK], "职业功能训练", "限法定就业年龄段患者"),
    kp("KP-L", "药品限医疗机构级别", [XL], "丹红注射液", "限二级及以上医疗机构。"),
    kp("KP-L2", "药品限医疗机构级别", ["ZC01AAF0479010102970"], "复方苦参注射液", "限二级及以上医疗机构癌症患者。",
       conditions={"alternatives": [[{"icd": ["C"], "terms": ["癌", "恶性肿瘤"]}]], "unparsed": [], "parsed": True,
                   "min_level": "二级"}),
    kp("KP-V", "药品限就医方式", ["XB05BAF150B002010100269"], "复方氨基酸注射液(18AA)", "限急诊或住院患者。"),
    kp("KP-MAT", "药品限生育保险", [XM], "卡前列素氨丁三醇注射液", "限生育保险"),
    kp("KP-D", "药品限支付疗程", [XD], "丁苯酞氯化钠注射液", "支付不超过14天。"),
    kp("KP-FREQ", "医疗服务项目限定频次", [S_BED], "普通病房床位费", "日"),
    kp("KP-HR", "医疗服务项目限定频次", ["003101000220000"], "心电监测", "小时"),
    kp("KP-P", "医疗服务项目周期超频次", [S_HBA1C], "糖化血红蛋白测定", "诊疗规范：糖化血红蛋白水平反映近2-3个月的平均血糖水平。"),
    kp("KP-DUP", "医疗服务项目重复收费", [S_ICU, S_BED], "急诊监护费×普通病房床位费", "含监护、床位、诊查、护理"),
    kp("KP-OP1", "手术项目未按规定折价收费", [S_OP1], "胆管移植术", "肝胆手术组"),
    kp("KP-OP2", "手术项目未按规定折价收费", [S_OP2], "胆囊切除术", "肝胆手术组"),
    kp("KP-H1", "中药饮片单方使用不予支付", [T_SINGLE], "胖大海", "单独使用时统筹基金不予支付"),
    kp("KP-H2", "中药饮片单方使用不予支付", [T_SINGLE2], "月季花", "单独使用时统筹基金不予支付"),
    kp("KP-HX", "中药饮片单复方均不予支付", [T_EXCL], "猴枣", "不得纳入基金支付范围的中药饮片"),
    kp("KP-2L", "药品限二线使用", [X2], "左奥硝唑氯化钠注射液", "限二线用药。"),
    kp("KP-I", "药品限适应症", [XG], "西格列汀片", "限二甲双胍控制不佳的2型糖尿病患者。",
       conditions={"alternatives": [[{"icd": ["E11"], "terms": ["2型糖尿病"]}, {"prior_treatment": ["二甲双胍"]}]],
                   "unparsed": [], "parsed": True}),
    kp("KP-IU", "药品限适应症", ["XL01XEA001A001010100001"], "某替尼片", "限EGFR突变阳性的晚期非小细胞肺癌患者。"),
    kp("KP-IA", "药品限适应症", ["XL01XEA002A001010100001"], "某单抗", "限成人患者。",
       conditions={"alternatives": [[{"age": {"op": "ge", "value": 18}}]], "unparsed": [], "parsed": True}),
]


@pytest.fixture(scope="module")
def packs(tmp_path_factory):
    root = tmp_path_factory.mktemp("packs")
    return PackSet((pack_store.save("test", POINTS, origin={}, root=root).pack,))


@pytest.fixture(scope="module")
def kb(packs):
    return RULES.kb.with_packs(packs)


def params(rule_id):
    return dict(CAT.get(rule_id).params)


class V:
    def __init__(self, sex="女", age=30, admit="2024-03-01 09:00", discharge="2024-03-08 10:00", **kw):
        self.view = RecordView(record_id=1, sex=sex, age=age, admit_at=admit, discharge_at=discharge, **kw)
        self._id = 0
        if sex:
            self.field("sex", sex)
        if age is not None:
            self.field("age", str(age))

    def _line(self, text, page_no=1):
        self._id += 1
        self.view.lines[self._id] = Line(self._id, page_no * 100, page_no, text, [0, self._id * 20, 500, self._id * 20 + 18])
        return self._id

    def field(self, name, value, code=None):
        lid = self._line(f"{name}: {value} {code or ''}")
        self.view.fields.append(Field(name, value, code=code, page_id=100, line_id=lid))
        return self

    def charge(self, at, name, amount, code=None, qty=1, category=None, unit_price=None):
        lid = self._line(f"{at} {name} {qty} {amount}", page_no=9)
        cid = len(self.view.charges) + 1
        self.view.charges.append(Charge(cid, "bill", name, float(amount), seq=cid, at=at, item_code=code, category=category,
                                        qty=float(qty), unit_price=unit_price if unit_price is not None else float(amount) / qty,
                                        page_id=900, line_id=lid))
        return self

    def days(self, name, code, n, amount=10.0, start=1, qty=1):
        for d in range(start, start + n):
            self.charge(f"2024-03-{d:02d}", name, amount, code=code, qty=qty)
        return self

    def section(self, text, name="病程记录"):
        lid = self._line(text, page_no=2)
        self.view.sections.append(Section(len(self.view.sections) + 1, name, text, page_id=200, line_start=lid, line_end=lid))
        return self

    def order(self, content, start):
        lid = self._line(content, page_no=3)
        self.view.orders.append(Order(len(self.view.orders) + 1, "long", content, start_at=start, page_id=300, line_id=lid))
        return self

    def lab(self, item, value):
        lid = self._line(f"{item} {value}", page_no=4)
        self.view.labs.append(Lab(len(self.view.labs) + 1, item, str(value), page_id=400, line_id=lid))
        return self


def run(check, rule_id, v, kb, **over):
    return national.CHECKS[check](v.view, {**params(rule_id), **over}, kb)


def assert_evidence_resolves(view, flags):
    for f in flags:
        assert f.evidence, f.reason
        for e in f.evidence:
            if e.line_id is not None:
                assert view.lines[e.line_id].text == e.text


# --- 区分性别 ------------------------------------------------------------------------------------

def test_sex_drug_and_item(kb):
    v = V(sex="男").charge("2024-03-02", "黄体酮注射液", 30, code=XF).charge("2024-03-03", "阴茎阴囊全切术", 900, code=S_MALE)
    (f,) = run("sex", "KP-DRUG-SEX", v, kb)
    assert "男性患者使用限女性" in f.reason and f.amount == 30 and f.point_severity == "可疑"   # 医疗类
    assert f.knowledge["kp_id"] == "KP-F" and f.knowledge["verdict"] == "违规"
    assert f.knowledge["lines"] == [{"charge_id": 1, "how": "code", "code": XF, "score": 1.0, "name_agrees": True}]
    assert f.knowledge["facts"][0] == {"name": "性别", "value": "男", "text": "男", "source": "病案首页"}
    assert_evidence_resolves(v.view, [f])
    assert run("sex", "KP-ITEM-SEX", v, kb) == []                       # a man's operation on a man
    w = V(sex="女").charge("2024-03-02", "黄体酮注射液", 30, code=XF).charge("2024-03-03", "阴茎阴囊全切术", 900, code=S_MALE)
    assert run("sex", "KP-DRUG-SEX", w, kb) == []
    (g,) = run("sex", "KP-ITEM-SEX", w, kb)
    assert g.knowledge["kp_id"] == "KP-M" and g.charge_ids == [2]


def test_sex_exclusions_and_unknown(kb):
    v = V(sex="男").field("other_diagnosis", "真两性畸形", code="Q56.000").charge("2024-03-02", "黄体酮注射液", 30, code=XF)
    assert run("sex", "KP-DRUG-SEX", v, kb) == []
    u = V(sex=None).charge("2024-03-02", "黄体酮注射液", 30, code=XF)
    (f,) = run("sex", "KP-DRUG-SEX", u, kb)
    assert f.knowledge["verdict"] == "无法判定" and "病历中未见患者性别" in f.reason and "无法判定" in f.reason
    assert f.point_severity == "可疑"


# --- 儿童 / 年龄 ---------------------------------------------------------------------------------

def test_child_drug_item_and_limits(kb):
    adult = V(age=40).charge("2024-03-02", "小儿止咳糖浆", 12, code=XC)
    (f,) = run("child", "KP-DRUG-CHILD", adult, kb)
    assert "40岁患者" in f.reason and "儿童(18岁以下)" in f.reason
    assert run("child", "KP-DRUG-CHILD", V(age=6).charge("2024-03-02", "小儿止咳糖浆", 12, code=XC), kb) == []
    assert run("child", "KP-DRUG-CHILD", V(age=17).charge("2024-03-02", "小儿止咳糖浆", 12, code=XC), kb) == []
    # a newborn's item: days from the birth date; a year of age is no newborn; 0 years without a birth date is unknown
    neo = V(age=0).field("birth", "2024-02-20").charge("2024-03-02", "新生儿复苏", 300, code=S_NEO)
    assert run("child", "KP-ITEM-CHILD", neo, kb) == []
    late = V(age=0).field("birth", "2024-01-10").charge("2024-03-02", "新生儿复苏", 300, code=S_NEO)
    (g,) = run("child", "KP-ITEM-CHILD", late, kb)
    assert "出生51天" in g.reason and "新生儿(出生28天内)" in g.reason
    (u,) = run("child", "KP-ITEM-CHILD", V(age=0).charge("2024-03-02", "新生儿复苏", 300, code=S_NEO), kb)
    assert u.knowledge["verdict"] == "无法判定"
    (n,) = run("child", "KP-DRUG-CHILD", V(age=None).charge("2024-03-02", "小儿止咳糖浆", 12, code=XC), kb)
    assert n.knowledge["verdict"] == "无法判定" and "年龄" in n.reason


def test_child_limit_range_from_the_text(kb):
    code = "XC02KXB001A001010100001"
    (f,) = run("child", "KP-DRUG-CHILD-LIMIT", V(age=2).charge("2024-03-02", "波生坦分散片", 50, code=code), kb)
    assert "3岁及以上" in f.reason and f.point_severity == "明确违规"      # 政策类
    # within the range: the class part holds; the rest of the text (the disease) is not parsed → shown
    (g,) = run("child", "KP-DRUG-CHILD-LIMIT", V(age=8).charge("2024-03-02", "波生坦分散片", 50, code=code), kb)
    assert g.knowledge["verdict"] == "限定条件未解析" and "肺动脉高压" in g.reason and g.point_severity == "可疑"


def test_working_age(kb):
    assert run("working_age", "KP-ITEM-AGE", V(age=35).charge("2024-03-02", "职业功能训练", 40, code=S_WORK), kb) == []
    (f,) = run("working_age", "KP-ITEM-AGE", V(age=70, sex="男").charge("2024-03-02", "职业功能训练", 40, code=S_WORK), kb)
    assert "70岁男性患者" in f.reason
    (g,) = run("working_age", "KP-ITEM-AGE", V(age=57, sex="女").charge("2024-03-02", "职业功能训练", 40, code=S_WORK), kb)
    assert g.knowledge["verdict"] == "违规"
    assert run("working_age", "KP-ITEM-AGE", V(age=57, sex="男").charge("2024-03-02", "职业功能训练", 40, code=S_WORK), kb) == []
    (u,) = run("working_age", "KP-ITEM-AGE", V(age=57, sex=None).charge("2024-03-02", "职业功能训练", 40, code=S_WORK), kb)
    assert u.knowledge["verdict"] == "无法判定"


# --- 级别 / 就医方式 / 险种 ----------------------------------------------------------------------

def test_level_and_the_rest_of_the_restriction(kb):
    (f,) = run("level", "KP-DRUG-LEVEL", V(hospital_level="一级").charge("2024-03-02", "丹红注射液", 90, code=XL), kb)
    assert "一级医疗机构使用限二级及以上" in f.reason and f.point_severity == "明确违规"
    assert run("level", "KP-DRUG-LEVEL", V(hospital_level="二级甲等").charge("2024-03-02", "丹红注射液", 90, code=XL), kb) == []
    (u,) = run("level", "KP-DRUG-LEVEL", V().charge("2024-03-02", "丹红注射液", 90, code=XL), kb)
    assert u.knowledge["verdict"] == "无法判定" and "未提供医院级别" in u.reason
    # 限二级及以上医疗机构癌症患者: the level holds, the cancer does not → flagged with each condition not found
    code = "ZC01AAF0479010102970"
    (g,) = run("level", "KP-DRUG-LEVEL", V(hospital_level="三级").charge("2024-03-02", "复方苦参注射液", 80, code=code), kb)
    assert g.knowledge["verdict"] == "违规" and g.knowledge["conditions"][0]["found"] is False
    assert "不符合限定支付条件" in g.reason
    ok = V(hospital_level="三级").field("main_diagnosis", "肺恶性肿瘤", code="C34.900").charge("2024-03-02", "复方苦参注射液", 80, code=code)
    assert run("level", "KP-DRUG-LEVEL", ok, kb) == []


def test_visit_type(kb):
    code = "XB05BAF150B002010100269"
    assert run("visit", "KP-DRUG-VISIT", V().charge("2024-03-02", "复方氨基酸注射液(18AA)", 50, code=code), kb) == []
    (f,) = run("visit", "KP-DRUG-VISIT", V(visit_type="门诊").charge("2024-03-02", "复方氨基酸注射液(18AA)", 50, code=code), kb)
    assert "门诊使用限住院或急诊支付" in f.reason
    assert run("visit", "KP-DRUG-VISIT", V(visit_type="急诊").charge("2024-03-02", "复方氨基酸注射液(18AA)", 50, code=code), kb) == []
    (u,) = run("visit", "KP-DRUG-VISIT", V(admit=None, discharge=None).charge("2024-03-02", "复方氨基酸注射液(18AA)", 50, code=code), kb)
    assert u.knowledge["verdict"] == "无法判定"


def test_insurance_type(kb):
    (f,) = run("insurance", "KP-DRUG-MATERNITY", V(insurance_type="职工").charge("2024-03-02", "卡前列素氨丁三醇注射液", 300, code=XM), kb)
    assert "险种为职工" in f.reason and f.point_severity == "明确违规"
    assert run("insurance", "KP-DRUG-MATERNITY", V(insurance_type="生育").charge("2024-03-02", "卡前列素", 300, code=XM), kb) == []
    (u,) = run("insurance", "KP-DRUG-MATERNITY", V().charge("2024-03-02", "卡前列素", 300, code=XM), kb)
    assert u.knowledge["verdict"] == "无法判定" and "未提供险种" in u.reason and u.point_severity == "可疑"


# --- 疗程 / 频次 / 周期 --------------------------------------------------------------------------

def test_course_days(kb):
    v = V(admit="2024-03-01 09:00", discharge="2024-03-20 09:00").days("丁苯酞氯化钠注射液", XD, 16, amount=100)
    (f,) = run("course", "KP-DRUG-COURSE", v, kb)
    assert "使用16天" in f.reason and "14天" in f.reason and f.amount == 200 and len(f.charge_ids) == 2
    assert run("course", "KP-DRUG-COURSE", V().days("丁苯酞氯化钠注射液", XD, 7, amount=100), kb) == []
    (u,) = run("course", "KP-DRUG-COURSE", V().charge(None, "丁苯酞氯化钠注射液", 100, code=XD), kb)
    assert u.knowledge["verdict"] == "无法判定"


def test_frequency_per_day_and_per_stay(kb):
    v = V().days("普通病房床位费", S_BED, 7, amount=35)
    assert run("frequency", "KP-ITEM-FREQ", v, kb) == []               # 7 nights of a 7-day stay
    v.charge("2024-03-03", "普通病房床位费", 35, code=S_BED)
    (f,) = run("frequency", "KP-ITEM-FREQ", v, kb)
    assert "每日最多计1次，1天超出" in f.reason and f.amount == 35
    w = V().days("普通病房床位费", S_BED, 8, amount=35)                 # the discharge day billed too
    (g,) = run("frequency", "KP-ITEM-FREQ", w, kb)
    assert "住院期间最多7次" in g.reason and g.amount == 35
    assert run("frequency", "KP-ITEM-FREQ", w, kb, extra_stay_days=1) == []
    h = V().charge("2024-03-02", "心电监测", 50 * 26, code="003101000220000", qty=26, unit_price=50)
    (x,) = run("frequency", "KP-ITEM-FREQ", h, kb)
    assert "每日最多计24小时" in x.reason and x.amount == 100


def test_period_frequency(kb):
    v = V(admit="2024-03-01 09:00", discharge="2024-03-28 10:00")
    v.charge("2024-03-02", "糖化血红蛋白测定", 60, code=S_HBA1C).charge("2024-03-20", "糖化血红蛋白测定", 60, code=S_HBA1C)
    (f,) = run("period", "KP-ITEM-PERIOD", v, kb)
    assert "60天内计费2次" in f.reason and f.charge_ids == [2] and f.amount == 60
    assert run("period", "KP-ITEM-PERIOD", V().charge("2024-03-02", "糖化血红蛋白测定", 60, code=S_HBA1C), kb) == []


# --- 重复收费 / 手术折价 / 饮片 ------------------------------------------------------------------

def test_duplicate_pair_same_day(kb):
    v = V().charge("2024-03-02", "急诊监护费", 120, code=S_ICU).charge("2024-03-02", "普通病房床位费", 35, code=S_BED)
    v.charge("2024-03-03", "普通病房床位费", 35, code=S_BED)
    (f,) = run("duplicate_pair", "KP-ITEM-DUP", v, kb)
    assert f.charge_ids == [2] and f.amount == 35 and "重复收费35.00元" in f.reason and f.point_severity == "明确违规"
    assert [ln["charge_id"] for ln in f.knowledge["lines"]] == [1, 2]
    assert run("duplicate_pair", "KP-ITEM-DUP", V().days("普通病房床位费", S_BED, 3), kb) == []
    w = V().charge("2024-03-02", "急诊监护费", 120, code=S_ICU).charge("2024-03-03", "普通病房床位费", 35, code=S_BED)
    assert run("duplicate_pair", "KP-ITEM-DUP", w, kb) == []


def test_surgery_discount(kb):
    v = V().charge("2024-03-03", "胆管移植术", 3000, code=S_OP1).charge("2024-03-03", "胆囊切除术", 1200, code=S_OP2)
    (f,) = run("surgery_discount", "KP-SURGERY-DISCOUNT", v, kb)
    assert f.charge_ids == [2] and f.amount == pytest.approx(1200 - 0.75 * 1200) and "按100%计价" in f.reason
    discounted = V().charge("2024-03-03", "胆管移植术", 3000, code=S_OP1)
    discounted.charge("2024-03-03", "胆囊切除术", 900, code=S_OP2, qty=0.75, unit_price=1200)
    assert run("surgery_discount", "KP-SURGERY-DISCOUNT", discounted, kb) == []
    apart = V().charge("2024-03-03", "胆管移植术", 3000, code=S_OP1).charge("2024-03-05", "胆囊切除术", 1200, code=S_OP2)
    assert run("surgery_discount", "KP-SURGERY-DISCOUNT", apart, kb) == []
    assert run("surgery_discount", "KP-SURGERY-DISCOUNT", v, kb, second_rate=1.0) == []


def test_herbs(kb):
    v = V().charge("2024-03-02", "胖大海", 5, code=T_SINGLE, category="中草药费").charge("2024-03-02", "月季花", 3, code=T_SINGLE2, category="中草药费")
    (f,) = run("herb_single", "KP-HERB-SINGLE", v, kb)
    assert "仅由“胖大海、月季花”组成" in f.reason and f.amount == 8
    v.charge("2024-03-03", "胖大海", 5, code=T_SINGLE, category="中草药费").charge("2024-03-03", "黄芪", 4, code=T_OTHER, category="中草药费")
    assert len(run("herb_single", "KP-HERB-SINGLE", v, kb)) == 1       # the compound prescription of 03-03 is paid
    x = V().charge("2024-03-02", "猴枣", 50, code=T_EXCL, category="中草药费").charge("2024-03-02", "黄芪", 4, code=T_OTHER)
    (g,) = run("herb_excluded", "KP-HERB-EXCLUDED", x, kb)
    assert g.charge_ids == [1] and "单复方均不予支付" in g.reason


# --- 二线 / 适应症 --------------------------------------------------------------------------------

def test_second_line(kb):
    v = V().days("左奥硝唑氯化钠注射液", X2, 3, amount=70, start=3)
    (f,) = run("second_line", "KP-DRUG-SECOND-LINE", v, kb)
    assert "未见一线药品使用无效或不能耐受" in f.reason and f.point_severity == "明确违规"
    earlier = V().days("甲硝唑注射液", X1, 2).days("左奥硝唑氯化钠注射液", X2, 3, amount=70, start=3)
    assert run("second_line", "KP-DRUG-SECOND-LINE", earlier, kb) == []
    noted = V().section("予甲硝唑抗感染3天，疗效不佳，改用左奥硝唑").days("左奥硝唑氯化钠注射液", X2, 3, start=3)
    assert run("second_line", "KP-DRUG-SECOND-LINE", noted, kb) == []
    negated = V().section("无不能耐受").days("左奥硝唑氯化钠注射液", X2, 3, start=3)
    assert len(run("second_line", "KP-DRUG-SECOND-LINE", negated, kb)) == 1


def test_indication_parsed_conditions(kb):
    (f,) = run("indication", "KP-DRUG-INDICATION", V().days("西格列汀片", XG, 3, amount=8), kb)
    assert f.knowledge["verdict"] == "违规" and f.point_severity == "明确违规"
    assert {c["found"] for c in f.knowledge["conditions"]} == {False}
    assert "2型糖尿病" in f.reason
    no_prior = V().field("main_diagnosis", "2型糖尿病", code="E11.900").days("西格列汀片", XG, 3, start=5)
    (g,) = run("indication", "KP-DRUG-INDICATION", no_prior, kb)   # diagnosis found, no metformin before
    found = {c["what"]: c["found"] for c in g.knowledge["conditions"]}
    assert True in found.values() and False in found.values()
    ok = V().field("main_diagnosis", "2型糖尿病", code="E11.900").order("二甲双胍片 0.5g po tid", "2024-03-01 10:00")
    ok.days("西格列汀片", XG, 3, start=5)
    assert run("indication", "KP-DRUG-INDICATION", ok, kb) == []


def test_indication_not_parsed_is_shown_with_its_text(kb):
    (f,) = run("indication", "KP-DRUG-INDICATION", V().charge("2024-03-02", "某替尼片", 500, code="XL01XEA001A001010100001"), kb)
    assert f.knowledge["verdict"] == "限定条件未解析" and f.point_severity == "可疑"
    assert "限EGFR突变阳性的晚期非小细胞肺癌患者" in f.reason and f.knowledge["constraint"].startswith("限EGFR")


def test_indication_with_an_unknown_value_cannot_be_judged(kb):
    (f,) = run("indication", "KP-DRUG-INDICATION", V(age=None).charge("2024-03-02", "某单抗", 500, code="XL01XEA002A001010100001"), kb)
    assert f.knowledge["verdict"] == "无法判定" and f.knowledge["conditions"][0]["found"] is None


def test_a_restriction_of_common_terms_only_is_checked(tmp_path):
    adult = kp("KP-AD", "药品限适应症", ["XL01XEA003A001010100001"], "某成人药", "限成人。",
               conditions={"alternatives": [], "unparsed": [], "parsed": True, "age": {"op": "ge", "value": 18}})
    ps = PackSet((pack_store.save("adult", [adult], origin={}, root=tmp_path).pack,))
    k = RULES.kb.with_packs(ps)
    (f,) = run("indication", "KP-DRUG-INDICATION", V(age=10).charge("2024-03-02", "某成人药", 50, code=adult.med_codes[0]), k)
    assert f.knowledge["verdict"] == "违规" and f.knowledge["conditions"][0]["condition"] == {"age": {"op": "ge", "value": 18}}
    assert run("indication", "KP-DRUG-INDICATION", V(age=30).charge("2024-03-02", "某成人药", 50, code=adult.med_codes[0]), k) == []


# --- matching ---------------------------------------------------------------------------------

def test_code_prefix_and_name_matching_reach_the_flag(kb):
    v = V(sex="男").charge("2024-03-02", "黄体酮注射液", 30, code=XF2)
    (f,) = run("sex", "KP-DRUG-SEX", v, kb)
    assert f.knowledge["lines"][0]["how"] == "prefix" and f.knowledge["lines"][0]["code"] == XF
    by_name = V(sex="男").charge("2024-03-02", "黄体酮注射液(20mg)", 30, code="LOCAL-123")
    (g,) = run("sex", "KP-DRUG-SEX", by_name, kb)
    assert g.knowledge["lines"][0]["how"] == "name" and g.point_severity == "可疑"
    # a national code whose billed name shares nothing with the point's item: flagged, as a coding doubt
    odd = V(sex="女").charge("2024-03-03", "胎心监测", 40, code=S_MALE)
    (h,) = run("sex", "KP-ITEM-SEX", odd, kb)
    assert "编码与名称不一致" in h.reason and h.knowledge["lines"][0]["name_agrees"] is False
    assert national.CHECKS["sex"](V(sex="男").charge("2024-03-02", "黄体酮注射液", 30, code=XF).view,
                                  params("KP-DRUG-SEX"), RULES.kb) == []   # no packs given: nothing to check


def test_one_flag_per_charge_lines_when_points_overlap(tmp_path):
    twin = kp("KP-F2", "药品区分性别使用", [XF2], "黄体酮注射液", "用于月经失调。", level1="医疗类")
    ps = PackSet((pack_store.save("twins", POINTS[:1] + [twin], origin={}, root=tmp_path).pack,))
    v = V(sex="男").charge("2024-03-02", "黄体酮注射液", 30, code=XF)
    (f,) = run("sex", "KP-DRUG-SEX", v, RULES.kb.with_packs(ps))
    assert f.knowledge["kp_id"] == "KP-F"                               # the code match beats the prefix one


# --- the rule set: stamp, knowledge column, counted once, region packs ---------------------------

def test_the_pack_version_and_knowledge_reach_the_stored_flag(packs, tmp_path):
    rules = RuleSet(CAT, RULES.kb, packs)
    v = V(sex="男", hospital_level="一级").charge("2024-03-02", "黄体酮注射液", 30, code=XF)
    v.charge("2024-03-02", "丹红注射液", 90, code=XL)
    flags = [f for f in rules.evaluate(v.view) if f.rule_id.startswith("KP-")]
    assert {f.rule_id for f in flags} == {"KP-DRUG-SEX", "KP-DRUG-LEVEL"}
    for f in flags:
        assert f.catalogue_version == rules.version and f.catalogue_version.endswith(f"+kp.{packs.version}")
    level = next(f for f in flags if f.rule_id == "KP-DRUG-LEVEL")
    assert level.severity == "明确违规" and next(f for f in flags if f.rule_id == "KP-DRUG-SEX").severity == "可疑"
    db = store.connect(tmp_path / "audit.db")
    rid = store.insert_one(db, "records", {"sha256": "x", "source_path": "x.pdf", "kind": "pdf",
                                           "created_at": store.now(), "updated_at": store.now()})
    sync_flags(db, rid, [f.row(rid, store.now(), store.dumps) for f in flags], {f.rule_id for f in flags})
    stored = {r[0]: json.loads(r[1]) for r in db.execute("SELECT rule_id, knowledge FROM flags")}
    assert stored["KP-DRUG-LEVEL"]["pack"]["name"] == "test"
    assert stored["KP-DRUG-LEVEL"]["pack"]["version"] == packs.packs[0].version
    assert stored["KP-DRUG-LEVEL"]["source"]["attachment_file"] == "第一批.xlsx"
    case = case_view(db, rid)
    shown = {f["rule_id"]: f for f in case["flags"]}
    assert shown["KP-DRUG-LEVEL"]["rule_class"] == "药品限医疗机构级别"
    assert shown["KP-DRUG-LEVEL"]["knowledge"]["kp_id"] == "KP-L"
    fig = figures.collect(db)
    classes = {c["rule_class"]: c for c in fig["rule_classes"]}
    assert classes["药品限医疗机构级别"]["flags"] == 1 and classes["药品限医疗机构级别"]["national"]
    assert classes["药品限医疗机构级别"]["amount_flagged_yuan"] == 90


def test_a_violation_is_counted_once(packs):
    rules = RuleSet(CAT, RULES.kb, packs)
    # 黄体酮 for a man: the knowledge table's 限女性 rule and the national 区分性别 point both find it
    v = V(sex="男").charge("2024-03-02", "黄体酮注射液", 30, code=XF)
    ids = [f.rule_id for f in rules.evaluate(v.view)]
    assert "KP-DRUG-SEX" in ids and "CH-DRUG-RESTRICTION" not in ids
    without = RuleSet(CAT, RULES.kb, PackSet(()))
    assert "CH-DRUG-RESTRICTION" in [f.rule_id for f in without.evaluate(v.view)]


def test_an_undecided_national_flag_yields_to_a_decided_one(packs):
    a = national.CHECKS["sex"](V(sex=None).charge("2024-03-02", "黄体酮注射液", 30, code=XF).view,
                               params("KP-DRUG-SEX"), RULES.kb.with_packs(packs))[0]
    a.stamp(CAT.get("KP-DRUG-SEX"), "v")
    table = type(a)(rule_id="CH-DRUG-RESTRICTION", key="x", reason="r", charge_ids=[1], violation_type="drug_restriction")
    assert counted_once([a, table]) == [table]
    assert counted_once([a]) == [a]


def test_a_region_pack_overriding_a_national_point_changes_the_verdict(tmp_path):
    nat = active.load_active(tmp_path / "none")
    point = next(p for p in nat.points.values() if p.rule_class == "药品区分性别使用" and demands_sex(p) == "女")
    v = V(sex="男").charge("2024-03-02", point.item_name, 30, code=point.med_codes[0])
    kb_nat = RULES.kb.with_packs(nat)
    assert [f.knowledge["kp_id"] for f in run("sex", "KP-DRUG-SEX", v, kb_nat)] == [point.kp_id]
    root = tmp_path / "packs"
    region = dict(point.to_dict(), constraint="男性专用(本县)")
    pack_store.save("county", [validate(region, "county")], origin={}, root=root)
    ps = active.load_active(root)
    assert ps.version != nat.version
    V2 = V(sex="男").charge("2024-03-02", point.item_name, 30, code=point.med_codes[0])
    assert run("sex", "KP-DRUG-SEX", V2, RULES.kb.with_packs(ps)) == []   # now a men's drug
    pack_store.save("county", [validate({"kp_id": point.kp_id, "disabled": True}, "county")], origin={}, root=root)
    off = active.load_active(root)
    V3 = V(sex="男").charge("2024-03-02", point.item_name, 30, code=point.med_codes[0])
    assert point.kp_id not in {f.knowledge["kp_id"] for f in run("sex", "KP-DRUG-SEX", V3, RULES.kb.with_packs(off))}


def demands_sex(p):
    from pipeline.rules import demands
    return demands.sex(p)


def test_coverage_verdict_executes_every_class():
    nat = active.load_active()
    verdict = national.coverage_verdict(CAT)
    text_only = {}
    for p in nat.points.values():
        v = verdict(p)
        if v is not True:
            text_only.setdefault(p.rule_class, set()).add(v)
    assert not text_only   # the indications too: the shipped pack carries their parsed conditions


# --- inputs: claims columns, hospital level ------------------------------------------------------

def test_claims_insurance_and_visit_type_reach_the_record(tmp_path):
    from pipeline.record import view as record_view
    from pipeline.segment import claims_link

    p = tmp_path / "claims.csv"
    p.write_text("住院号,费用发生时间,医保项目编码,项目名称,费用类别,数量,单价,金额,险种类型,医疗类别\n"
                 "ZY001,2024-03-05,001102000010000,床位费,床位费,1,30,30,510,21\n"
                 "ZY001,2024-03-06,001102000010000,床位费,床位费,1,30,30,生育保险,普通住院\n"
                 "ZY002,2024-03-06,001102000010000,床位费,床位费,1,30,30,城乡居民基本医疗保险,门诊\n"
                 "ZY003,2024-03-06,001102000010000,床位费,床位费,1,30,30,离休人员,\n"
                 "ZY004,2024-03-06,001102000010000,床位费,床位费,1,30,30,310,\n"
                 "ZY004,2024-03-07,001102000010000,床位费,床位费,1,30,30,390,\n", encoding="utf-8")
    db = store.connect(tmp_path / "audit.db")
    assert claims.import_claims(db, p, "H01").rows == 6
    assert [r[0] for r in db.execute("SELECT insurance_type FROM charges ORDER BY seq")] == ["生育", "生育", "居民", "职工", "职工", "居民"]
    assert [r[0] for r in db.execute("SELECT visit_type FROM charges ORDER BY seq")] == ["住院", "住院", "门诊", None, None, None]
    rids = {}
    for adm in ("ZY001", "ZY002", "ZY004", "ZY009"):
        rids[adm] = store.insert_one(db, "records", {"sha256": adm, "source_path": f"{adm}.pdf", "kind": "pdf", "hospital_id": "H01",
                                                     "admission_no": adm, "created_at": store.now(), "updated_at": store.now()})
        claims_link.link(db, rids[adm], "H01", adm)
    got = {adm: db.execute("SELECT insurance_type, visit_type FROM records WHERE id = ?", (rid,)).fetchone()
           for adm, rid in rids.items()}
    assert got == {"ZY001": ("生育", "住院"), "ZY002": ("居民", "门诊"), "ZY004": (None, None), "ZY009": (None, None)}
    assert db.execute("SELECT kind FROM segment_issues WHERE record_id = ?", (rids["ZY004"],)).fetchone()[0] == "conflicting_insurance_type"
    view = record_view.load(db, rids["ZY001"])
    assert (view.insurance_type, view.visit_type) == ("生育", "住院")


def test_hospital_level_is_read_even_when_claims_come_first(tmp_path):
    batch = tmp_path / "batch"
    (batch / "H01").mkdir(parents=True)
    (batch / "hospitals.csv").write_text("id,name,level\nH01,青山县人民医院,二级\n", encoding="utf-8")
    (batch / "H01" / "a_claims.csv").write_text("住院号,费用发生时间,项目名称,数量,单价,金额\nZY1,2024-03-05,床位费,1,30,30\n",
                                                encoding="utf-8")
    (batch / "H01" / "z.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    db = store.connect(tmp_path / "audit.db")
    ingest.ingest(db, batch)
    assert db.execute("SELECT name, level FROM hospitals WHERE id = 'H01'").fetchone() == ("青山县人民医院", "二级")


# --- 药品限适应症 end to end: the parser's conditions on minimal records ---------------------------

def parsed_point(kp_id, code, name, constraint):
    from pipeline.packs import indications
    return kp(kp_id, "药品限适应症", [code], name, constraint,
              conditions=indications.parse(constraint, item_name=name, rule_class="药品限适应症").to_dict())


def pack_of(tmp_path, *points):
    return RULES.kb.with_packs(PackSet((pack_store.save("ind", list(points), origin={}, root=tmp_path).pack,)))


def test_a_parsed_indication_met_not_met_and_partly_met(tmp_path):
    code = "XL01XCA009B001010100001"
    p = parsed_point("KP-CX", code, "卡度尼利单抗注射液", "限既往接受含铂化疗治疗失败的复发或转移性宫颈癌患者。")
    k = pack_of(tmp_path, p)
    met = V().field("main_diagnosis", "宫颈癌", code="C53.900").section("宫颈癌术后复发，肺转移")
    met.order("顺铂注射液 100mg ivgtt", "2024-03-01 10:00").days("卡度尼利单抗注射液", code, 1, amount=9000, start=5)
    assert run("indication", "KP-DRUG-INDICATION", met, k) == []
    bare = V().charge("2024-03-05", "卡度尼利单抗注射液", 9000, code=code)
    (f,) = run("indication", "KP-DRUG-INDICATION", bare, k)
    assert f.knowledge["verdict"] == "违规" and f.point_severity == "明确违规"
    assert {c["found"] for c in f.knowledge["conditions"]} == {False}
    assert "病历中未见诊断“宫颈癌”" in f.reason and "9000.00元" in f.reason
    no_prior = V().field("main_diagnosis", "宫颈癌", code="C53.900").section("宫颈癌复发")
    no_prior.days("卡度尼利单抗注射液", code, 1, amount=9000, start=5)
    (g,) = run("indication", "KP-DRUG-INDICATION", no_prior, k)
    found = {c["condition"]["kind"]: c["found"] for c in g.knowledge["conditions"]}
    assert found == {"diagnosis": True, "severity": True, "prior_treatment": False}
    assert any(e.text and "宫颈癌" in e.text for e in g.evidence)   # what was found is evidence too
    assert_evidence_resolves(no_prior.view, [g])


def test_a_partly_parsed_indication_flags_as_suspicious(tmp_path):
    code = "XA10BJD001B001010100001"
    p = parsed_point("KP-GLP", code, "度拉糖肽注射液", "限2型糖尿病患者，首次处方时需由二级及以上医疗机构专科医师开具处方。")
    assert p.conditions["unparsed"] and not demands_fully_parsed(p)
    (f,) = run("indication", "KP-DRUG-INDICATION", V().charge("2024-03-02", "度拉糖肽注射液", 200, code=code), pack_of(tmp_path, p))
    assert f.knowledge["verdict"] == "违规" and f.point_severity == "可疑"


def test_an_indication_the_parser_cannot_read_is_shown_with_its_text(tmp_path):
    code = "XL04AAX001B001010100001"
    p = parsed_point("KP-TXT", code, "某免疫抑制剂", "限说明书规定的情形。")
    (f,) = run("indication", "KP-DRUG-INDICATION", V().charge("2024-03-02", "某免疫抑制剂", 300, code=code), pack_of(tmp_path, p))
    assert f.knowledge["verdict"] == "限定条件未解析" and f.point_severity == "可疑"
    assert "限说明书规定的情形" in f.reason and "请人工核对" in f.reason


def demands_fully_parsed(p):
    from pipeline.rules import demands
    return demands.fully_parsed(p)


# --- conditions the parser writes, on the record -------------------------------------------------

def cond_check(view, cond, **kw):
    from pipeline.rules import conditions
    return conditions.check(view, cond, **kw)


def test_age_bounds_in_months_and_days():
    months = {"kind": "age", "label": "≥1月", "age": [{"op": "ge", "value": 1, "unit": "月"}]}
    baby = V(age=None, admit="2024-03-01 09:00").field("birth", "2024-02-10")
    assert cond_check(baby.view, months).found is False            # 20 days old
    older = V(age=None, admit="2024-03-01 09:00").field("birth", "2023-12-01")
    assert cond_check(older.view, months).found is True
    assert cond_check(V(age=0).view, months).found is None         # 0 years, no birth date: cannot tell
    assert cond_check(V(age=2).view, months).found is True
    child = {"kind": "age", "label": "≥3岁、<18岁", "age": [{"op": "ge", "value": 3}, {"op": "lt", "value": 18}]}
    assert [cond_check(V(age=a).view, child).found for a in (2, 3, 17, 18)] == [False, True, True, False]


def test_lab_bounds_include_the_value_where_the_text_does():
    le = {"lab": {"item": "LVEF", "op": "le", "value": 40}}
    lt = {"lab": {"item": "LVEF", "op": "lt", "value": 40}}
    v = V().lab("LVEF", "40")
    assert cond_check(v.view, le).found is True and cond_check(v.view, lt).found is False


def test_insurance_and_a_diagnosis_coded_in_the_notes():
    from pipeline.record.view import Entity
    ins = {"kind": "insurance", "label": "生育保险", "insurance": "生育"}
    assert cond_check(V(insurance_type="生育").view, ins).found is True
    assert cond_check(V(insurance_type="居民").view, ins).found is False
    assert cond_check(V().view, ins).found is None
    dx = {"kind": "diagnosis", "label": "2型糖尿病", "icd": ["E11"], "terms": ["2型糖尿病"]}
    v = V().section("既往糖尿病史10年")
    assert cond_check(v.view, dx).found is False
    v.view.entities.append(Entity(1, "DISEASE", "糖尿病", code="E11.900", page_id=200, line_id=1))
    assert cond_check(v.view, dx).found is True
    v2 = V()
    v2.view.entities.append(Entity(1, "DISEASE", "糖尿病", code="E11.900", negated=True, page_id=200, line_id=1))
    assert cond_check(v2.view, dx).found is False                   # a negated mention is no diagnosis
    uncoded = V().field("other_diagnosis", "2型糖尿病伴周围神经病变")
    assert cond_check(uncoded.view, dx).found is True
