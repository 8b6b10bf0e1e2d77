"""The sample batch's DRG side (pipeline/synth/drg_coding.py): 医保版 codes on the 首页, 高套分组
injected only where it moves the record to a dearer group (and its amount = weight difference ×
rate), traps on clean records whose MCC a lab value supports, and the DRG truth in the labels
agreeing with the grouper run on the labelled codes."""
import json

import pytest

from pipeline.drg import region as region_mod
from pipeline.drg import scheme as scheme_mod
from pipeline.drg.case import Case
from pipeline.drg.engine import Grouper
from pipeline.synth import generate
from pipeline.synth.drg_coding import config

SCHEME = scheme_mod.load()
REGION = region_mod.load(config()["region"])
SEX = {"男": 1, "女": 2}


@pytest.fixture(scope="module")
def labels(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthdrg")
    generate(out, records=240, hospitals=2, seed=11, forms=(), rates={"upcoding": 6.0}, workers=2)
    return [json.loads(line) for line in (out / "labels.jsonl").read_text(encoding="utf-8").splitlines()]


def test_first_page_codes_are_insurance_codes(labels):
    dx = SCHEME.code_set("diagnoses")
    px = SCHEME.code_set("procedures")
    for lab in labels:
        assert lab["main_diagnosis"]["code"] in dx, lab["main_diagnosis"]
        assert all(d["code"] in dx for d in lab["other_diagnoses"])
        assert all(p["code"] in px for p in lab["procedures"])


def test_the_labelled_coded_group_is_what_the_grouper_makes_of_the_labelled_codes(labels):
    g = Grouper(SCHEME)
    for lab in labels:
        p = lab["patient"]
        case = Case(sex=SEX[p["sex"]], age=p["age"], age_day=None if p["age"] else 30,
                    dx=[lab["main_diagnosis"]["code"]] + [d["code"] for d in lab["other_diagnoses"]],
                    px=[x["code"] for x in lab["procedures"]])
        assert g.group(case).drg == lab["drg"]["coded"]["drg"], lab["admission_no"]


def test_upcoding_moves_the_group_and_its_amount_is_the_weight_difference(labels):
    kinds = set()
    for lab in labels:
        d = lab["drg"]
        ups = [v for v in lab["violations"] if v["type"] == "upcoding"]
        if d["upcoded"]:
            assert ups and d["coded"]["drg"] != d["true"]["drg"]
            assert d["coded"]["weight"] > d["true"]["weight"]
            assert d["amount"] == round((d["coded"]["weight"] - d["true"]["weight"]) * REGION.rate, 2)
            assert ups[0]["amount"] == d["amount"]
            kinds.add(d["kind"])
            if d["kind"] == "procedure":
                assert any(p.get("done") is False for p in lab["procedures"])
        else:
            assert d["amount"] == 0 and all(v["amount"] == 0 for v in ups)
    assert kinds == {"mcc", "main", "procedure"}


def test_traps_are_clean_records_with_a_true_mcc(labels):
    traps = [lab for lab in labels if lab["drg"]["trap"]]
    assert traps
    for lab in traps:
        assert lab["clean"] and not lab["drg"]["upcoded"]
        assert lab["drg"]["coded"]["drg"] == lab["drg"]["true"]["drg"]
        assert any(d["code"] in SCHEME.mcc for d in lab["other_diagnoses"])


def test_every_conditions_main_diagnosis_groups_as_coded():
    """A clean record's main diagnosis is one the scheme can group: the coder writes the scheme's
    code where its map keeps one no MDC lists (coder_codes: B02.900 → B02.900x001)."""
    from pipeline.drg import scheme as scheme_mod
    from pipeline.synth import catalog, drg_coding

    mains = scheme_mod.load().main_diagnosis_mdcs
    assert "B02.900" not in mains and drg_coding.insurance("B02.900") in mains
    assert [cid for cid, c in catalog.load().conditions_by_id.items() if drg_coding.insurance(c["code"]) not in mains] == []
