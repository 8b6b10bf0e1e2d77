"""Money counted once: overlapping charge lines, an admission's bill as the cap, and the totals
the queue, the case, the export and the report build on it."""
from __future__ import annotations

import pytest

from pipeline import review, store
from pipeline.report import figures
from pipeline.review.money import count_once

T = "2026-11-20T08:00:00+00:00"


def test_a_line_under_two_flags_counts_once_and_the_larger_flag_keeps_it():
    lines = {1: 40.0, 2: 60.0}
    out = count_once([{"id": 7, "amount": 40.0, "charge_ids": [1]}, {"id": 8, "amount": 100.0, "charge_ids": [1, 2]}],
                     lines, None)
    assert (out[8].counted, out[8].overlap) == (100.0, 0.0)
    assert (out[7].counted, out[7].overlap) == (0.0, 40.0)


def test_a_part_of_a_line_is_its_share_and_what_lines_do_not_cover_stands_alone():
    # 0.70 of a 2.80 line (an over-ordered quantity) inside a flag on the whole bill.
    out = count_once([{"id": 1, "amount": 0.7, "charge_ids": [5]}, {"id": 2, "amount": 2.8, "charge_ids": [5]}],
                     {5: 2.8}, None)
    assert out[2].counted == 2.8 and out[1].counted == 0.0 and out[1].overlap == 0.7
    out = count_once([{"id": 1, "amount": 30.0, "charge_ids": [5]}, {"id": 2, "amount": 12.0, "charge_ids": []}],
                     {5: 20.0}, None)
    assert out[1].counted == 30.0 and out[2].counted == 12.0      # 10.0 above its line, 12.0 without lines


def test_an_admission_never_counts_more_than_it_billed():
    out = count_once([{"id": 1, "amount": 873.1, "charge_ids": []}, {"id": 2, "amount": 500.0, "charge_ids": []}],
                     {}, 873.1)
    assert out[1].counted + out[2].counted == pytest.approx(873.1)
    assert out[2].counted == 0.0 and out[2].overlap == 500.0      # the cut comes from the smaller flag


@pytest.fixture
def db(db_path):
    """One admission billing 873.10 元: 低标准入院 on the whole bill and an over-order of 0.70 on one of
    its lines (the issue's example), plus a second admission with two national rules on one line."""
    d = store.connect(db_path)
    with store.transaction(d):
        store.insert_many(d, "hospitals", [{"id": "H1", "name": "青山县人民医院", "created_at": T}])
        store.insert_many(d, "records", [
            {"id": i, "sha256": f"s{i}", "source_path": f"/b/H1/{i}.pdf", "kind": "pdf", "hospital_id": "H1",
             "admission_no": f"ZY{i}", "stage": "scored", "status": "ok", "created_at": T, "updated_at": T}
            for i in (1, 2)])
        bill = [873.1 - 2.8 * 3, 2.8, 2.8, 2.8]
        store.insert_many(d, "charges", [
            {"id": 10 + k, "record_id": 1, "source": "bill", "seq": k, "amount": round(a, 2)} for k, a in enumerate(bill)]
            + [{"id": 20, "record_id": 2, "source": "bill", "seq": 0, "amount": 40.0},
               {"id": 21, "record_id": 2, "source": "bill", "seq": 1, "amount": 500.0}])
        store.insert_many(d, "flags", [
            {"id": 1, "record_id": 1, "rule_id": "CL-LOW-STANDARD-ADMISSION", "amount": 873.1,
             "charge_ids": "[10, 11, 12, 13]", "severity": "可疑", "source": "system", "created_at": T},
            {"id": 2, "record_id": 1, "rule_id": "CH-OVER-ORDERED", "amount": 0.7, "charge_ids": "[12]",
             "severity": "可疑", "source": "system", "created_at": T},
            {"id": 3, "record_id": 2, "rule_id": "KP-ITEM-CHILD", "amount": 40.0, "charge_ids": "[20]",
             "severity": "可疑", "source": "system", "created_at": T},
            {"id": 4, "record_id": 2, "rule_id": "KP-ITEM-SEX", "amount": 40.0, "charge_ids": "[20]",
             "severity": "可疑", "source": "system", "created_at": T}])
    return d


def _confirm_all(db):
    for fid in (1, 2, 3, 4):
        review.decide(db, "a", fid, "confirm")
        review.force_release(db, 1 if fid < 3 else 2, "lead")


def test_report_totals_count_each_yuan_once_and_show_the_overlap(db):
    _confirm_all(db)
    fig = figures.collect(db)
    b = fig["batch"]
    assert b["amount_yuan"] == 913.1 and b["amount_gross_yuan"] == 953.8 and b["overlap_yuan"] == 40.7
    assert "涉及违规费用 0.09 万元" in fig["headline"]
    rules = {r["rule_id"]: r for r in fig["rules"]}
    assert rules["CH-OVER-ORDERED"]["amount_gross_yuan"] == 0.7 and rules["CH-OVER-ORDERED"]["overlap_yuan"] == 0.7
    assert sum(r["amount_yuan"] for r in fig["rules"]) == pytest.approx(b["amount_yuan"])
    assert rules["KP-ITEM-SEX"]["rule_name"] == "医疗服务项目区分性别使用"   # from the catalogue
    rows = {r["flag_id"]: r for r in review.confirmed_findings(db)}
    assert sum(r["amount_counted"] for r in rows.values()) == pytest.approx(913.1)
    assert rows[2]["overlap"] == 0.7


def test_queue_amount_drops_a_rejected_flag_and_counts_lines_once(db):
    row = {i["id"]: i for i in review.queue(db)["items"]}
    assert row[1]["amount"] == 873.1 and row[2]["amount"] == 40.0
    review.decide(db, "a", 1, "reject", reason_code="rule_not_applicable")
    q = review.queue(db)
    row = {i["id"]: i for i in q["items"]}
    assert row[1]["amount"] == 0.7 and row[1]["n_rejected"] == 1 and row[1]["n_pending"] == 1
    assert q["flag_counts"] == {"pending": 3, "confirmed": 0, "rejected": 1}
    case = review.case_view(db, 1, flag_id=2)
    assert case["amount"]["counted"] == 0.7


def test_appeals_change_the_totals(db):
    _confirm_all(db)
    review.appeals.file_appeal(db, "cli:x", 3, "该项目为儿童专用，患者 6 岁")
    assert figures.collect(db)["batch"]["appeals_open"] == 1
    assert "申诉中" in figures.collect(db)["pending_warning"]
    with pytest.raises(review.ReviewError):
        review.appeals.file_appeal(db, "cli:x", 3, "again")           # one open appeal at a time
    review.appeals.decide_appeal(db, "cli:x", 3, "upheld", finding="属实")
    fig = figures.collect(db)
    # KP-ITEM-SEX now keeps the shared line on its own: the admission still counts 40.00.
    assert fig["batch"]["amount_yuan"] == 913.1 and fig["batch"]["confirmed_findings"] == 3
    assert fig["batch"]["appeals_upheld"] == 1 and [a["flag_id"] for a in fig["appeals"]] == [3]
    review.appeals.file_appeal(db, "cli:x", 1, "部分费用属于正常住院")
    review.appeals.decide_appeal(db, "cli:x", 1, "partly", amount="300")
    fig = figures.collect(db)
    # 300 of the 873.10 stands, spread over the bill: the 0.70 line part is no longer all taken by it.
    assert fig["batch"]["amount_yuan"] == pytest.approx(300.0 + 0.7 + 40.0)
    with pytest.raises(review.ReviewError):
        review.appeals.decide_appeal(db, "cli:x", 4, "upheld")        # never appealed
    with pytest.raises(review.ReviewError):
        review.appeals.file_appeal(db, "cli:x", 99, "x")
