"""Every record grouped from its 病案首页, and 高套分组 found from the record's own evidence: on
hand-built record views (an unsupported MCC and its trap, a negated mention, a procedure coded but
not done, a main diagnosis the record does not support), the code statuses (医保版, 国临版 mapped,
not 医保版, no main code), the grouper's validation flags, the region file's rate, and the score
stage storing each grouping with its trace."""
import functools
import json

import pytest

from pipeline import store
from pipeline.drg import region as region_mod
from pipeline.drg import scheme as scheme_mod
from pipeline.drg.case import Case
from pipeline.drg.engine import Grouper
from pipeline.record.view import Document, Field, Lab, Line, RecordView, Section
from pipeline.rules import drg_assess, ruleset
from pipeline.rules.checks import drg as drg_checks
from pipeline.run import run_stage
from pipeline.score.stage import ScoreStage

RULES = ruleset.load()
KB = RULES.knowledge
SCHEME = scheme_mod.load()
REGION = region_mod.load()
GROUPER = Grouper(SCHEME)


def params(rule_id):
    return dict(RULES.catalogue.get(rule_id).params)


def drg_of(dx, px=(), sex=1, age=68):
    return GROUPER.group(Case(sex=sex, age=age, dx=list(dx), px=list(px)))


class V:
    def __init__(self, sex="男", age=68, **kw):
        self.view = RecordView(record_id=kw.pop("record_id", 1), sex=sex, age=age, admit_at="2024-03-01 09:00",
                               discharge_at="2024-03-09 10:00", **kw)
        self._id = 0
        self.view.documents.append(Document(1, "住院病案首页", page_start=1, page_end=1, line_start=1, line_end=99))

    def _line(self, text, page_no):
        self._id += 1
        self.view.lines[self._id] = Line(self._id, page_no * 100, page_no, text, [0, self._id * 20, 500, self._id * 20 + 18])
        return self._id

    def field(self, name, value, code=None, seq=0):
        lid = self._line(f"{value} {code or ''}".strip(), 1)
        self.view.fields.append(Field(name, value, seq=seq, code=code, page_id=100, line_id=lid))
        return self

    def doc(self, doc_type, text, section="病情分析"):
        self._id = max(self._id, 100)
        start = self._line(f"{doc_type}", 2)
        lid = self._line(text, 2)
        did = len(self.view.documents) + 1
        self.view.sections.append(Section(did * 10, section, text, document_id=did, page_id=200, line_start=lid, line_end=lid))
        self.view.documents.append(Document(did, doc_type, page_start=2, page_end=2, line_start=start, line_end=lid))
        return self

    def lab(self, item, value):
        self._id = max(self._id, 100)
        lid = self._line(f"{item} {value}", 4)
        self.view.labs.append(Lab(len(self.view.labs) + 1, item, str(value), page_id=400, line_id=lid))
        return self


def copd_with(mcc=("脓毒症", "A41.900")):
    v = V().field("main_diagnosis", "慢性阻塞性肺病伴有急性加重", "J44.100")
    if mcc:
        v.field("other_diagnosis", mcc[0], mcc[1])
    return v.doc("日常病程记录", "患者咳嗽咳痰，桶状胸，双肺可闻及哮鸣音，予布地奈德雾化吸入")


def run(check, v, rule_id):
    return drg_checks.CHECKS[check](v.view, params(rule_id), KB)


def test_unsupported_mcc_that_moves_the_group_is_upcoding_with_both_groups_and_amount():
    coded, supported = drg_of(["J44.100", "A41.900"]), drg_of(["J44.100"])
    assert coded.drg != supported.drg and REGION.weight(coded.drg) > REGION.weight(supported.drg)   # the case's premise
    v = copd_with()
    flags = run("drg_upcoding", v, "DRG-UPCODING")
    assert len(flags) == 1
    f = flags[0]
    want = round((REGION.weight(coded.drg) - REGION.weight(supported.drg)) * REGION.rate, 2)
    assert f.amount == want and f.key == f"{coded.drg}>{supported.drg}"
    assert coded.drg in f.reason and supported.drg in f.reason and "脓毒症" in f.reason and "示例" in f.reason
    d = f.details
    assert (d["coded"]["drg"], d["supported"]["drg"]) == (coded.drg, supported.drg)
    assert d["coded"]["weight"] == REGION.weight(coded.drg) and d["coded"]["name"] == SCHEME.drg_names[coded.drg]
    assert d["region"]["example"] is True and d["region"]["rate"] == REGION.rate
    [un] = d["unsupported"]
    assert un["code"] == "A41.900" and un["kind"] == "MCC" and un["support"]["supported"] is False
    looked = " ".join(un["support"]["looked_at"])
    assert "降钙素原" in looked and "脓毒症" in looked          # the support table row and the mention search
    # the evidence is the 首页 line of the unsupported code
    [e] = f.evidence
    assert v.view.lines[e.line_id].text == "脓毒症 A41.900" and e.page_no == 1
    # the main diagnosis is supported by the course; its evidence is kept
    main = next(i for i in d["supported_items"] if i["role"] == "main")
    assert main["support"]["found"] and main["support"]["evidence"]


def test_trap_an_mcc_a_lab_value_supports_stays_clean():
    v = copd_with().lab("降钙素原(PCT)", 5.6)
    assert run("drg_upcoding", v, "DRG-UPCODING") == []
    a = drg_assess.assess(v.view, KB, "example")
    sepsis = next(i for i in a.items if i.code.code == "A41.900")
    assert sepsis.support.supported and "降钙素原" in sepsis.support.found
    assert sepsis.support.evidence[0].document == "检验报告"
    assert a.supported.drg == a.coded.drg and not a.upcoded and a.amount == 0


def test_a_negated_uncertain_or_differential_mention_is_no_support_an_asserted_one_is():
    v = copd_with().doc("上级医师查房记录", "目前无脓毒症表现，否认脓毒症")
    assert len(run("drg_upcoding", v, "DRG-UPCODING")) == 1
    v = copd_with().doc("上级医师查房记录", "血培养阳性，诊断脓毒症明确，予抗感染治疗")
    assert run("drg_upcoding", v, "DRG-UPCODING") == []
    # a differential diagnosis or an uncertain mention is no basis for a coded one
    for text in ("病情分析：慢阻肺急性加重诊断明确，需与脓毒症相鉴别。", "发热原因考虑脓毒症"):
        assert len(run("drg_upcoding", copd_with().doc("上级医师查房记录", text), "DRG-UPCODING")) == 1, text


def test_mention_only_in_the_diagnosis_lists_is_no_support():
    v = copd_with().doc("出院记录", "1.慢性阻塞性肺病伴有急性加重 2.脓毒症", section="出院诊断")
    assert len(run("drg_upcoding", v, "DRG-UPCODING")) == 1


def test_procedure_coded_but_not_done():
    px = "29.9900"
    coded, supported = drg_of(["J44.100"], [px]), drg_of(["J44.100"])
    assert REGION.weight(coded.drg) > REGION.weight(supported.drg)
    v = copd_with(mcc=None).field("procedure", SCHEME.procedure_names[px], px)
    [f] = run("drg_upcoding", v, "DRG-UPCODING")
    assert f.details["unsupported"][0]["role"] == "procedure" and f.details["supported"]["drg"] == supported.drg
    assert "手术记录" in " ".join(f.details["unsupported"][0]["support"]["looked_at"])
    done = copd_with(mcc=None).field("procedure", SCHEME.procedure_names[px], px).doc(
        "手术记录", f"手术名称：{SCHEME.procedure_names[px]}", section="手术名称")
    assert run("drg_upcoding", done, "DRG-UPCODING") == []


def test_unsupported_main_regrouped_with_the_supported_one_of_the_lists():
    coded, supported = drg_of(["J96.900x003"]), drg_of(["J15.902"])
    assert REGION.weight(coded.drg) > REGION.weight(supported.drg)

    def record():
        v = V().field("main_diagnosis", "Ⅱ型呼吸衰竭", "J96.900x003")
        v.field("admission_diagnosis", "考虑社区获得性肺炎，非重症")
        return v.doc("日常病程记录", "右下肺可闻及湿啰音，胸部CT示右肺下叶斑片影，予头孢曲松抗感染")

    [f] = run("drg_upcoding", record(), "DRG-UPCODING")
    m = f.details["supported_main"]
    assert (m["code"], m["source"]) == ("J15.902", "初步诊断") and f.details["supported"]["drg"] == supported.drg
    assert f.details["unsupported"][0]["role"] == "main"
    # when the coded main diagnosis is supported, nothing changes
    assert run("drg_upcoding", record().lab("氧分压(PaO2)", 48), "DRG-UPCODING") == []


def test_code_statuses_and_the_not_insurance_flag():
    v = V().field("main_diagnosis", "急性阑尾炎", "K35.900").field("other_diagnosis", "某病", "ZZ9.999")
    a = drg_assess.assess(v.view, KB, "example")
    main = a.items[0]
    assert (main.code.status, main.code.code) == ("国临版转医保版", "K35.800x001")
    assert a.items[1].code.status == "非医保版编码" and a.case.dx == ["K35.800x001"]
    assert a.status == "分组成功"
    [f] = run("drg_code_not_in_table", v, "DRG-CODE-NOT-INSURANCE")
    assert "ZZ9.999" in f.reason and v.view.lines[f.evidence[0].line_id].text == "某病 ZZ9.999"
    none = V().field("other_diagnosis", "高血压", "I10.x05")
    assert drg_assess.assess(none.view, KB, "example").status == drg_assess.NO_MAIN_CODE
    bad = V().field("main_diagnosis", "某病", "ZZ9.999")
    assert drg_assess.assess(bad.view, KB, "example").status == drg_assess.MAIN_NOT_INSURANCE


def test_sex_conflict_and_invalid_main():
    female_only = sorted(drg_checks.sex_specific(SCHEME)["女"])
    code = next(c for c in female_only if "+" not in c)
    v = V(sex="男").field("main_diagnosis", SCHEME.diagnosis_names[code], code)
    [f] = run("drg_sex_conflict", v, "DRG-SEX-CONFLICT")
    assert code in f.reason and "男" in f.reason
    assert run("drg_sex_conflict", V(sex="女").field("main_diagnosis", "x", code), "DRG-SEX-CONFLICT") == []
    mains = SCHEME.main_diagnosis_mdcs
    not_main = next(c for c in sorted(SCHEME.code_set("diagnoses")) if c not in mains)
    [f] = run("drg_invalid_main", V().field("main_diagnosis", "x", not_main), "DRG-INVALID-MAIN")
    assert not_main in f.reason
    assert run("drg_invalid_main", V().field("main_diagnosis", "x", "J44.100"), "DRG-INVALID-MAIN") == []


def test_newborn_fields_reach_the_case():
    v = V(age=0).field("main_diagnosis", "早产儿", "P07.300").field("age_days", "5").field("birth_weight", "1450")
    case = drg_assess.assess(v.view, KB, "example").case
    assert (case.age, case.age_day, case.weight) == (0, 5, 1450)


def test_the_region_file_sets_the_rate(tmp_path):
    text = (region_mod.REGIONS_DIR / "example.yaml").read_text(encoding="utf-8")
    mine = tmp_path / "county.yaml"
    mine.write_text(text.replace("value: 9000", "value: 12000").replace("example: true", "example: false"), encoding="utf-8")
    p = {**params("DRG-UPCODING"), "region": str(mine)}
    [f] = drg_checks.drg_upcoding(copd_with().view, p, KB)
    [g] = run("drg_upcoding", copd_with(), "DRG-UPCODING")
    assert f.amount == pytest.approx(g.amount * 12000 / 9000, abs=0.02)
    assert "示例" not in f.reason and f.details["region"]["example"] is False


def test_score_stage_stores_every_grouping_with_its_trace(db_path):
    db = store.connect(db_path)
    with store.transaction(db):
        store.insert_many(db, "hospitals", [{"id": "H1", "name": "县医院", "level": "二级", "created_at": store.now()}])
        rid = store.insert_one(db, "records", {
            "sha256": "s1", "source_path": "/b/H1/1.pdf", "kind": "pdf", "hospital_id": "H1", "admission_no": "A1",
            "sex": "男", "age": 70, "admit_at": "2024-03-01 09:00", "discharge_at": "2024-03-09 10:00",
            "stage": "extracted", "created_at": store.now(), "updated_at": store.now()})
        page = store.insert_one(db, "pages", {"record_id": rid, "page_no": 1, "source_ref": "pdf:0", "created_at": store.now()})
        lines = ["主要诊断：慢性阻塞性肺病伴有急性加重 J44.100", "其他诊断：脓毒症 A41.900"]
        ids = [store.insert_one(db, "lines", {"page_id": page, "line_no": i, "text": t}) for i, t in enumerate(lines)]
        store.insert_many(db, "fields", [
            {"record_id": rid, "name": "main_diagnosis", "value": "慢性阻塞性肺病伴有急性加重", "code": "J44.100",
             "page_id": page, "line_id": ids[0]},
            {"record_id": rid, "name": "other_diagnosis", "value": "脓毒症", "code": "A41.900", "page_id": page,
             "line_id": ids[1]}])
    report = run_stage(db, functools.partial(ScoreStage, db_path=str(db_path)), executor="inline")
    assert report.done == 1
    row = next(db.query("SELECT * FROM drg_groups WHERE record_id = ?", [rid]))
    want = drg_of(["J44.100", "A41.900"], age=70)
    assert (row["status"], row["drg"], row["has_mcc"]) == (want.status, want.drg, 1)
    assert row["weight"] == REGION.weight(want.drg) and row["region_example"] == 1
    trace = json.loads(row["trace"])
    assert trace[-1] == want.trace[-1] and any(t["step"] == "cc" for t in trace)
    codes = json.loads(row["codes"])
    assert [(c["code"], c["status"]) for c in codes] == [("J44.100", "医保版"), ("A41.900", "医保版")]
    assert row["upcoded"] == 1 and row["supported_drg"] == drg_of(["J44.100"], age=70).drg
    flag = db.execute("SELECT amount, details FROM flags WHERE record_id = ? AND rule_id = 'DRG-UPCODING'", (rid,)).fetchone()
    assert flag[0] == row["amount"] > 0 and json.loads(flag[1])["unsupported"][0]["code"] == "A41.900"


def test_newborn_front_page_fields_are_read():
    from pipeline.segment import config
    from pipeline.segment.record import segment
    from segment_helpers import page_lines

    front = """XX县人民医院
住院病案首页
住院号：ZY2020002  姓名：王宝  性别：女  年龄：0岁  年龄不足1周岁的年龄(天)：6天
新生儿出生体重(克)：2450  新生儿入院体重(克)：2400
主要诊断：早产儿 P07.300"""
    seg = segment(page_lines([front]), config.load())
    got = {v.name: v.value for v in seg.fields if v.seq == 0}
    assert (got["age"], got["age_days"], got["birth_weight"]) == ("0", "6", "2450")


def test_a_name_written_the_usual_way_supports_the_code():
    v = V().field("main_diagnosis", "手术后恶性肿瘤化学治疗", "Z51.102").field("other_diagnosis", "结肠恶性肿瘤", "C18.900")
    v.doc("入院记录", "结肠癌术后2月余，为行第8周期化疗入院。", section="主诉")
    a = drg_assess.assess(v.view, KB, "example")
    colon = next(i for i in a.items if i.code.code == "C18.900")
    assert colon.support.supported and colon.support.found == "结肠癌"


@pytest.mark.parametrize("written,code", [("社区获得性肺炎，非重症", "J15.902"), ("急性胃肠炎", "A09.901"),
                                          ("短暂性脑缺血发作", "G45.900"), ("某某某某", None)])
def test_list_diagnoses_find_their_insurance_codes_by_name(written, code):
    from pipeline.drg import codes as codes_mod
    got = codes_mod.diagnosis_by_name(SCHEME, written)
    assert got == code
    if code:   # the name found is the table's own
        assert SCHEME.diagnosis_names[got]
