"""The DRG grouper against the schema (pipeline/drg/README.md): each condition kind on minimal
cases, MCC/CC exclusion, newborn weight bands, validation, the trace, code mapping, scheme
loading; and the reference's own answers on the 300 sample cases shipped with the scheme."""
import copy
import json
import shutil

import pytest

from pipeline.drg import case as case_mod
from pipeline.drg import scheme as scheme_mod
from pipeline.drg.case import Case
from pipeline.drg.engine import CODE_NOT_IN_TABLE, Facts, Grouper, compile_condition


@pytest.fixture(scope="module")
def sch():
    return scheme_mod.load("chs-drg-1.1")


@pytest.fixture(scope="module")
def grouper(sch):
    return Grouper(sch)


def _holds(cond, sch, **kw):
    c = Case(**kw)
    return compile_condition(cond, sch)(Facts(c, c.dx, c.px))


def _adrg(sch, code):
    return sch.adrgs[code]


def test_sample_cases_equal_the_reference(sch, grouper):
    rows = scheme_mod.sample_cases(sch)
    assert len(rows) == 300
    wrong = []
    for r in rows:
        res = grouper.group(case_mod.from_row(r))
        got = (res.status, res.mdc, res.adrg, res.drg)
        want = (r["expected_status"], r["expected_mdc"], r["expected_adrg"], r["expected_drg"])
        if got != want:
            wrong.append((r["Index"], want, got))
    assert wrong == []


@pytest.mark.parametrize("cond,true_case,false_case", [
    ({"always": True}, {}, None),
    ({"main_diagnosis_in": ["A01"]}, {"dx": ["A01", "B02"]}, {"dx": ["B02", "A01"]}),
    ({"any_diagnosis_in": ["A01"]}, {"dx": ["B02", "A01"]}, {"dx": ["B02"]}),
    ({"main_procedure_in": ["1.1"]}, {"px": ["1.1", "2.2"]}, {"px": ["2.2", "1.1"]}),
    ({"any_procedure_in": ["1.1"]}, {"px": ["2.2", "1.1"]}, {"px": []}),
    ({"sex": 1}, {"sex": 1}, {"sex": "男"}),
    ({"sex": 2}, {"sex": 2}, {"sex": 1}),
    ({"age_years_eq": 0}, {"age": 0}, {"age": 1}),
    ({"age_days_max": 28}, {"age_day": 28}, {"age_day": 29}),
    ({"age_days_max": 28}, {"age_day": 0}, {"age_day": None}),
    ({"weight_g": [1500, 2000]}, {"weight": 1500}, {"weight": 2000}),
    ({"weight_g": [None, 1500]}, {"weight": 1}, {"weight": 0}),
    ({"weight_g": [2500, None]}, {"weight": 2500}, {"weight": None}),
    ({"not": {"main_diagnosis_in": ["A01"]}}, {"dx": ["B02"]}, {"dx": ["A01"]}),
    ({"all": [{"main_diagnosis_in": ["A01"]}, {"sex": 2}]}, {"dx": ["A01"], "sex": 2}, {"dx": ["A01"], "sex": 1}),
    ({"all": []}, {}, None),
    ({"any": [{"sex": 1}, {"sex": 2}]}, {"sex": 2}, {"sex": "女"}),
    # 双手术: two any_procedure_in met by different procedures, main one included
    ({"all": [{"any_procedure_in": ["1.1"]}, {"any_procedure_in": ["2.2"]}]}, {"px": ["2.2", "9.9", "1.1"]}, {"px": ["1.1"]}),
    ({"procedure_groups": {"groups": {"p1": "1", "p2": "2", "p3": "3"}, "require": [["1"], ["2", "3"]]}},
     {"px": ["p3", "p2"]}, {"px": ["p2", "x"]}),
    ({"procedure_groups": {"groups": {"p1": "1"}, "require": [["1"]]}}, {"px": ["x", "p1"]}, {"px": []}),
    ({"distinct_regions_min": {"min": 2, "regions": {"S1": "头", "S2": "头", "S3": "胸"}}},
     {"dx": ["S1", "S3"]}, {"dx": ["S1", "S2", "S1"]}),
])
def test_condition_kinds(sch, cond, true_case, false_case):
    assert _holds(cond, sch, **true_case)
    if false_case is not None:
        assert not _holds(cond, sch, **false_case)


def test_table_conditions(sch):
    orp = sorted(sch.code_set("or_procedures"))[0]
    non_or = next(c for c in sorted(sch.code_set("procedures")) if c not in sch.code_set("or_procedures"))
    assert _holds({"main_procedure_in_table": "or_procedures"}, sch, px=[orp])
    assert not _holds({"main_procedure_in_table": "or_procedures"}, sch, px=[non_or, orp])
    assert _holds({"any_procedure_in_table": "or_procedures"}, sch, px=[non_or, orp])
    assert not _holds({"any_procedure_in_table": "or_procedures"}, sch, px=[])


def _mcc_split_case(sch):
    """A medical ADRG whose DRGs split by mcc, a main diagnosis of it with a cce table, an MCC of
    that same table and an MCC of another table."""
    for code, a in sch.adrgs.items():
        if [d["condition"] for d in a["drgs"]][:1] != ["mcc"] or "main_diagnosis_in" not in a["condition"]:
            continue
        for dx in a["condition"]["main_diagnosis_in"]:
            table = sch.cce.get(dx)
            if table is None:
                continue
            same = next((c for c, t in sch.mcc.items() if t == table and c != dx), None)
            other = next((c for c, t in sch.mcc.items() if t != table), None)
            if same and other:
                case = Case(index="x", sex=1, age=50, dx=[dx], px=[])
                res = Grouper(sch).group(case)
                if res.adrg == code:
                    return a, dx, same, other
    raise AssertionError("no ADRG with an MCC split in the scheme")


def test_mcc_counted_unless_the_main_diagnosis_excludes_it(sch, grouper):
    a, dx, same, other = _mcc_split_case(sch)
    mcc_drg = a["drgs"][0]["drg"]
    base = grouper.group(Case(sex=1, age=50, dx=[dx]))
    assert base.drg != mcc_drg and not base.has_mcc
    counted = grouper.group(Case(sex=1, age=50, dx=[dx, other]))
    assert counted.drg == mcc_drg and counted.has_mcc
    excluded = grouper.group(Case(sex=1, age=50, dx=[dx, same]))
    assert excluded.drg != mcc_drg and not excluded.has_mcc
    cc = next(t for t in excluded.trace if t["step"] == "cc")
    assert cc["items"] == [{"code": same, "pos": 2, "kind": "MCC", "exclusion_table": sch.mcc[same],
                            "main_cce": sch.cce[dx], "counted": False}]
    # an excluded MCC beside a counted one: the case has an MCC
    both = grouper.group(Case(sex=1, age=50, dx=[dx, same, other]))
    assert both.drg == mcc_drg


def test_main_diagnosis_without_cce_row_excludes_nothing(sch, grouper):
    for code, a in sch.adrgs.items():
        if [d["condition"] for d in a["drgs"]][:1] != ["mcc"] or "main_diagnosis_in" not in a["condition"]:
            continue
        dx = next((d for d in a["condition"]["main_diagnosis_in"] if d not in sch.cce), None)
        if dx and grouper.group(Case(sex=1, age=50, dx=[dx])).adrg == code:
            mcc = next(iter(sch.mcc))
            assert grouper.group(Case(sex=1, age=50, dx=[dx, mcc])).drg == a["drgs"][0]["drg"]
            return
    pytest.fail("no main diagnosis outside cce")


def test_newborn_weight_bands(sch, grouper):
    """PS1–PS4: half-open [min, max) bands in grams; a weight of 0 is present (passes validation)
    but satisfies no band, so the newborn falls to a later ADRG."""
    bands = {}
    for code in ("PS1", "PS2", "PS3", "PS4"):
        parts = _adrg(sch, code)["condition"]["all"]
        bands[code] = next(p["weight_g"] for p in parts if "weight_g" in p)
        prem = next(p["any_diagnosis_in"] for p in parts if "any_diagnosis_in" in p)[0]
    p_main = next(c for c in sch.adrgs["PU1"]["condition"]["all"][0]["main_diagnosis_in"]
                  if c not in sch.code_set("or_procedures"))
    dx = [p_main, prem]

    def adrg(weight):
        return grouper.group(Case(sex=1, age=0, age_day=3, weight=weight, dx=dx)).adrg

    for code, (lo, hi) in bands.items():
        if lo is not None:
            assert adrg(lo) == code
            assert adrg(lo - 1) != code
        if hi is not None:
            assert adrg(hi - 1) == code
            assert adrg(hi) != code
    assert adrg(0) not in bands
    # older than 28 days: no newborn band whatever the weight
    assert grouper.group(Case(sex=1, age=0, age_day=29, weight=1000, dx=dx)).adrg not in bands


@pytest.mark.parametrize("fields,message", [
    ({"sex": None}, "病人性别为空"),
    ({"sex": 3}, "病人性别取值必须为1或2：3"),
    ({"age": None}, "病人年龄为空"),
    ({"age": "12.5"}, "病案信息解析出错"),
    ({"age": 0, "age_day": None}, "病人年龄0时，年龄天数必须有值"),
    ({"age": 0, "age_day": "x"}, "病案信息解析出错"),
    ({"age": 0, "age_day": 10, "weight": None}, "新生儿的出生体重必须有值"),
    ({"dx": []}, "诊断信息为空"),
])
def test_validation(grouper, fields, message):
    base = dict(index="1", sex=1, age=30, age_day=None, weight=None, dx=["I10.x05"], px=[])
    res = grouper.group(Case(**{**base, **fields}))
    assert (res.status, res.mdc, res.adrg, res.drg, res.message) == ("信息校验不通过", "0000", "00", "0000", message)
    assert res.trace[-1]["step"] == "validation" and res.trace[-1]["message"] == message


def test_weight_zero_is_present_and_sex_words_pass_validation(grouper):
    assert grouper.group(Case(sex=1, age=0, age_day=10, weight=0, dx=["P07.300"])).status != "信息校验不通过"
    res = grouper.group(Case(sex="男", age=60, dx=["N40.x00"]))
    assert res.status != "信息校验不通过" and res.mdc != "MDCM"   # 男 never satisfies {"sex": 1}
    assert grouper.group(Case(sex=1, age=60, dx=["N40.x00"])).mdc == "MDCM"


def test_csv_parsing_follows_the_reference():
    c = case_mod.from_row({"Index": "7", "gender": "1.0", "age": "12.0", "ageDay": "", "weight": "3.5",
                           "ICD10_DRGS": "A01|B02,C03", "ICD9_DRGS": ""})
    assert (c.sex, c.age, c.age_day, c.weight) == (1, 12, None, "3.5")
    assert c.dx == ["A01", "B02", "C03"] and c.px == []
    assert case_mod.from_row({"ICD10_DRGS": ""}).dx == [""]


def test_trace_names_every_step(sch, grouper):
    a, dx, same, other = _mcc_split_case(sch)
    res = grouper.group(Case(index="t", sex=1, age=50, dx=[dx, same, other], px=[]))
    steps = [t["step"] for t in res.trace]
    assert steps[-3:] == ["adrg", "cc", "drg"] and "mdc" in steps
    entered = [t for t in res.trace if t["step"] == "mdc" and t["mdc"]][-1]
    assert entered["mdc"] == a["mdc"] and dx in entered["why"][0]
    assert "MDCA" in [m for t in res.trace if t["step"] == "mdc" for m in t["skipped_before"]]
    matched = next(t for t in res.trace if t["step"] == "adrg" and t["adrg"])
    assert matched["adrg"] == a["adrg"] and dx in matched["why"][0]
    cc = next(t for t in res.trace if t["step"] == "cc")
    assert [(i["code"], i["counted"]) for i in cc["items"]] == [(same, False), (other, True)]
    drg = res.trace[-1]
    assert drg["drg"] == res.drg and drg["tried"][0] == {"drg": a["drgs"][0]["drg"], "condition": "mcc", "holds": True}
    text = res.trace_text()
    assert f"排除表{sch.cce[dx]}排除" in text and res.drg in text


def test_fall_through_to_a_later_mdc_is_traced(sch, grouper):
    res = grouper.group(case_mod.from_row(scheme_mod.sample_cases(sch)[1]))   # enters MDCA, ends in MDCE
    misses = [t for t in res.trace if t["step"] == "adrg" and t["adrg"] is None]
    assert misses and misses[0]["mdc"] == "MDCA" and res.mdc != "MDCA"


def test_code_check_and_code_mapping(sch):
    strict = Grouper(sch, check_codes=True)
    res = strict.group(Case(sex=1, age=40, dx=["I10.x05", "NOT.A.CODE"], px=["99.9999x999"]))
    assert res.status == CODE_NOT_IN_TABLE and "NOT.A.CODE" in res.message and "99.9999x999" in res.message
    g = copy.deepcopy(sch.grouping)
    g["code_mapping"]["enabled"] = True
    mapped = Grouper(sch.derived(grouping=g, suffix="mapping"))
    src, dst = next((s, d) for s, d in sch.mapping("diagnosis_map").items() if s != d)
    res = mapped.group(Case(sex=1, age=40, dx=[src]))
    assert res.dx == [dst] and {"step": "code_mapping", "code": src, "mapped": dst} in res.trace
    res = mapped.group(Case(sex=1, age=40, dx=["I10.x05", "NOT.A.CODE"]))
    assert res.status == g["code_mapping"]["unmapped_diagnosis_status"]


def test_scheme_by_name_folder_and_broken_files(sch, tmp_path, monkeypatch):
    assert scheme_mod.load(sch.folder) is sch
    folder = tmp_path / "region-x"
    shutil.copytree(sch.folder, folder)
    monkeypatch.setenv(scheme_mod.ENV, str(tmp_path))
    assert "region-x" in scheme_mod.available()
    assert scheme_mod.load("region-x").name == sch.name
    with pytest.raises(scheme_mod.SchemeError, match="不存在"):
        scheme_mod.load("no-such-scheme")
    (folder / "mcc.tsv.gz").write_bytes(b"broken")
    scheme_mod._load.cache_clear()
    with pytest.raises(scheme_mod.SchemeError, match="哈希不符"):
        scheme_mod.load(folder)
    g = copy.deepcopy(sch.grouping)
    g["mdcs"][0]["adrgs"][0]["condition"] = {"main_dx_like": ["A"]}
    with pytest.raises(scheme_mod.SchemeError, match="未知条件"):
        sch.derived(grouping=g)
    g = copy.deepcopy(sch.grouping)
    g["mdcs"][0]["adrgs"][0]["drgs"][0]["condition"] = "age_over_65"
    with pytest.raises(scheme_mod.SchemeError, match="未知的 DRG 条件"):
        sch.derived(grouping=g)


def test_scheme_metadata_records_origin_and_licence(sch):
    meta = json.loads((sch.folder / "scheme.json").read_text(encoding="utf-8"))
    assert meta["licence"] == "Apache-2.0" and meta["origin"]["commit"]
    assert "Apache License" in (sch.folder / "LICENSE").read_text(encoding="utf-8")
    assert meta["counts"]["mdcs"] == len(sch.grouping["mdcs"]) and meta["counts"]["drgs"] == len(sch.drg_names)
