"""Each rule check on hand-built minimal record views: positive, negative, and exclusions."""
import pytest

from pipeline.record.view import Charge, Document, Field, Lab, Line, Order, RecordView, Section
from pipeline.rules import ruleset
from pipeline.rules.checks import charges, clinical, cross_record, timeline

RULES = ruleset.load()
KB = RULES.kb
CAT = RULES.catalogue


def params(rule_id):
    return dict(CAT.get(rule_id).params)


class V:
    """Builds a RecordView with lines so every evidence item can be checked against its page."""

    def __init__(self, admit="2024-03-01 09:00", discharge="2024-03-08 10:00", **kw):
        self.view = RecordView(record_id=kw.pop("record_id", 1), admit_at=admit, discharge_at=discharge, **kw)
        self._id = 0

    def _line(self, text, page_no=1):
        self._id += 1
        self.view.lines[self._id] = Line(self._id, page_no * 100, page_no, text, [0, self._id * 20, 500, self._id * 20 + 18])
        return self._id

    def field(self, name, value, code=None, seq=0, at=None):
        lid = self._line(f"{name}: {value} {code or ''}")
        self.view.fields.append(Field(name, value, seq=seq, code=code, at=at, page_id=100, line_id=lid))
        return self

    def charge(self, at, name, amount, qty=1, category=None, code=None, source="bill"):
        lid = self._line(f"{at} {name} {qty} {amount}", page_no=9) if source == "bill" else None
        cid = len(self.view.charges) + 1
        self.view.charges.append(Charge(cid, source, name, float(amount), seq=cid, at=at, item_code=code,
                                        category=category, qty=float(qty), unit_price=float(amount) / qty,
                                        page_id=900 if lid else None, line_id=lid))
        return self

    def doc(self, doc_type, at, text="", section="内容"):
        lid = self._line(f"{doc_type} {at}", page_no=2)
        did = len(self.view.documents) + 1
        end = lid
        if text:
            end = self._line(text, page_no=2)
            self.view.sections.append(Section(did * 10, section, text, document_id=did, page_id=200,
                                              line_start=end, line_end=end))
        self.view.documents.append(Document(did, doc_type, at=at, page_start=2, page_end=2, line_start=lid, line_end=end))
        return self

    def order(self, content, start, kind="temporary", qty=None, route=None, stop=None):
        lid = self._line(content, page_no=3)
        self.view.orders.append(Order(len(self.view.orders) + 1, kind, content, start_at=start, stop_at=stop,
                                      qty=qty, route=route, page_id=300, line_id=lid))
        return self

    def lab(self, item, value, at="2024-03-02"):
        lid = self._line(f"{item} {value}", page_no=4)
        self.view.labs.append(Lab(len(self.view.labs) + 1, item, str(value), at=at, page_id=400, line_id=lid))
        return self


def daily_care(v, days=range(1, 8)):   # 算入不算出: 03-01 … 03-07 for a stay to 03-08
    for d in days:
        v.doc("日常病程记录", f"2024-03-{d:02d} 10:00", "患者一般情况可")
        v.charge(f"2024-03-{d:02d}", "普通病房床位费", 35, category="床位费")
    return v


def assert_evidence_resolves(view, flags):
    for f in flags:
        assert f.evidence, f.reason
        for e in f.evidence:
            if e.line_id is not None:
                line = view.lines[e.line_id]
                assert line.page_no == e.page_no and line.text == e.text


# --- timeline -----------------------------------------------------------------------------

def test_bed_hanging_flags_idle_run_with_bed_charges():
    v = V()
    daily_care(v, days=[1, 2, 6, 7, 8])
    for d in (3, 4, 5):
        v.charge(f"2024-03-0{d}", "普通病房床位费", 35, category="床位费")
        v.charge(f"2024-03-0{d}", "Ⅱ级护理", 18, category="护理费")
    flags = timeline.bed_hanging(v.view, params("TL-BED-HANGING"), KB)
    assert len(flags) == 1
    assert flags[0].amount == pytest.approx(3 * 53)
    assert "连续3天" in flags[0].reason
    assert_evidence_resolves(v.view, flags)


def test_bed_hanging_not_flagged_when_vitals_or_orders_show_presence():
    v = V()
    daily_care(v, days=[1, 2, 6, 7, 8])
    for d in (3, 4, 5):
        v.charge(f"2024-03-0{d}", "普通病房床位费", 35, category="床位费")
    v.field("vital_T", "36.5", seq=0, at="2024-03-04 08:00")
    assert timeline.bed_hanging(v.view, params("TL-BED-HANGING"), KB) == []
    # a two-day gap is under the default threshold of 3
    v2 = V()
    daily_care(v2, days=[1, 2, 5, 6, 7, 8])
    for d in (3, 4):
        v2.charge(f"2024-03-0{d}", "普通病房床位费", 35, category="床位费")
    assert timeline.bed_hanging(v2.view, params("TL-BED-HANGING"), KB) == []


def test_charges_outside_stay():
    v = daily_care(V())
    v.charge("2024-03-12", "静脉输液", 6, category="治疗费")
    flags = timeline.charges_outside_stay(v.view, params("TL-CHARGE-OUTSIDE-STAY"), KB)
    assert len(flags) == 1 and flags[0].amount == 6 and "03-12" in flags[0].reason
    assert timeline.charges_outside_stay(daily_care(V()).view, params("TL-CHARGE-OUTSIDE-STAY"), KB) == []


def test_doc_timeliness_first_course_late_and_gap():
    v = V(admit="2024-03-01 09:00")
    v.doc("入院记录", "2024-03-01 15:00")
    v.doc("首次病程记录", "2024-03-01 20:30")   # 11.5 h after admission
    v.doc("日常病程记录", "2024-03-02 10:00")
    v.doc("日常病程记录", "2024-03-07 10:00")   # 5-day gap while orders show the patient present
    v.order("血常规", "2024-03-04 08:00")
    flags = timeline.doc_timeliness(v.view, params("TL-DOC-TIMELINESS"), KB)
    keys = {f.key for f in flags}
    assert "首次病程记录" in keys and "gap:2024-03-02" in keys and "入院记录" not in keys
    assert_evidence_resolves(v.view, flags)


def test_doc_timeliness_on_time_record_is_clean():
    v = V(admit="2024-03-01 09:00", discharge="2024-03-04 09:00")
    v.doc("入院记录", "2024-03-01 12:00").doc("首次病程记录", "2024-03-01 14:00")
    v.doc("上级医师查房记录", "2024-03-02 09:00").doc("日常病程记录", "2024-03-03 09:00")
    v.doc("出院记录", "2024-03-04 16:00")
    assert timeline.doc_timeliness(v.view, params("TL-DOC-TIMELINESS"), KB) == []


def test_leave_limit_counts_affirmed_leave_only():
    v = V()
    for d in range(2, 7):
        v.doc("日常病程记录", f"2024-03-0{d} 10:00", "患者请假回家1天，次日返院")
    flags = timeline.leave_limit(v.view, params("TL-LEAVE-LIMIT"), KB)
    assert len(flags) == 1 and "请假5次" in flags[0].reason
    v2 = V()
    for d in range(2, 7):
        v2.doc("日常病程记录", f"2024-03-0{d} 10:00", "患者在院，未请假")
    assert timeline.leave_limit(v2.view, params("TL-LEAVE-LIMIT"), KB) == []


# --- charges ------------------------------------------------------------------------------

def test_exclusive_pair_same_day_flags_b_amount():
    v = daily_care(V())
    v.charge("2024-03-02", "血气分析", 60, category="化验费").charge("2024-03-02", "碳酸氢根测定", 10, category="化验费")
    flags = charges.exclusive_pairs(v.view, {}, KB)
    assert len(flags) == 1 and flags[0].amount == 10 and "碳酸氢根" in flags[0].reason
    assert_evidence_resolves(v.view, flags)
    v2 = daily_care(V())
    v2.charge("2024-03-02", "血气分析", 60).charge("2024-03-05", "碳酸氢根测定", 10)
    assert charges.exclusive_pairs(v2.view, {}, KB) == []


def test_identical_lines_and_daily_cap_do_not_double_count():
    v = daily_care(V())
    v.charge("2024-03-03", "普通病房床位费", 35, category="床位费")  # exact duplicate of that day's line
    dup = charges.identical_lines(v.view, params("CH-IDENTICAL-LINES"), KB)
    assert len(dup) == 1 and dup[0].amount == 35
    assert charges.daily_cap(v.view, {}, KB) == []


def test_identical_drug_lines_are_allowed_as_often_as_the_drug_is_ordered():
    # the same diluent ordered for two infusions is billed as two identical lines: not a duplicate
    v = daily_care(V())
    for drug in ("注射用头孢呋辛钠 1.5g ivgtt bid", "注射用奥美拉唑钠 40mg ivgtt bid"):
        v.view.orders.append(Order(len(v.view.orders) + 90, "long", drug, start_at="2024-03-01 10:00"))
        v.view.orders.append(Order(len(v.view.orders) + 90, "long", "0.9%氯化钠注射液 100ml ivgtt bid",
                                   start_at="2024-03-01 10:00"))
    for source in ("claims", "bill"):
        for _ in range(2):
            v.charge("2024-03-02 17:42", "0.9%氯化钠注射液", 5, qty=2, category="西药费", code="XB05", source=source)
    assert charges.identical_lines(v.view, params("CH-IDENTICAL-LINES"), KB) == []
    # a third identical line is one more than ordered; its evidence names two different bill lines
    v.charge("2024-03-02 17:42", "0.9%氯化钠注射液", 5, qty=2, category="西药费", code="XB05", source="claims")
    v.charge("2024-03-02 17:42", "0.9%氯化钠注射液", 5, qty=2, category="西药费", code="XB05", source="bill")
    flags = charges.identical_lines(v.view, params("CH-IDENTICAL-LINES"), KB)
    assert len(flags) == 1 and flags[0].amount == 5
    assert len({e.line_id for e in flags[0].evidence}) == 2


def test_daily_cap_excess_units():
    v = daily_care(V())
    v.charge("2024-03-02", "吸氧", 75, qty=30, category="治疗费")
    flags = charges.daily_cap(v.view, {}, KB)
    assert len(flags) == 1 and flags[0].amount == pytest.approx(6 * 2.5)
    v2 = daily_care(V()).charge("2024-03-02", "吸氧", 60, qty=24, category="治疗费")
    assert charges.daily_cap(v2.view, {}, KB) == []


def test_over_ordered_quantity():
    v = daily_care(V())
    v.order("血常规", "2024-03-02 08:00", qty=1)
    v.charge("2024-03-02", "血常规(五分类)", 60, qty=3, category="化验费")
    flags = charges.over_ordered(v.view, params("CH-OVER-ORDERED"), KB)
    assert len(flags) == 1 and flags[0].amount == pytest.approx(40)
    v2 = daily_care(V()).order("血常规", "2024-03-02 08:00", qty=1).charge("2024-03-02", "血常规(五分类)", 20, category="化验费")
    assert charges.over_ordered(v2.view, params("CH-OVER-ORDERED"), KB) == []


def test_substitution_claims_vs_bill_and_documentation():
    v = daily_care(V())
    v.charge("2024-03-02", "X线计算机体层(CT)平扫(16排)", 150, category="检查费")
    v.charge("2024-03-02", "螺旋CT平扫(64排及以上)", 260, category="检查费", source="claims")
    flags = charges.substitution(v.view, params("CH-SUBSTITUTION"), KB)
    assert len(flags) == 1 and flags[0].amount == pytest.approx(110)
    assert_evidence_resolves(v.view, flags)
    # documented as the billed item: no flag
    v2 = daily_care(V()).charge("2024-03-02", "螺旋CT平扫(64排及以上)", 260, category="检查费")
    v2.doc("检查报告", "2024-03-02 11:00", "64排螺旋CT胸部平扫：双肺纹理清晰")
    assert charges.substitution(v2.view, params("CH-SUBSTITUTION"), KB) == []


def test_substitution_by_method_and_grade_not_by_a_missing_order():
    """Issue 26: ordered and reported 普通B超(腹部), billed 彩色多普勒超声; reported 免疫层析法, billed
    the 化学发光法 item. Both are 串换 with the price difference at risk, not 收费无医嘱."""
    v = daily_care(V())
    v.order("腹部B超(肝胆胰脾)", "2024-03-02 08:00").order("肌钙蛋白I测定", "2024-03-02 08:00")
    v.doc("检查报告", "2024-03-02 10:00", "检查项目：腹部B超(肝胆胰脾)")
    v.doc("检验报告", "2024-03-02 09:00", "检验项目：肌钙蛋白I测定(免疫层析法)")
    v.charge("2024-03-02", "腹部彩色多普勒超声(肝胆胰脾)", 120, category="检查费", code="002201000010000")
    v.charge("2024-03-02", "肌钙蛋白I测定(化学发光法)", 90, category="化验费", code="002503000110000")
    flags = charges.substitution(v.view, params("CH-SUBSTITUTION"), KB)
    assert sorted(f.amount for f in flags) == [pytest.approx(45), pytest.approx(60)]
    assert all("结算" in f.reason for f in flags)
    assert_evidence_resolves(v.view, flags)
    assert charges.unordered_charges(v.view, params("CH-NO-ORDER"), KB) == []
    # clean traps: the order names no method (the price list's name carries one); the report names
    # the billed method
    ok = daily_care(V()).order("肌钙蛋白I测定", "2024-03-02 08:00")
    ok.doc("检验报告", "2024-03-02 09:00", "检验项目：肌钙蛋白I测定(化学发光法)")
    ok.charge("2024-03-02", "肌钙蛋白I测定(化学发光法)", 90, category="化验费")
    assert charges.substitution(ok.view, params("CH-SUBSTITUTION"), KB) == []
    bare = daily_care(V()).order("肌钙蛋白I测定", "2024-03-02 08:00")
    bare.charge("2024-03-02", "肌钙蛋白I测定(化学发光法)", 90, category="化验费")
    assert charges.substitution(bare.view, params("CH-SUBSTITUTION"), KB) == []


def test_per_day_items_are_capped_by_the_stay_days():
    """诊查费 billed for 住院天数 + 2 days: both extra days are at risk (30 元 at 15 元/日), counted once
    whether a day is billed twice or the discharge day is billed (算入不算出)."""
    v = V(admit="2024-03-01 09:00", discharge="2024-03-08 10:00")   # 7 days
    for d in range(1, 9):   # 03-01 … 03-08: the discharge day billed too
        v.charge(f"2024-03-{d:02d}", "住院诊查费", 15, category="诊查费")
    v.charge("2024-03-04 10:00", "住院诊查费", 15, category="诊查费")   # one day twice
    flags = charges.daily_cap(v.view, params("CH-DAILY-CAP"), KB)
    assert len(flags) == 1 and flags[0].amount == pytest.approx(30) and "算入不算出" in flags[0].reason
    assert len(flags[0].charge_ids) == 2
    fine = V(admit="2024-03-01 09:00", discharge="2024-03-08 10:00")
    for d in range(1, 8):
        fine.charge(f"2024-03-{d:02d}", "住院诊查费", 15, category="诊查费")
    assert charges.daily_cap(fine.view, params("CH-DAILY-CAP"), KB) == []


def test_drug_restriction_sex_age_indication():
    v = daily_care(V(sex="男", age=60)).charge("2024-03-02", "黄体酮注射液", 1.8, category="西药费")
    v.field("sex", "男")
    flags = charges.drug_restriction(v.view, {}, KB)
    assert len(flags) == 1 and "男性" in flags[0].reason and flags[0].amount == pytest.approx(1.8)
    child = daily_care(V(sex="女", age=12)).charge("2024-03-02", "左氧氟沙星氯化钠注射液", 12.8, category="西药费")
    assert len(charges.drug_restriction(child.view, {}, KB)) == 1
    adult = daily_care(V(sex="女", age=40)).charge("2024-03-02", "左氧氟沙星氯化钠注射液", 12.8, category="西药费")
    assert charges.drug_restriction(adult.view, {}, KB) == []
    alb = daily_care(V(sex="女", age=70)).charge("2024-03-02", "人血白蛋白", 380, category="西药费")
    assert len(charges.drug_restriction(alb.view, {}, KB)) == 1
    alb.lab("白蛋白", 24.5)
    assert charges.drug_restriction(alb.view, {}, KB) == []
    ppi = daily_care(V(sex="女", age=70)).charge("2024-03-02", "注射用奥美拉唑钠", 19.8, qty=2, category="西药费")
    ppi.order("术前禁食水", "2024-03-02 20:00")          # overnight pre-operative fasting is not the indication
    assert len(charges.drug_restriction(ppi.view, {}, KB)) == 1
    ppi.order("禁食", "2024-03-01 10:00", kind="long")
    assert charges.drug_restriction(ppi.view, {}, KB) == []


# --- clinical -----------------------------------------------------------------------------

def mild_case(**kw):
    v = V(admit="2024-03-01 09:00", discharge="2024-03-03 09:00", sex="女", age=45, **kw)
    v.field("main_diagnosis", "慢性胃炎", code="K29.500")
    v.charge("2024-03-01", "电子胃镜检查", 200, category="检查费").charge("2024-03-01", "血常规(五分类)", 20, category="化验费")
    v.charge("2024-03-01", "泮托拉唑钠肠溶片", 4.5, qty=3, category="西药费")
    v.charge("2024-03-01", "普通病房床位费", 35, category="床位费")
    v.order("泮托拉唑钠肠溶片 40mg po qd", "2024-03-01 10:00", kind="long", route="po")
    return v


def test_low_standard_admission_positive_and_exclusions():
    v = mild_case()
    flags = clinical.low_standard_admission(v.view, params("CL-LOW-STANDARD-ADMISSION"), KB)
    assert len(flags) == 1 and flags[0].amount == pytest.approx(259.5) and "K29.500" in flags[0].reason
    surg = mild_case().field("procedure", "胃息肉切除术", code="45.42")
    assert clinical.low_standard_admission(surg.view, params("CL-LOW-STANDARD-ADMISSION"), KB) == []
    severe = V(admit="2024-03-01", discharge="2024-03-09").field("main_diagnosis", "社区获得性肺炎", code="J18.900")
    assert clinical.low_standard_admission(severe.view, params("CL-LOW-STANDARD-ADMISSION"), KB) == []


def test_low_standard_admission_gastroenteritis_with_electrolyte_disorder_is_not_mild():
    v = V(admit="2024-03-01 09:00", discharge="2024-03-04 09:00", age=50)
    v.field("main_diagnosis", "急性胃肠炎", code="K52.905").charge("2024-03-01", "普通病房床位费", 35, category="床位费")
    assert len(clinical.low_standard_admission(v.view, params("CL-LOW-STANDARD-ADMISSION"), KB)) == 1
    v.lab("钾", 3.1)
    assert clinical.low_standard_admission(v.view, params("CL-LOW-STANDARD-ADMISSION"), KB) == []


def _mild(dx="慢性胃炎", code="K29.5", **kw):
    v = V(admit="2024-03-01 09:00", discharge="2024-03-05 09:00", age=50, **kw)
    v.field("main_diagnosis", dx, code=code).field("vital_BP", "132/84").field("vital_T", "36.6")
    v.order("泮托拉唑钠肠溶片 40mg po qd", "2024-03-01", kind="long", route="po")
    v.charge("2024-03-01", "泮托拉唑钠肠溶片", 1.5, category="西药费").charge("2024-03-01", "普通病房床位费", 35, category="床位费")
    return v


def test_low_standard_admission_from_the_record_severity():
    p = params("CL-LOW-STANDARD-ADMISSION")
    assert len(clinical.low_standard_admission(_mild().view, p, KB)) == 1
    for dx, code in (("高血压", "I10.x00x002"), ("腰肌劳损", "M54.505")):   # check-up stays (issue 26)
        flags = clinical.low_standard_admission(_mild(dx, code).view, p, KB)
        assert len(flags) == 1 and "生命体征平稳" in flags[0].reason
    # the same diagnoses with a reason to be in hospital: the record's own severity decides
    crisis = _mild("高血压", "I10.x05").field("vital_BP", "196/112", seq=1)
    assert clinical.low_standard_admission(crisis.view, p, KB) == []
    iv = _mild()
    iv.order("注射用奥美拉唑钠 40mg ivgtt bid", "2024-03-01", kind="long", route="ivgtt")
    assert clinical.low_standard_admission(iv.view, p, KB) == []
    sick = _mild()
    for item in ("白细胞", "中性粒细胞百分比", "C反应蛋白"):
        sick.lab(item, "18.5")
        sick.view.labs[-1].flag = "↑"
    assert clinical.low_standard_admission(sick.view, p, KB) == []
    assert clinical.low_standard_admission(_mild("不稳定型心绞痛", "I20.000").view, p, KB) == []
    strict = dict(p, min_signals=2)   # also at least two of: exams dominate the cost, short stay
    assert clinical.low_standard_admission(_mild().view, strict, KB) == []


def test_over_examination_without_and_with_indication():
    v = daily_care(V()).field("main_diagnosis", "急性阑尾炎", code="K35.800")
    v.doc("入院记录", "2024-03-01 12:00", "转移性右下腹痛1天，否认胸痛、呼吸困难", section="现病史")
    v.charge("2024-03-01", "D-二聚体测定", 70, category="化验费")
    flags = clinical.over_examination(v.view, params("CL-OVER-EXAMINATION"), KB)
    assert len(flags) == 1 and flags[0].amount == 70
    ind = daily_care(V()).field("main_diagnosis", "急性阑尾炎", code="K35.800")
    ind.doc("入院记录", "2024-03-01 12:00", "右下腹痛1天，伴胸痛、气促", section="现病史")
    ind.charge("2024-03-01", "D-二聚体测定", 70, category="化验费")
    assert clinical.over_examination(ind.view, params("CL-OVER-EXAMINATION"), KB) == []


def test_over_examination_own_name_in_plan_is_not_an_indication():
    v = daily_care(V()).field("main_diagnosis", "桡骨远端骨折", code="S52.500")
    v.doc("首次病程记录", "2024-03-01 12:00", "完善血常规、粪寄生虫镜检、总前列腺特异性抗原测定等检查", section="诊疗计划")
    v.charge("2024-03-01", "粪寄生虫镜检", 8, category="化验费").charge("2024-03-01", "总前列腺特异性抗原测定", 55, category="化验费")
    flags = clinical.over_examination(v.view, params("CL-OVER-EXAMINATION"), KB)
    assert len(flags) == 2 and sum(f.amount for f in flags) == 63
    # a chronic comorbidity is not the reason for admission; with main_diagnosis_only off it counts
    v2 = daily_care(V()).field("main_diagnosis", "肺炎", code="J18.900").field("other_diagnosis", "高血压", code="I10.x00")
    v2.charge("2024-03-01", "心脏彩色多普勒超声", 200, category="检查费")
    assert len(clinical.over_examination(v2.view, params("CL-OVER-EXAMINATION"), KB)) == 1
    assert clinical.over_examination(v2.view, dict(params("CL-OVER-EXAMINATION"), main_diagnosis_only=False), KB) == []


def _coded(main=("急性阑尾炎", "K35.800"), others=(("低钾血症", "E87.600"),), discharge=("急性阑尾炎",),
           admission=("急性阑尾炎",)):
    v = daily_care(V()).field("main_diagnosis", main[0], code=main[1])
    for i, (name, code) in enumerate(others):
        v.field("other_diagnosis", name, code=code, seq=i)
    for i, name in enumerate(discharge):
        v.field("discharge_diagnosis", name, seq=i)
    for i, name in enumerate(admission):
        v.field("admission_diagnosis", name, seq=i)
    return v


def test_unsupported_cc_diagnosis_and_supported_one():
    p = params("CL-UNSUPPORTED-DIAGNOSIS")
    v = _coded().lab("钾", 4.1)   # a CC only the 首页 has, and nothing supports it
    flags = clinical.unsupported_diagnosis(v.view, p, KB)
    assert [f.key for f in flags] == ["other_diagnosis:E87.600"] and "出院诊断中未见" in flags[0].reason
    assert_evidence_resolves(v.view, flags)
    v.lab("钾", 3.1, at="2024-03-03")
    assert clinical.unsupported_diagnosis(v.view, p, KB) == []
    # the 出院记录 gives it too: the record's own diagnosis, however thin its support looks
    both = _coded(discharge=("急性阑尾炎", "低钾血症")).lab("钾", 4.1)
    assert clinical.unsupported_diagnosis(both.view, p, KB) == []
    assert len(clinical.unsupported_diagnosis(both.view, dict(p, support_only=True), KB)) == 1


def test_upcoded_main_diagnosis_is_not_the_records_own():
    p = params("CL-UNSUPPORTED-DIAGNOSIS")
    # 首页 codes 脑梗死, the record's lists say 腔隙性脑梗死 (a subtype the 首页 generalises)
    v = _coded(main=("脑梗死", "I63.900"), others=(), discharge=("腔隙性脑梗死",), admission=("腔隙性脑梗死",))
    assert len(clinical.unsupported_diagnosis(v.view, p, KB)) == 1
    # 首页 and 出院记录 both say 慢性阻塞性肺疾病急性加重, the 入院记录 社区获得性肺炎, nothing supports COPD
    up = _coded(main=("慢性阻塞性肺疾病伴有急性加重", "J44.100"), others=(),
                discharge=("慢性阻塞性肺疾病伴有急性加重",), admission=("社区获得性肺炎",))
    flags = clinical.unsupported_diagnosis(up.view, p, KB)
    assert len(flags) == 1 and "入院诊断为" in flags[0].reason
    up.order("吸入用布地奈德混悬液 1mg 雾化吸入 bid", "2024-03-01", kind="long")   # treated as COPD: supported
    assert clinical.unsupported_diagnosis(up.view, p, KB) == []
    # a more specific 首页 name and an admission diagnosis written as a question are the same diagnosis
    same = _coded(main=("高血压3级", "I10.x05"), others=(), discharge=("高血压3级",), admission=("高血压？",))
    assert clinical.unsupported_diagnosis(same.view, p, KB) == []


def test_invalid_main_diagnosis():
    v = V().field("main_diagnosis", "葡萄球菌感染", code="B95.600")
    assert len(clinical.invalid_main_diagnosis(v.view, {}, KB)) == 1
    assert clinical.invalid_main_diagnosis(V().field("main_diagnosis", "肺炎", code="J18.900").view, {}, KB) == []


def test_diagnosis_treatment_mismatch():
    v = daily_care(V()).field("main_diagnosis", "急性阑尾炎", code="K35.800").charge("2024-03-02", "门冬胰岛素注射液", 62, category="西药费")
    assert len(clinical.diagnosis_treatment_mismatch(v.view, {}, KB)) == 1
    v.field("other_diagnosis", "2型糖尿病", code="E11.900", seq=0)
    assert clinical.diagnosis_treatment_mismatch(v.view, {}, KB) == []


# --- cross-record -------------------------------------------------------------------------

def stay(rid, admit, discharge, code="J18.900", name="肺炎", hospital="H1", **kw):
    return cross_record.Stay(record_id=rid, patient_key="p1", hospital_id=hospital, admit_at=admit,
                             discharge_at=discharge, main_code=code, main_name=name, total_cost=1000.0 * rid, **kw)


def test_split_admission_same_category_within_window():
    workup = {"amount": 310.0, "charge_ids": [7, 8]}
    stays = [stay(1, "2024-03-01 09:00", "2024-03-08 10:00"),
             stay(2, "2024-03-14 09:00", "2024-03-20 10:00", code="J18.000", workup=workup, admission_route="门诊")]
    flags = cross_record.split_admission(stays, params("XR-SPLIT-ADMISSION"), KB)
    assert len(flags) == 1 and flags[0].record_id == 2
    assert "出院后第6天因同一疾病(J18.000 肺炎)再次入院" in flags[0].reason
    # the amount rule: the repeated admission workup, or (a region's choice) the whole second stay
    assert flags[0].amount == 310.0 and flags[0].charge_ids == [7, 8] and "重复的入院检查检验" in flags[0].reason
    whole = cross_record.split_admission(stays, dict(params("XR-SPLIT-ADMISSION"), amount_basis="whole_stay"), KB)
    assert whole[0].amount == 2000.0


@pytest.mark.parametrize("second", [
    dict(admit="2024-03-30 09:00", discharge="2024-04-02 10:00"),           # outside 15 days
    dict(admit="2024-03-14 09:00", discharge="2024-03-20 10:00", code="K35.800", name="阑尾炎"),
    dict(admit="2024-03-14 09:00", discharge="2024-03-20 10:00", planned_cycle="化疗"),
    dict(admit="2024-03-14 09:00", discharge="2024-03-20 10:00", emergency="急诊收入"),
])
def test_split_admission_exclusions(second):
    args = dict(dict(code="J18.900", name="肺炎"), **second)
    stays = [stay(1, "2024-03-01 09:00", "2024-03-08 10:00"), stay(2, args.pop("admit"), args.pop("discharge"), **args)]
    assert cross_record.split_admission(stays, params("XR-SPLIT-ADMISSION"), KB) == []


def test_split_admission_excludes_transfer_and_readmission_plan():
    for extra in (dict(transfer="医嘱转院"), dict(readmission_plan="有，复查")):
        stays = [stay(1, "2024-03-01 09:00", "2024-03-08 10:00", **extra), stay(2, "2024-03-14 09:00", "2024-03-20 10:00")]
        assert cross_record.split_admission(stays, params("XR-SPLIT-ADMISSION"), KB) == []


def test_concurrent_stay_at_two_hospitals():
    stays = [stay(1, "2024-03-01 09:00", "2024-03-10 10:00"), stay(2, "2024-03-05 09:00", "2024-03-12 10:00", hospital="H2")]
    flags = cross_record.concurrent_stay(stays, params("XR-CONCURRENT-STAY"), KB)
    assert len(flags) == 1 and flags[0].record_id == 2 and "重叠5天" in flags[0].reason
    seq = [stay(1, "2024-03-01 09:00", "2024-03-05 10:00"), stay(2, "2024-03-05 11:00", "2024-03-12 10:00", hospital="H2")]
    assert cross_record.concurrent_stay(seq, params("XR-CONCURRENT-STAY"), KB) == []


def test_stay_summary_detects_planned_cycle_and_emergency():
    v = V(patient_key="p1").field("main_diagnosis", "结肠恶性肿瘤", code="C18.900")
    v.doc("入院记录", "2024-03-01 12:00", "为行第3周期化疗入院", section="主诉")
    s = cross_record.stay_from_view(v.view, KB)
    assert s.planned_cycle == "化疗" and s.emergency is None
    e = V(patient_key="p1").field("main_diagnosis", "肺炎", code="J18.9").field("admission_route", "急诊")
    assert cross_record.stay_from_view(e.view, KB).emergency == "急诊"
    # what real narrative recalls (an earlier course, an emergency visit) says nothing of this stay
    told = V(patient_key="p1").field("main_diagnosis", "急性心肌梗死", code="I21.401").field("admission_route", "门诊")
    told.doc("入院记录", "2024-03-01 12:00", "2年前曾行化疗，1周前遂来我院急诊，以急性心肌梗死收入院", section="现病史")
    s = cross_record.stay_from_view(told.view, KB)
    assert s.planned_cycle is None and s.emergency is None and s.admission_route == "门诊"


def test_stay_summary_workup_is_the_first_two_days_of_tests_and_exams():
    v = V(admit="2024-03-01 09:00", discharge="2024-03-08 10:00")
    v.charge("2024-03-01", "血常规(五分类)", 20, category="化验费").charge("2024-03-02", "胸部正位X线摄影(DR)", 60, category="检查费")
    v.charge("2024-03-05", "血常规(五分类)", 20, category="化验费").charge("2024-03-01", "普通病房床位费", 35, category="床位费")
    w = cross_record.stay_from_view(v.view, KB).workup
    assert w["amount"] == 80.0 and len(w["charge_ids"]) == 2


def test_evaluate_stamps_catalogue_metadata():
    v = daily_care(V(sex="男", age=60)).charge("2024-03-02", "黄体酮注射液", 1.8, category="西药费")
    flags = RULES.evaluate(v.view)
    drug = [f for f in flags if f.rule_id == "CH-DRUG-RESTRICTION"]
    assert drug and drug[0].violation_type == "drug_restriction" and drug[0].severity == "明确违规"
    assert drug[0].catalogue_version == RULES.version


def test_over_ordered_long_drug_order_day_above_course():
    v = daily_care(V())
    v.order("注射用头孢曲松钠 2g ivgtt qd", "2024-03-01 10:00", kind="long", stop="2024-03-06 10:00")
    for d, q in ((1, 2), (2, 2), (3, 4), (4, 2), (5, 2)):
        v.charge(f"2024-03-0{d}", "注射用头孢曲松钠", 8.6 * q, qty=q, category="西药费")
    flags = charges.over_ordered(v.view, params("CH-OVER-ORDERED"), KB)
    assert len(flags) == 1 and flags[0].amount == pytest.approx(2 * 8.6)
    v.view.charges = [c for c in v.view.charges if not (c.item_name.startswith("注射用") and c.qty == 4)]
    assert charges.over_ordered(v.view, params("CH-OVER-ORDERED"), KB) == []


def test_over_ordered_two_day_course_uses_frequency():
    v = daily_care(V())
    v.view.orders.append(Order(99, "long", "甘露醇注射液 125ml ivgtt bid", start_at="2024-03-05 11:35",
                               stop_at="2024-03-06 10:00", frequency="bid"))
    v.charge("2024-03-05", "甘露醇注射液", 11.2, qty=2, category="西药费").charge("2024-03-06", "甘露醇注射液", 28, qty=5, category="西药费")
    flags = charges.over_ordered(v.view, params("CH-OVER-ORDERED"), KB)
    assert len(flags) == 1 and flags[0].amount == pytest.approx(3 * 5.6)
    # two units per dose on both days: nothing above the order
    w = daily_care(V())
    w.view.orders.append(Order(99, "long", "注射用头孢曲松钠 2g ivgtt qd", start_at="2024-03-05 11:35",
                               stop_at="2024-03-06 10:00", frequency="qd"))
    w.charge("2024-03-05", "注射用头孢曲松钠", 17.2, qty=2, category="西药费").charge("2024-03-06", "注射用头孢曲松钠", 17.2, qty=2, category="西药费")
    assert charges.over_ordered(w.view, params("CH-OVER-ORDERED"), KB) == []


def test_over_ordered_short_course_without_a_majority_uses_frequency():
    # three days 2, 2, 5 units on a bid order: no quantity billed on three days, but one unit per
    # dose on two of them, so the third billed three units more than given
    v = daily_care(V())
    v.view.orders.append(Order(99, "long", "注射用奥美拉唑钠 40mg ivgtt bid", start_at="2024-03-05 11:18",
                               stop_at="2024-03-08 08:44", frequency="bid"))
    for day, qty in (("2024-03-05", 2), ("2024-03-06", 2), ("2024-03-07", 5)):
        v.charge(day, "注射用奥美拉唑钠", 9.9 * qty, qty=qty, category="西药费")
    flags = charges.over_ordered(v.view, params("CH-OVER-ORDERED"), KB)
    assert len(flags) == 1 and flags[0].amount == pytest.approx(3 * 9.9)
    # a first day of one dose, then full days: nothing above the order
    w = daily_care(V())
    w.view.orders.append(Order(99, "long", "注射用奥美拉唑钠 40mg ivgtt bid", start_at="2024-03-05 20:18",
                               stop_at="2024-03-08 08:44", frequency="bid"))
    for day, qty in (("2024-03-05", 1), ("2024-03-06", 2), ("2024-03-07", 2)):
        w.charge(day, "注射用奥美拉唑钠", 9.9 * qty, qty=qty, category="西药费")
    assert charges.over_ordered(w.view, params("CH-OVER-ORDERED"), KB) == []


def test_low_standard_admission_allows_outpatient_procedure_only():
    v = V(admit="2024-03-01 09:00", discharge="2024-03-03 09:00", age=40)
    v.field("main_diagnosis", "脂肪瘤", code="D17.900x002").field("procedure", "皮下组织病损切除术", code="86.3x03")
    v.charge("2024-03-01", "皮下组织病损切除术", 300, category="手术费").charge("2024-03-01", "普通病房床位费", 35, category="床位费")
    assert len(clinical.low_standard_admission(v.view, params("CL-LOW-STANDARD-ADMISSION"), KB)) == 1
    v.field("procedure", "胃大部切除术", code="43.7", seq=1)
    assert clinical.low_standard_admission(v.view, params("CL-LOW-STANDARD-ADMISSION"), KB) == []


def _ordered(v, *contents, kind="temporary"):
    for text in contents:
        v.view.orders.append(Order(len(v.view.orders) + 70, kind, text, start_at="2024-03-01 10:00"))
    return v


def test_unordered_charge_flagged_only_without_order_route_or_ordered_substitute():
    v = _ordered(daily_care(V()), "血常规(五分类)", "注射用头孢曲松钠 2g ivgtt qd")
    v.charge("2024-03-02", "血常规(五分类)", 20, category="化验费")      # ordered
    for day in ("2024-03-02", "2024-03-03", "2024-03-04"):
        v.charge(day, "静脉输液", 8, category="治疗费")                # the ivgtt order supports it
    v.charge("2024-03-02", "颅脑磁共振平扫", 420, category="检查费")   # nothing supports it
    flags = charges.unordered_charges(v.view, params("CH-NO-ORDER"), KB)
    assert [f.amount for f in flags] == [420]
    assert_evidence_resolves(v.view, flags)
    # a dearer CT billed for the ordered 16排 one is 串换项目, reported by that rule alone
    w = _ordered(daily_care(V()), "X线计算机体层(CT)平扫(16排)")
    w.charge("2024-03-02", "螺旋CT平扫(64排及以上)", 260, category="检查费")
    assert charges.unordered_charges(w.view, params("CH-NO-ORDER"), KB) == []
    x = daily_care(V()).charge("2024-03-02", "螺旋CT平扫(64排及以上)", 260, category="检查费")
    assert len(charges.unordered_charges(x.view, params("CH-NO-ORDER"), KB)) == 1
