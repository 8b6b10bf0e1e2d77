"""The report's case mix (pipeline/report/casemix.py) on a hand-built database: per hospital the
DRG distribution, CMI, CC/MCC share against the county, 高套分组 flags with flagged and confirmed
amounts; the HTML section (marked as example parameters) and the Excel sheet."""
import json

import pytest
from openpyxl import load_workbook

from pipeline import store
from pipeline.report import casemix, write_report

T = "2026-12-01T08:00:00+00:00"
# (record, hospital, drg, weight, has_mcc, has_cc, status)
GROUPS = [(1, "H1", "ES21", 1.2, 1, 0, "分组成功"), (2, "H1", "ES25", 0.6, 0, 0, "分组成功"),
          (3, "H1", "ES21", 1.2, 1, 1, "分组成功"), (4, "H2", "GD25", 2.0, 0, 1, "分组成功"),
          (5, "H2", "GD25", 2.0, 0, 0, "分组成功"), (6, "H2", None, None, 0, 0, "无法入组")]


@pytest.fixture
def db(db_path):
    d = store.connect(db_path)
    with store.transaction(d):
        store.insert_many(d, "hospitals", [{"id": "H1", "name": "甲县医院", "created_at": T},
                                           {"id": "H2", "name": "乙县中医院", "created_at": T}])
        for rid, h, drg, w, mcc, cc, status in GROUPS:
            store.insert_one(d, "records", {"id": rid, "sha256": f"s{rid}", "source_path": f"/b/{h}/{rid}.pdf", "kind": "pdf",
                                            "hospital_id": h, "admission_no": f"ZY{rid}", "stage": "scored",
                                            "created_at": T, "updated_at": T})
            store.insert_one(d, "drg_groups", {
                "record_id": rid, "scheme": "chs-drg-1.1", "scheme_version": "1.1+x", "region": "示例统筹区",
                "region_version": "v", "region_example": 1, "status": status, "drg": drg or "0000",
                "drg_name": {"ES21": "呼吸系统感染伴MCC", "ES25": "呼吸系统感染", "GD25": "阑尾切除术"}.get(drg),
                "weight": w, "has_mcc": mcc, "has_cc": cc, "created_at": T})
        details = {"coded": {"drg": "ES21", "name": "呼吸系统感染伴MCC", "weight": 1.2},
                   "supported": {"drg": "ES25", "name": "呼吸系统感染", "weight": 0.6},
                   "unsupported": [{"written": "脓毒症", "code": "A41.900"}], "region": {"example": True}}
        for fid, rid in ((1, 1), (2, 3)):
            store.insert_one(d, "flags", {"id": fid, "record_id": rid, "rule_id": "DRG-UPCODING", "rule_name": "高套分组",
                                          "key": "ES21>ES25", "amount": 5400.0, "source": "system", "created_at": T,
                                          "details": json.dumps(details, ensure_ascii=False), "evidence": "[]"})
        d.execute("INSERT INTO reviews (flag_id, record_id, user, action, payload, at) VALUES (1, 1, 'u', 'confirm', '{}', ?)", (T,))
    return d


def test_casemix_figures(db):
    cm = casemix.collect(db)
    h1, h2 = cm["hospitals"]
    assert (h1["hospital_id"], h1["records"], h1["grouped"]) == ("H1", 3, 3)
    assert h1["cmi"] == pytest.approx((1.2 + 0.6 + 1.2) / 3, abs=1e-4)
    assert h2["cmi"] == pytest.approx(2.0) and h2["grouped"] == 2 and h2["statuses"]["无法入组"] == 1
    county = cm["county"]
    assert county["grouped"] == 5 and county["cmi"] == pytest.approx((1.2 + 0.6 + 1.2 + 2.0 + 2.0) / 5, abs=1e-4)
    assert h1["cc_mcc_share"] == pytest.approx(2 / 3, abs=1e-4) and county["cc_mcc_share"] == pytest.approx(3 / 5)
    assert h1["cc_mcc_vs_county"] == pytest.approx(2 / 3 - 3 / 5, abs=1e-3)
    assert h1["mcc_share"] == pytest.approx(2 / 3, abs=1e-4)
    assert h1["top_drgs"][0] == {"drg": "ES21", "name": "呼吸系统感染伴MCC", "records": 2, "share": pytest.approx(2 / 3, abs=1e-4),
                                 "weight": 1.2}
    assert h1["upcoding"] == {"flags": 2, "amount_flagged_yuan": 10800.0, "confirmed": 1, "amount_confirmed_yuan": 5400.0}
    assert h2["upcoding"]["flags"] == 0 and county["upcoding"]["flags"] == 2
    assert [f["state"] for f in cm["upcoding_flags"]] == ["confirmed", "pending"]
    assert cm["upcoding_flags"][0]["unsupported"] == "脓毒症(A41.900)" and cm["example_region"]


def test_report_has_the_case_mix_section_and_sheet(db, tmp_path):
    res = write_report(db, tmp_path / "r")
    html = res["html"].read_text(encoding="utf-8")
    assert "病组结构（DRG）" in html and "示例参数" in html and "ES21" in html and "甲县医院" in html
    wb = load_workbook(res["xlsx"])
    ws = wb["病组结构"]
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    assert any(r[0] == "H1" and r[5] == pytest.approx(1.0, abs=1e-4) for r in rows)
    assert any(r[0] == "全县" for r in rows)
    fig = json.loads((tmp_path / "r" / "figures.json").read_text(encoding="utf-8"))
    assert fig["casemix"]["county"]["grouped"] == 5


def test_no_case_mix_without_groupings(db_path, tmp_path):
    d = store.connect(db_path)
    assert casemix.collect(d) is None
    html = write_report(d, tmp_path / "r")["html"].read_text(encoding="utf-8")
    assert "病组结构" not in html
