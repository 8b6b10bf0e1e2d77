"""Report figures against a hand-built database, totals against the database, masking, files."""
import json

import pytest
from openpyxl import load_workbook

from pipeline import store
from pipeline.report import figures, mask, write_report

T = "2026-11-20T08:00:00+00:00"


def _ev(text, page_no, line_id=None):
    return [{"document": "出院记录", "section": None, "text": text, "page_no": page_no, "page_id": page_no,
             "line_id": line_id, "bbox": None}]


@pytest.fixture
def db(db_path):
    """Two hospitals, 7 records (one failed, one still in progress), flags and review events.

    R1 (H1): F1 confirm 1200, F2 reject                     -> reviewed, confirmed
    R2 (H1): F3 confirm then change amount to 300 (rule R-B) -> reviewed, confirmed 300
    R3 (H1): F4 confirm then undo                           -> pending
    R4 (H2): F5 confirm 5000, F6 reviewer-added confirm 800  -> reviewed, confirmed
    R5 (H2): no flags; R6 (H2) failed at read; R7 (H2) only segmented
    """
    d = store.connect(db_path)
    with store.transaction(d):
        store.insert_many(d, "hospitals", [
            {"id": "H1", "name": "青山县人民医院", "created_at": T},
            {"id": "H2", "name": "青山县中医院", "created_at": T}])
        recs = []
        for i, (h, stage, status, err) in enumerate([
            ("H1", "scored", "ok", None), ("H1", "scored", "ok", None), ("H1", "scored", "ok", None),
            ("H2", "scored", "ok", None), ("H2", "scored", "ok", None), ("H2", "ingested", "failed", "PDF 文件损坏"),
            ("H2", "segmented", "ok", None)], 1):
            recs.append({"id": i, "sha256": f"sha{i}", "source_path": f"/b/{h}/{i}.pdf", "kind": "pdf",
                         "hospital_id": h, "admission_no": f"ZY{i:04d}", "stage": stage, "status": status,
                         "error": err, "error_stage": "read" if err else None, "created_at": T, "updated_at": T})
        store.insert_many(d, "records", recs)
        store.insert_many(d, "fields", [
            {"record_id": 1, "name": "patient_name", "seq": 0, "value": "张三丰"},
            {"record_id": 1, "name": "id_number", "seq": 0, "value": "110101199001011234"}])
        store.insert_many(d, "sources", [
            {"path": "/b/H2/bad.txt", "state": "rejected", "reason": "不支持的文件类型", "seen_at": T}])
        flags = [
            (1, 1, "R-A", "超标准收费", 1200.0, "system", _ev("患者张三丰，身份证110101199001011234 收费", 3, 31)),
            (2, 1, "R-B", "分解住院", 500.0, "system", _ev("再次入院", 1)),
            (3, 2, "R-A", "超标准收费", 900.0, "system", _ev("收费", 2)),
            (4, 3, "R-A", "超标准收费", 400.0, "system", []),
            (5, 4, "R-C", "重复收费", 5000.0, "system", _ev("重复", 4)),
            (6, 4, "R-A", "超标准收费", 800.0, "reviewer", _ev("审核员新增", 5)),
        ]
        store.insert_many(d, "flags", [
            {"id": fid, "record_id": rid, "rule_id": rule, "rule_name": name, "key": "", "severity": "可疑",
             "amount": amt, "source": src, "evidence": ev, "catalogue_version": "cat-1", "created_at": T}
            for fid, rid, rule, name, amt, src, ev in flags])
        store.insert_many(d, "scores", [
            {"record_id": rid, "model_version": "classifier@v1", "probability": 0.5, "created_at": T} for rid in (1, 2)])
        events = [
            (1, 1, "a", "confirm", {}), (2, 1, "a", "reject", {"reason_code": "charge_correct"}),
            (3, 2, "a", "confirm", {}), (4, 2, "b", "change", {"rule_id": "R-B", "amount": 300.0}),
            (5, 3, "a", "confirm", {}), (6, 3, "a", "undo", {"target": 5}),
            (7, 4, "b", "confirm", {}), (8, 4, "b", "add", {"rule_id": "R-A", "amount": 800.0}),
            (9, 4, "b", "confirm", {}),
        ]
        flag_of = {1: 1, 2: 2, 3: 3, 4: 3, 5: 4, 6: 4, 7: 5, 8: 6, 9: 6}
        store.insert_many(d, "reviews", [
            {"id": eid, "flag_id": flag_of[eid], "record_id": rid, "user": u, "action": a, "payload": p, "at": T}
            for eid, rid, u, a, p in events])
    return d


def test_batch_figures_match_hand_count(db):
    fig = figures.collect(db)
    b = fig["batch"]
    assert (b["received"], b["processed"], b["failed"], b["in_progress"]) == (7, 5, 1, 1)
    assert b["flagged"] == 4 and b["reviewed"] == 3 and b["pending"] == 1
    assert b["confirmed_records"] == 3 and b["confirmed_findings"] == 4 and b["rejected_findings"] == 1
    assert b["amount_yuan"] == 1200 + 300 + 5000 + 800
    assert b["amount_wan"] == pytest.approx(0.73)
    assert not fig["coverage"]["complete"]
    assert fig["versions"] == {"catalogue": ["cat-1"], "score_models": [{"model_version": "classifier@v1", "records": 2}]}
    assert "收到病历 7 份" in fig["coverage"]["statement"] and "处理失败 1 份" in fig["coverage"]["statement"]
    assert fig["coverage"]["failed_reasons"] == [{"hospital_id": "H2", "stage": "read", "reason": "PDF 文件损坏", "records": 1}]
    assert fig["coverage"]["inputs"]["rejected"] == 1


def test_hospital_and_rule_figures(db):
    fig = figures.collect(db)
    h = {x["hospital_id"]: x for x in fig["hospitals"]}
    assert (h["H1"]["received"], h["H1"]["flagged"], h["H1"]["reviewed"], h["H1"]["confirmed_findings"]) == (3, 3, 2, 2)
    assert h["H1"]["amount_yuan"] == 1500 and h["H2"]["amount_yuan"] == 5800
    assert (h["H2"]["received"], h["H2"]["processed"], h["H2"]["failed"], h["H2"]["in_progress"]) == (4, 2, 1, 1)
    # The changed flag counts under its new rule with its new amount.
    r = {x["rule_id"]: x for x in fig["rules"]}
    assert (r["R-A"]["flags"], r["R-A"]["confirmed"], r["R-A"]["pending"], r["R-A"]["amount_yuan"]) == (3, 2, 1, 2000)
    assert (r["R-B"]["flags"], r["R-B"]["confirmed"], r["R-B"]["rejected"], r["R-B"]["amount_yuan"]) == (2, 1, 1, 300)
    assert [t["rule_id"] for t in fig["batch"]["top_rules"]] == ["R-A", "R-C", "R-B"]
    assert [t["rule_id"] for t in h["H2"]["top_rules"]] == ["R-C", "R-A"]


def test_report_totals_equal_database_sums(db):
    """Independent SQL over the events (this fixture has no undo of a change) vs. the report."""
    fig = figures.collect(db)
    assert fig["batch"]["received"] == db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    assert sum(h["received"] for h in fig["hospitals"]) == fig["batch"]["received"]
    assert sum(h["amount_yuan"] for h in fig["hospitals"]) == pytest.approx(fig["batch"]["amount_yuan"])
    assert sum(r["amount_yuan"] for r in fig["rules"]) == pytest.approx(fig["batch"]["amount_yuan"])
    assert sum(r["confirmed"] for r in fig["rules"]) == fig["batch"]["confirmed_findings"]
    sql_total = db.execute("""
        SELECT SUM(COALESCE((SELECT json_extract(payload, '$.amount') FROM reviews c
                             WHERE c.flag_id = f.id AND c.action = 'change'), f.amount))
        FROM flags f WHERE EXISTS (SELECT 1 FROM reviews r WHERE r.flag_id = f.id
              AND r.action IN ('confirm', 'change')
              AND r.id NOT IN (SELECT json_extract(payload, '$.target') FROM reviews WHERE action = 'undo'))
    """).fetchone()[0]
    assert fig["batch"]["amount_yuan"] == pytest.approx(sql_total)


def test_mask_helpers():
    assert mask.mask_name("张三丰") == "张**"
    assert mask.mask_id("110101199001011234") == "110101********1234"
    text = "姓名：李四 性别：男 身份证号 32010219851212002X 住院号 12345"
    out = mask.mask_text(text)
    assert "李四" not in out and "李*" in out
    assert "32010219851212002X" not in out and "320102********002X" in out
    assert "12345" in out  # short numbers (住院号, amounts) are not ID numbers


def test_written_report_masks_by_default(db, tmp_path):
    paths = write_report(db, tmp_path / "rep")
    html = paths["html"].read_text(encoding="utf-8")
    wb = load_workbook(paths["xlsx"])
    cells = "\n".join(str(c.value) for ws in wb for row in ws.iter_rows() for c in row if c.value is not None)
    for text in (html, cells):
        assert "张三丰" not in text and "110101199001011234" not in text
        assert "张**" in text and "110101********1234" in text
    assert set(wb.sheetnames) == {"汇总", "分规则", "分规则类别", "确认违规明细", "处理失败与拒收",
                                  "医院-青山县人民医院", "医院-青山县中医院", "规则-超标准收费", "规则-分解住院", "规则-重复收费"}
    findings = list(wb["确认违规明细"].iter_rows(values_only=True))
    assert len(findings) == 1 + 4
    assert html.count("<svg") == 4 and "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert json.loads(paths["figures"].read_text(encoding="utf-8"))["batch"]["confirmed_findings"] == 4


def test_no_mask_keeps_patient_data(db, tmp_path):
    paths = write_report(db, tmp_path / "rep", mask=False)
    html = paths["html"].read_text(encoding="utf-8")
    assert "张三丰" in html and "110101199001011234" in html


def test_findings_sheet_has_evidence_and_pages(db, tmp_path):
    paths = write_report(db, tmp_path / "rep")
    ws = load_workbook(paths["xlsx"])["确认违规明细"]
    rows = list(ws.iter_rows(values_only=True))
    head = rows[0]
    by_flag = {r[head.index("疑点ID")]: r for r in rows[1:]}
    assert "[第3页]" in by_flag[1][head.index("证据原文")]
    assert by_flag[1][head.index("证据页码")] == "3"
    assert by_flag[3][head.index("涉及金额(元)")] == 300


def test_formula_like_text_stays_text(db, tmp_path):
    db.execute("UPDATE flags SET reason = '=HYPERLINK(\"x\")' WHERE id = 1")
    paths = write_report(db, tmp_path / "rep")
    ws = load_workbook(paths["xlsx"])["确认违规明细"]
    cell = next(c for row in ws.iter_rows() for c in row if c.value == '=HYPERLINK("x")')
    assert cell.data_type == "s"


def test_cli_report(db, db_path, tmp_path):
    from typer.testing import CliRunner

    from cli import app

    res = CliRunner().invoke(app, ["report", "--db", str(db_path), "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "r" / "report.xlsx").exists() and (tmp_path / "r" / "report.html").exists()
    assert "确认违规 4 条" in res.output
    res = CliRunner().invoke(app, ["report", "--db", str(tmp_path / "missing.db"), "--out", str(tmp_path / "r2")])
    assert res.exit_code == 2 and not (tmp_path / "missing.db").exists()


def test_records_without_hospital_are_their_own_scope(db):
    db.execute("UPDATE records SET hospital_id = NULL WHERE id = 4")
    fig = figures.collect(db)
    h = {x["hospital_id"]: x for x in fig["hospitals"]}
    assert h[None]["received"] == 1 and h[None]["confirmed_findings"] == 2 and h[None]["amount_yuan"] == 5800
    assert [t["rule_id"] for t in h[None]["top_rules"]] == ["R-C", "R-A"]
    assert [t["rule_id"] for t in fig["batch"]["top_rules"]] == ["R-A", "R-C", "R-B"]   # batch scope unchanged
    assert sum(x["received"] for x in fig["hospitals"]) == fig["batch"]["received"] == 7


def test_pdf_is_printed_or_skipped_with_reason(db, tmp_path, monkeypatch):
    from pipeline.report import pdf

    monkeypatch.setattr(pdf, "find_browser", lambda: None)
    res = write_report(db, tmp_path / "a", pdf=True)
    assert "pdf" not in res and "Chromium" in res["pdf_skipped"]
    monkeypatch.undo()
    if pdf.find_browser() is None:
        pytest.skip("no local Chromium")
    res = write_report(db, tmp_path / "b", pdf=True)
    assert res["pdf"].read_bytes()[:5] == b"%PDF-"


def test_headline_names_firm_bureau_period_and_warns_while_flags_are_pending(db, tmp_path):
    from pipeline.report import ReportSettings

    settings = ReportSettings(firm="青山医审咨询有限公司", bureau="青山县医疗保障局", period="2024年1月1日至2024年12月31日",
                              hospitals={"H2": "青山县中医医院"})
    paths = write_report(db, tmp_path / "rep", settings=settings)
    html = paths["html"].read_text(encoding="utf-8")
    # processed 5 (R1–R5), violations in R1, R2, R4; 1200 + 300 + 5000 + 800 元
    assert "共审核病历 5 份，发现违规病例 3 份，涉及违规费用 0.73 万元" in html
    for text in ("青山医审咨询有限公司", "青山县医疗保障局", "2024年1月1日至2024年12月31日", "青山县中医医院"):
        assert text in html
    assert "尚有 1 条疑点（涉及 1 份病历）未经审核确认" in html
    assert paths["settings_missing"] == []
    assert write_report(db, tmp_path / "r2")["settings_missing"] == ["审核机构", "委托方", "审核期间"]


def test_settings_file_is_checked_and_options_win(tmp_path):
    from pipeline.report import SettingsError, load_settings

    f = tmp_path / "report.yaml"
    f.write_text("firm: 甲公司\nbureau: 乙局\nperiod: {from: 2024-01-01, to: 2024-06-30}\nhospitals: {H1: 某医院}\n",
                 encoding="utf-8")
    s = load_settings(f)
    assert (s.firm, s.bureau, s.period, s.hospitals) == ("甲公司", "乙局", "2024年1月1日至2024年6月30日", {"H1": "某医院"})
    assert s.with_options(firm="丙公司", period=None).firm == "丙公司"
    f.write_text("firm: 甲公司\nbureu: 乙局\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="report.yaml.*bureu"):
        load_settings(f)
    f.write_text("appeal_days: 200\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="appeal_days"):
        load_settings(f)


def test_excel_formats_frozen_headers_filters_sheets_and_charts(db, tmp_path):
    wb = load_workbook(write_report(db, tmp_path / "rep")["xlsx"])
    ws = wb["确认违规明细"]
    head = [c.value for c in ws[1]]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref.startswith("A1:")
    assert {"规则类别", "法规依据", "计入合计(元)"} <= set(head)
    amount = ws.cell(row=2, column=head.index("涉及金额(元)") + 1)
    assert amount.number_format == "#,##0.00" and amount.value == 1200
    rules = wb["分规则"]
    rhead = [c.value for c in rules[1]]
    assert {"规则类别", "法规依据", "与其他规则重叠(元)"} <= set(rhead) and rules.auto_filter.ref
    assert len(wb["汇总"]._charts) == 2 and len(rules._charts) == 1
    summary = [c.value for row in wb["汇总"].iter_rows(max_row=3) for c in row if c.value]
    assert any("共审核病历 5 份" in str(v) for v in summary) and any("尚有" in str(v) for v in summary)
    wan = next(c for row in wb["汇总"].iter_rows() for c in row if c.value == "涉及违规费用(万元)")
    assert wb["汇总"].cell(row=wan.row + 1, column=wan.column).number_format == "#,##0.00"
    h1 = wb["医院-青山县人民医院"]
    cells = [str(c.value) for row in h1.iter_rows() for c in row if c.value]
    assert any("张**" in v for v in cells) and not any("张三丰" in v for v in cells)   # free text masked
    assert h1.freeze_panes == "A4"


def test_html_names_rules_in_chinese_and_small_amounts_in_yuan(db, tmp_path):
    html = write_report(db, tmp_path / "rep")["html"].read_text(encoding="utf-8")
    charts = html[html.index("规则分布"):]
    assert "超标准收费" in charts and "R-A…" not in charts         # names, not cut codes
    # Every rule's amount is under 1 万元 (5,000 at most): the chart is in 元, the headline adds the 元.
    assert "各规则确认违规金额（元）" in html and "5,000.00" in charts
    assert "0.73 万元（7,300.00 元）" in html
    db.execute("UPDATE flags SET amount = 25000 WHERE id = 5")
    html = write_report(db, tmp_path / "r2")["html"].read_text(encoding="utf-8")
    assert "各规则确认违规金额（万元）" in html and "2.50" in html[html.index("各规则确认违规金额"):]


def test_notices_list_each_hospitals_findings_with_basis_and_how_to_appeal(db, tmp_path):
    from pipeline.report import ReportSettings

    res = write_report(db, tmp_path / "rep", notices=True,
                       settings=ReportSettings(firm="青山医审", bureau="青山县医保局", appeal_days=15))
    by_name = {p.name: p.read_text(encoding="utf-8") for p in res["notices"]}
    assert set(by_name) == {"疑点告知书-H1.html", "疑点告知书-H2.html"}
    h1 = by_name["疑点告知书-H1.html"]
    assert "医保基金使用疑点告知书" in h1 and "青山县人民医院" in h1 and "15 个工作日内" in h1
    assert "张**" in h1 and "张三丰" not in h1
    assert "第 3 页" in h1 and "1,500.00" in h1                    # R1's 1200 and R2's 300
    assert h1.count("<td>1</td>") >= 1 and "申诉理由" in h1


def test_pdf_has_the_cjk_font_embedded_and_renders(db, tmp_path):
    import shutil
    import subprocess

    from pipeline.report import pdf

    if pdf.find_browser() is None:
        pytest.skip("no local Chromium")
    res = write_report(db, tmp_path / "rep", pdf=True, notices=True)
    assert len(res["pdfs"]) == 3                                   # the report and two notices
    if not shutil.which("pdffonts") or not shutil.which("pdftoppm"):
        pytest.skip("poppler-utils not installed")
    fonts = subprocess.run(["pdffonts", str(res["pdf"])], capture_output=True, text=True, check=True).stdout
    cjk = [ln for ln in fonts.splitlines() if "WenQuanYi" in ln or "Noto" in ln]
    assert cjk and all(" yes " in ln for ln in cjk), fonts        # embedded, not left to the reader's machine
    subprocess.run(["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "1", str(res["pdf"]), str(tmp_path / "p")],
                   check=True)
    from PIL import Image

    img = Image.open(next(tmp_path.glob("p-*.png"))).convert("L")
    dark = sum(1 for v in img.getdata() if v < 128) / (img.width * img.height)
    assert 0.005 < dark < 0.5                                      # text is drawn, the page is not blank


def test_cli_appeal_then_report_with_settings_and_notices(db, db_path, tmp_path):
    from typer.testing import CliRunner

    from cli import app

    run = CliRunner().invoke
    settings = tmp_path / "report.yaml"
    settings.write_text("firm: 青山医审\nbureau: 青山县医保局\nperiod: 2024年度\n", encoding="utf-8")
    res = run(app, ["appeal", "file", "5", "--grounds", "重复收费系系统录入错误，已退费", "--db", str(db_path)])
    assert res.exit_code == 0, res.output
    assert run(app, ["appeal", "decide", "5", "--outcome", "maybe", "--db", str(db_path)]).exit_code == 2
    assert run(app, ["appeal", "decide", "5", "--outcome", "upheld", "--db", str(db_path)]).exit_code == 0
    assert run(app, ["appeal", "file", "2", "--grounds", "x", "--db", str(db_path)]).exit_code == 2   # rejected flag
    listed = run(app, ["appeal", "list", "--db", str(db_path)]).output
    assert listed.startswith("5\tH2\tZY0004\t重复收费\t申诉成立")
    res = run(app, ["report", "--db", str(db_path), "--out", str(tmp_path / "r"), "--settings", str(settings),
                    "--notices", "--period", "2024年1月1日至2024年12月31日"])
    assert res.exit_code == 0, res.output
    # 5000 元 of R4 left the totals; R4 keeps the reviewer-added 800 元.
    assert "共审核病历 5 份，发现违规病例 3 份，涉及违规费用 0.23 万元" in res.output
    html = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "2024年1月1日至2024年12月31日" in html and "青山医审" in html and "申诉成立 1 条" in html
    assert (tmp_path / "r" / "notices" / "疑点告知书-H2.html").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("firm: [1, 2]\n", encoding="utf-8")
    res = run(app, ["report", "--db", str(db_path), "--out", str(tmp_path / "r3"), "--settings", str(bad)])
    assert res.exit_code == 2 and "bad.yaml" in res.output and "firm" in res.output
