"""The restriction parser (pipeline/packs/indications.py): its accuracy on the hand-checked
fixture (tests/data/indications_gold.yaml, held-out part included), each construct it reads on
texts written for the test, the points it leaves as text, its data file's errors, and the
conditions the shipped national pack carries."""
from pathlib import Path

import pytest
import yaml

from pipeline.packs import active, indications, indication_eval as ev
from pipeline.packs.schema import validate
from pipeline.rules import demands

GOLD = Path(__file__).parent / "data" / "indications_gold.yaml"
IND = "药品限适应症"


def kinds(alt):
    return sorted(c["kind"] for c in alt)


def one(text, rule_class=IND):
    r = indications.parse(text, rule_class=rule_class)
    assert r is not None
    return r


def by_kind(alt, kind):
    return [c for c in alt if c["kind"] == kind]


# --- accuracy on the hand-checked points ---------------------------------------------------------

def test_the_gold_fixture_is_large_enough_and_well_formed():
    entries = ev.load_gold(GOLD)
    splits = {e["split"] for e in entries}
    assert splits == {"dev", "heldout"}
    assert len(entries) >= 100 and sum(e["split"] == "heldout" for e in entries) >= 30
    assert len({e["id"] for e in entries}) == len(entries)
    assert len({e["constraint"] for e in entries}) == len(entries)   # one entry per distinct text


def test_accuracy_on_the_dev_and_the_held_out_points():
    scores = ev.score(ev.load_gold(GOLD))
    assert scores["dev"]["exact_share"] >= 0.9, scores["dev"]["wrong"]
    assert scores["heldout"]["exact_share"] >= 0.7, scores["heldout"]["wrong"]
    assert scores["heldout"]["f1_mean"] >= 0.85


def test_the_comparison_can_fail():
    e = {"id": "x", "split": "dev", "constraint": "限2型糖尿病患者。", "alts": ["dx E11 2型糖尿病"]}
    right = ev.parsed_answer(one(e["constraint"]))
    assert ev.exact(ev.gold_answer(e), right)
    for wrong in ("dx E10 1型糖尿病", "dx E11 2型糖尿病 & age >=18", "prior 二甲双胍"):
        assert not ev.exact(ev.gold_answer(dict(e, alts=[wrong])), right), wrong
    assert ev.f1(ev.gold_answer(dict(e, alts=["dx E11 x & age >=18"])), right) == pytest.approx(2 / 3)


# --- what it reads ---------------------------------------------------------------------------

def test_a_diagnosis_carries_its_codes_and_names():
    (alt,) = one("限慢性阻塞性肺疾病或支气管哮喘患者。").alternatives
    (dx,) = alt
    assert dx["kind"] == "diagnosis" and set(dx["icd"]) == {"J44", "J45"}
    assert {"慢性阻塞性肺疾病", "支气管哮喘"} <= set(dx["terms"]) and dx["label"] == "慢性阻塞性肺疾病/支气管哮喘"


def test_a_disease_the_vocabulary_lacks_is_kept_by_its_name():
    (alt,) = one("限成人原发性醛固酮增多症。").alternatives
    (dx,) = by_kind(alt, "diagnosis")
    assert "icd" not in dx and dx["terms"] == ["原发性醛固酮增多症"]
    assert by_kind(alt, "age")[0]["age"] == [{"op": "ge", "value": 18}]


def test_a_relation_makes_two_diagnoses():
    (alt,) = one("限伴有慢性肾脏病的2型糖尿病患者。").alternatives
    assert [set(c["icd"]) for c in by_kind(alt, "diagnosis")] == [{"N18"}, {"E11"}]


def test_numbered_items_are_alternatives_and_the_header_applies_to_each():
    r = one("限成人以下感染：1.复杂性尿路感染；2.复杂性腹腔感染(cIAI)。")
    assert len(r.alternatives) == 2
    for alt in r.alternatives:
        assert by_kind(alt, "age")[0]["age"] == [{"op": "ge", "value": 18}]
    assert {c["label"] for a in r.alternatives for c in by_kind(a, "diagnosis")} == {"复杂性尿路感染", "复杂性腹腔感染"}


def test_ages_named_together_are_joined_and_an_age_with_a_group_narrows_it():
    (alt,) = one("限成人和6岁及以上儿童的慢性荨麻疹。").alternatives
    assert by_kind(alt, "age")[0]["age"] == [{"op": "ge", "value": 6}]
    (alt,) = one("限3岁及以上儿童的哮喘。").alternatives
    assert by_kind(alt, "age")[0]["age"] == [{"op": "ge", "value": 3}, {"op": "lt", "value": 18}]
    (alt,) = one("限2岁至11岁儿童便秘。").alternatives
    assert by_kind(alt, "age")[0]["age"] == [{"op": "ge", "value": 2}, {"op": "le", "value": 11}]
    (alt,) = one("限3月龄及以上的轻度特应性皮炎患者。").alternatives
    assert by_kind(alt, "age")[0]["age"] == [{"op": "ge", "value": 3, "unit": "月"}]
    (alt,) = one("限经DMARDs治疗3-6个月无效的类风湿关节炎。").alternatives
    assert not by_kind(alt, "age")   # a duration is no age
    (alt,) = one("限成人和儿童的甲状腺功能减退症。").alternatives
    assert not by_kind(alt, "age")   # every age


def test_lab_thresholds_keep_whether_the_bound_is_included():
    (alt,) = one("限白蛋白低于30g/L且BMI≥25的患者。").alternatives
    labs = {c["lab"]["item"]: c["lab"] for c in by_kind(alt, "lab")}
    assert labs["白蛋白"] == {"item": "白蛋白", "op": "lt", "value": 30, "unit": "g/L"}
    assert labs["BMI"]["op"] == "ge" and labs["BMI"]["value"] == 25
    (alt,) = one("限血氨升高的肝病患者。").alternatives
    assert by_kind(alt, "lab")[0]["lab"] == {"item": "血氨", "abnormal": True}


def test_markers_are_tests_and_a_drug_target_is_not():
    (alt,) = one("限KRAS突变阳性、经EGFR-TKI治疗失败的晚期结直肠癌。").alternatives
    assert [c["label"] for c in by_kind(alt, "test")] == ["KRAS"]
    assert by_kind(alt, "prior_treatment")[0]["label"] == "EGFR酪氨酸激酶抑制剂"
    (alt,) = one("限人表皮生长因子受体2(HER2)阴性、激素受体(HR)阳性的乳腺癌。").alternatives
    assert sorted(c["label"] for c in by_kind(alt, "test")) == ["HER2", "HR"]


def test_earlier_treatments_by_start_and_end_words():
    (alt,) = one("限他汀类药物单药治疗无法达标的高脂血症患者。").alternatives
    (prior,) = by_kind(alt, "prior_treatment")
    assert prior["label"] == "他汀类" and "他汀" in prior["prior_treatment"]
    (alt,) = one("限既往接受过紫杉醇和顺铂治疗的卵巢癌患者。").alternatives
    assert [c["label"] for c in by_kind(alt, "prior_treatment")] == ["紫杉醇", "顺铂"]   # 和: both
    (alt,) = one("限二甲双胍或磺脲类控制不佳的2型糖尿病。").alternatives
    assert [c["label"] for c in by_kind(alt, "prior_treatment")] == ["二甲双胍/磺脲类"]   # 或: either


def test_vague_and_absent_treatments_are_notes_not_conditions():
    r = one("限对传统治疗应答不佳的中重度银屑病患者。")
    (alt,) = r.alternatives
    assert not by_kind(alt, "prior_treatment") and "传统治疗" in r.unparsed
    r = one("限未接受过化疗的晚期胃癌患者。")
    assert not by_kind(r.alternatives[0], "prior_treatment") and any("未接受过化疗" in u for u in r.unparsed)


def test_a_treatment_given_with_the_drug():
    (alt,) = one("限与卡培他滨联合用于晚期胃癌。").alternatives
    assert by_kind(alt, "treatment")[0]["label"] == "卡培他滨"
    (alt,) = one("限放化疗。").alternatives
    (t,) = alt
    assert t["kind"] == "treatment" and {"放疗", "化疗"} <= set(t["orders"])
    (alt,) = one("限不能手术或放疗的晚期肺癌患者。").alternatives
    assert not by_kind(alt, "treatment")


def test_severity_and_an_or_list_that_leaves_it_open():
    (alt,) = one("限局部晚期或转移性胰腺癌。").alternatives
    assert [c["label"] for c in by_kind(alt, "severity")] == ["晚期"]
    (alt,) = one("限复发或转移性鼻咽癌。").alternatives
    assert [c["label"] for c in by_kind(alt, "severity")] == ["复发难治/晚期"]
    (alt,) = one("限持续、复发或转移性宫颈癌。").alternatives
    assert not by_kind(alt, "severity")   # 持续 names no severity: any of them will do
    (alt,) = one("限重症肌无力。").alternatives
    assert not by_kind(alt, "severity")   # part of the disease's name


def test_a_clause_level_or_between_kinds_makes_alternatives():
    r = one("限头孢菌素耐药或重症感染儿童患者。")
    assert len(r.alternatives) == 2
    assert kinds(r.alternatives[0]) == ["age", "prior_treatment"]
    assert kinds(r.alternatives[1]) == ["age", "diagnosis", "severity"]
    r = one("限子宫肌瘤患者或生育保险。")
    assert sorted(kinds(a)[0] for a in r.alternatives) == ["diagnosis", "insurance"]


def test_situations_listed_before_or_are_each_enough_and_a_closing_and_holds_for_all():
    r = one("限抢救、重症或因肝硬化、癌症引起胸腹水的患者，且白蛋白低于30g/L。")
    assert [kinds(a) for a in r.alternatives] == [["lab", "treatment"], ["lab", "severity"],
                                                  ["diagnosis", "diagnosis", "lab"]]
    assert all(by_kind(a, "lab")[0]["lab"] == {"item": "白蛋白", "op": "lt", "value": 30, "unit": "g/L"}
               for a in r.alternatives)
    assert by_kind(r.alternatives[1], "severity")[0]["label"] == "重度"
    (alt,) = one("限急性脑梗死的急救抢救。").alternatives   # no list before 或: one requirement
    assert "diagnosis" in kinds(alt)


def test_whole_restriction_terms_and_notes():
    r = one("限急性脑梗死，支付不超过14天。需经营养风险筛查的住院患者方予支付。")
    assert r.max_days == 14 and r.inpatient is True
    assert [c["label"] for c in r.common] == ["营养风险筛查"]
    r = one("限二级及以上医疗机构的冠心病患者。", rule_class="药品限医疗机构级别")
    assert r.min_level == "二级"
    r = one("限2型糖尿病患者，首次处方时需由二级及以上医疗机构专科医师开具处方。")
    assert r.min_level is None and any("首次处方" in u for u in r.unparsed)


def test_a_restriction_without_conditions_is_left_as_text():
    r = one("限说明书规定的情形。")
    assert r.alternatives == [] and not r.parsed
    p = validate({"kp_id": "KP-T", "rule_class": IND, "med_codes": ["XA10BHS001A001010100001"], "item_name": "某药",
                  "constraint": "限说明书规定的情形。", "conditions": r.to_dict()}, "test")
    assert demands.parsed_alternatives(p) is None and demands.executable(p, "indication") != True   # noqa: E712


def test_classes_it_does_not_read_and_empty_text():
    assert indications.parse("用于月经失调。", rule_class="药品区分性别使用") is None
    assert indications.parse("", rule_class=IND) is None
    p = validate({"kp_id": "KP-S", "rule_class": "药品区分性别使用", "med_codes": ["XG03DAH001B002010100001"],
                  "item_name": "黄体酮", "constraint": "用于月经失调。"}, "test")
    q = validate({"kp_id": "KP-I", "rule_class": IND, "med_codes": ["XA10BHS001A001010100001"], "item_name": "某药",
                  "constraint": "限2型糖尿病。"}, "test")
    got = {x.kp_id: x.conditions for x in indications.with_conditions([p, q])}
    assert got["KP-S"] is None and got["KP-I"]["alternatives"][0][0]["icd"] == ["E11"]


def test_a_bad_data_file_names_the_file_and_key(tmp_path):
    data = yaml.safe_load(indications.DATA_PATH.read_text(encoding="utf-8"))
    data["diseases"].append({"icd": ["X99"]})
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(indications.VocabularyError, match=r"bad\.yaml: diseases\[\d+\]"):
        indications.vocabulary(str(bad))
    del data["classes"]
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    indications.vocabulary.cache_clear()
    with pytest.raises(indications.VocabularyError, match="classes"):
        indications.vocabulary(str(bad))


# --- the shipped pack ------------------------------------------------------------------------

def test_the_shipped_pack_carries_the_parsed_conditions():
    points = [p for p in active.load_active().points.values() if p.rule_class == IND]
    assert len(points) == 510
    with_conditions = [p for p in points if demands.parsed_alternatives(p)]
    assert len(with_conditions) / len(points) >= 0.9
    for p in points[:50]:   # the same as the parser gives now: the pack is not stale
        assert p.conditions == indications.parse(p.constraint, p.item_name, p.rule_class).to_dict(), p.kp_id


def test_the_conditions_leave_the_other_classes_demands_as_their_text_says():
    import dataclasses
    for p in active.load_active().points.values():
        if isinstance(p.conditions, dict) and p.rule_class != IND:
            q = dataclasses.replace(p, conditions=None)
            for f in (demands.min_level, demands.max_days, demands.visit_types, demands.period_days):
                assert f(p) == f(q), (p.kp_id, f.__name__)
