"""The sample batch's national 两库 cases (pipeline/synth/knowledge_cases.py, knowledge_pack.py): drawn from the shipped
pack with real codes and names, a violation or a trap of every rule class, and a ground truth that
follows from the record (sex, age, level, 险种, 医疗类别, days) independently of the checks."""
from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from pipeline.packs import codes as pack_codes
from pipeline.synth import catalog, generate
from pipeline.synth import knowledge_pack as kp
from pipeline.synth.people import LEVELS


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthkb")
    generate(out, records=400, hospitals=3, seed=21, forms=(), clean_share=0.4, workers=2)
    labels = [json.loads(line) for line in (out / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
    claims = defaultdict(list)
    for path in sorted((out / "text").glob("*/claims.csv")):
        for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))):
            claims[row["住院号"]].append(row)
    levels = {row["id"]: row["level"] for row in csv.DictReader((out / "hospitals.csv").open(encoding="utf-8"))}
    return labels, claims, levels


def _cases(lab):
    return [v for v in lab["violations"] if v.get("rule_class")], lab["knowledge_traps"]


def test_every_rule_class_gets_violations_and_traps(batch):
    labels, _, _ = batch
    classes = {c["rule_class"] for c in kp.config()["cases"].values()}
    violated = {v["rule_class"] for lab in labels for v in _cases(lab)[0]}
    trapped = {t["rule_class"] for lab in labels for t in _cases(lab)[1]}
    assert violated == classes
    assert trapped >= classes - {"药品儿童专用", "医疗服务项目儿童专用"}   # children are few; their traps need a child
    for lab in labels:
        v, t = _cases(lab)
        for trap in t:   # a trap's lines are not a violation's of its class
            assert not any(set(trap["charge_rows"]) & set(x["charge_rows"]) for x in v if x["rule_class"] == trap["rule_class"])
        if v:
            assert not lab["clean"]


def test_lines_carry_the_points_real_codes_and_names(batch):
    labels, claims, _ = batch
    points = kp.national().points
    checked = local = 0
    for lab in labels:
        rows = claims[lab["admission_no"]]
        for item in _cases(lab)[0] + _cases(lab)[1]:
            if item.get("kp_id") is None:
                continue
            point = points[item["kp_id"]]
            assert point.rule_class == item["rule_class"]
            for r in (rows[i - 1] for i in item["charge_rows"]):
                code = r["医保项目编码"]
                if pack_codes.family(code) is None:
                    # a hospital-local code: its name names the point (the checks match it by name)
                    if code.startswith("H") and len(code) == 11:
                        named = kp.points_named(r["项目名称"])
                        assert point.rule_class in {q.rule_class for q in named}, r["项目名称"]
                        local += 1
                    continue
                # the line's code is listed (or its product is) by a point of the class that names it
                names = {n for q in kp.covering(code) if q.rule_class == point.rule_class
                         for n in (q.item_name or "").split("×")}
                assert r["项目名称"] in names, (r["项目名称"], code)
                checked += 1
    assert checked > 200 and local > 30


def test_the_truth_follows_from_the_record(batch):
    labels, claims, levels = batch
    points = kp.national().points
    seen = defaultdict(int)
    for lab in labels:
        rows = claims[lab["admission_no"]]
        sex, age = lab["patient"]["sex"], lab["patient"]["age"]
        for v in _cases(lab)[0]:
            rc, point = v["rule_class"], points[v["kp_id"]]
            if rc.endswith("区分性别使用"):
                assert kp.read_sex(point) not in (None, sex)
            elif rc == "药品儿童专用":
                assert age >= 18
            elif rc == "药品限医疗机构级别":
                assert LEVELS[levels[lab["hospital_id"]]] < kp.read_level(point)
            elif rc == "药品限就医方式":
                assert {r["医疗类别"] for r in rows} & {"急诊留观", "普通门诊"}
            elif rc in ("药品限工伤保险", "药品限生育保险"):
                assert rows[0]["险种类型"] in ("城镇职工基本医疗保险", "城乡居民基本医疗保险")
            elif rc == "药品限支付疗程":
                billed = {rows[i - 1]["医保项目编码"] for i in v["charge_rows"]}   # a hospital-local code too
                days = {r["费用发生时间"][:10] for r in rows if r["医保项目编码"] in point.med_codes or r["医保项目编码"] in billed
                        or pack_codes.prefix_key(r["医保项目编码"]) in {pack_codes.prefix_key(c) for c in point.med_codes}}
                assert len(days) > kp.read_days(point)
            elif rc == "医疗服务项目重复收费":
                a, b = (rows[i - 1] for i in v["charge_rows"])
                assert a["费用发生时间"][:10] == b["费用发生时间"][:10]
            seen[rc] += 1
        for t in _cases(lab)[1]:
            rc = t["rule_class"]
            point = points.get(t["kp_id"]) if t["kp_id"] else None
            if rc.endswith("区分性别使用"):
                assert kp.read_sex(point) == sex
            elif rc in ("药品儿童专用", "医疗服务项目儿童专用"):
                assert age < 18
            elif rc == "药品限儿童使用":   # a clean use meets the rest of the restriction too
                need = kp.child_trap_support(point)
                assert need is not None
                if isinstance(need, dict):
                    assert need["code"] in {d["code"] for d in lab["other_diagnoses"]} | {lab["main_diagnosis"]["code"]}
            elif rc == "药品限医疗机构级别":
                assert LEVELS[levels[lab["hospital_id"]]] >= kp.read_level(point)
            elif rc == "药品限工伤保险":
                assert {r["险种类型"] for r in rows} == {"工伤保险"}
            elif rc == "药品限生育保险":
                assert {r["险种类型"] for r in rows} == {"生育保险"} and sex == "女"
            elif rc == "手术项目未按规定折价收费":
                assert sorted(float(rows[i - 1]["数量"]) for i in t["charge_rows"]) == [0.5, 1.0]
    assert len(seen) >= 8


def test_catalogue_codes_are_real_or_cannot_collide():
    """A service item carries the national code the pack lists for its exact name, or a code no
    national code can equal (a colliding code made the national checks flag the wrong item)."""
    cat = catalog.load()
    for iid, it in {**cat.items, **cat.drugs}.items():
        code = pack_codes.normalize(it["code"])
        if pack_codes.family(code) is None:
            continue
        listed = list(kp.covering(code))
        assert listed, (iid, code)
        named = kp.points_named(it["name"])
        assert {p.kp_id for p in named} & {p.kp_id for p in listed}, (iid, it["name"], code)


def test_supportive_drugs_respect_the_packs_level_restrictions():
    cat = catalog.load()
    for spec in cat.supportive.values():
        for d in spec["drugs"]:
            drug = cat.drugs[d]
            needs = [kp.read_level(p) for p in kp.points_named(drug["name"])
                     if p.rule_class == "药品限医疗机构级别"]
            if needs:
                assert LEVELS[drug.get("min_level", "一级")] >= max(needs), d


def test_herbs_of_a_compound_prescription_are_not_listed_herbs():
    herbs = kp.ordinary_herbs()
    listed = {p.item_name for p in kp.national().points.values() if p.rule_class.startswith("中药饮片")}
    assert len(herbs) >= 5 and not set(herbs) & listed


def test_readers_and_prices():
    point = kp.KnowledgePoint
    assert kp.read_sex(point("a", "药品区分性别使用", constraint="用于女性紧急避孕。")) == "女"
    assert kp.read_sex(point("b", "药品区分性别使用", constraint="用于男性乳房女性化。")) is None
    child = kp.read_child(point("c", "药品限儿童使用", item_name="复方聚乙二醇", constraint="限2岁至11岁儿童慢性便秘。"))
    assert child.allows(5, 2000) and not child.allows(1, 400) and not child.allows(12, 4500)
    assert kp.child_trap_support(point("c", "药品限儿童使用", constraint="限2岁至11岁儿童慢性便秘。"))["code"] == "K59.000"
    assert kp.child_trap_support(point("c", "药品限儿童使用", constraint="限儿童。")) is True
    assert kp.child_trap_support(point("c", "药品限儿童使用", constraint="限3-12岁特发性或先天性肺动脉高压患者。")) is None
    neonate = kp.read_child(point("d", "医疗服务项目儿童专用", constraint="新生儿专用项目"))
    assert neonate.allows(0, 20) and not neonate.allows(0, 40)
    assert kp.read_level(point("e", "药品限医疗机构级别", constraint="限二级及以上医疗机构。")) == 2
    assert kp.read_level(point("f", "药品限医疗机构级别", constraint="限二级及以上医疗机构癌症患者。")) is None
    assert kp.read_interval(point("g", "医疗服务项目周期超频次", constraint="诊疗规范：糖化血红蛋白水平反映近2-3个月的平均血糖水平。")) == 60
    a = kp.item_spec("003310030220000", "阑尾切除术", "service")
    assert a == kp.item_spec("003310030220000", "阑尾切除术", "service")   # the same code, the same price
    assert a["category"] == "手术费" and a["price"] == int(a["price"])


@pytest.mark.data
def test_indication_diseases_are_coded_as_the_national_table_names_them(shared_data):
    path = shared_data / "icd/icd10_national_clinical_v1.1.csv"
    icd10 = {row["code"]: row["name"] for row in csv.DictReader(path.open(encoding="utf-8"))}
    data = yaml.safe_load(Path(kp.DATA).read_text(encoding="utf-8"))
    for d in data["indications"]:
        assert icd10.get(d["code"]) == d["name"], d


def test_the_other_injectors_violations_name_the_point_their_lines_break(tmp_path):
    """An item billed above its daily cap breaks the pack's 限定频次 point too: the label says so."""
    generate(tmp_path, records=80, hospitals=2, seed=5, forms=(), clean_share=0.0,
             rates={"excess_charge": 1.0, **{t: 0.0 for t in ("low_standard_admission", "split_admission", "bed_hanging",
                                                              "duplicate_charge", "item_substitution", "over_examination",
                                                              "drug_restriction", "upcoding", "doc_timeliness")}}, workers=1)
    labels = [json.loads(line) for line in (tmp_path / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
    over_cap = [v for lab in labels for v in lab["violations"] if v["type"] == "excess_charge" and "超过每日上限" in v["detail"]]
    named = [v for v in over_cap if v.get("rule_class") == "医疗服务项目限定频次"]
    daily = ("普通病房床位费", "Ⅰ级护理", "Ⅱ级护理", "住院诊查费", "心电监测")
    assert named and all(any(d in v["detail"] for d in daily) for v in named)
    assert all(v.get("rule_class") or not any(d in v["detail"] for d in daily) for v in over_cap)
    assert {v["type"] for lab in labels for v in lab["violations"]} == {"excess_charge"}   # rates hold for national cases too


def test_parenteral_nutrition_comes_with_its_screening_note():
    from pipeline.synth import cohort
    from pipeline.synth.record import build_record

    cat = catalog.load()
    text = kp.config()["support_notes"][0]["text"]
    _, slots = cohort.plan_batch(cat, records=60, hospitals=2, seed=8, clean_share=1.0, rates=None)
    seen = 0
    for slot in slots:
        plan = build_record(slot, cat, 8).plan
        nutrition = [c for c in plan.charges if any("营养风险筛查" in (q.constraint or "")
                                                    for q in kp.points_of_line(c))]
        notes = [n for n in plan.notes if n.text == text]
        assert bool(nutrition) == bool(notes), slot.condition_id
        if nutrition:
            assert slot.admit_at <= notes[0].at <= min(c.at for c in nutrition)
            seen += 1
    assert seen >= 3


def test_low_standard_admissions_carry_no_national_case(batch):
    """Such a stay shows no reason for a bed; an operation or infusion of a case would give it one."""
    labels, _, _ = batch
    low = [lab for lab in labels if any(v["type"] == "low_standard_admission" for v in lab["violations"])]
    assert low
    # only the other injectors' violations that a national point also names (knowledge_cases.annotate)
    annotated = {"医疗服务项目限定频次", "医疗服务项目周期超频次", "医疗服务项目重复收费", "药品限适应症"}
    assert all(not _cases(lab)[1] and {v["rule_class"] for v in _cases(lab)[0]} <= annotated for lab in low)
