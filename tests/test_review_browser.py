"""The review UI in real headless Chromium: log in, open the top case, see the evidence box,
confirm with the keyboard, watch the queue advance. Skips when chromium or Playwright is absent."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python not installed")
if not Path(CHROMIUM).exists():
    pytest.skip("Debian chromium not installed (/usr/bin/chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

from pipeline.store import connect, insert_one, transaction  # noqa: E402
from pipeline.store import dumps as store_dumps  # noqa: E402
from app_server import AppServer  # noqa: E402
from review_ui import auth, create_app  # noqa: E402
from review_sample import build  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "test-output"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]


def _wait_image(page) -> None:
    # wait_for_function evaluates strings, which the app's CSP (no unsafe-eval) forbids.
    img = page.locator("#page-img")
    expect(img).to_have_js_property("complete", True)
    assert img.evaluate("el => el.naturalWidth") > 0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db_path = tmp_path_factory.mktemp("ui") / "audit.db"
    ids = build(db_path, distinct_images=4)
    db = connect(db_path)
    auth.add_user(db, "reviewer1", "reviewer", "pw-reviewer-1")
    # A section over page 1 of the flagless case, for annotating entities (the sample has none).
    lids = [ids["ZY2026004"]["line_ids"][(1, n)] for n in range(1, 6)]
    text = "\n".join(db.conn.execute("SELECT text FROM lines WHERE id = ?", (i,)).fetchone()[0] for i in lids)
    with transaction(db):
        insert_one(db, "sections", {"record_id": ids["ZY2026004"]["record_id"], "seq": 1, "name": "病程记录",
                                    "text": text, "line_start": lids[0], "line_end": lids[-1]})
    srv = AppServer(create_app(db_path))
    yield srv.base, ids
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    # One Playwright per module: a second sync_playwright() inside the first one's loop is refused.
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser):
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    yield ctx.new_page()
    ctx.close()


def _login(page, base):
    """Each test can run alone: log in unless an earlier test of the module already did."""
    page.goto(base + "/")
    if "/login" in page.url:
        page.fill("input[name=username]", "reviewer1")
        page.fill("input[name=password]", "pw-reviewer-1")
        page.click("button[type=submit]")
        page.wait_for_selector("#queue")


def test_login_open_top_case_confirm_with_keyboard(server, page):
    base, ids = server
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base + "/")
    assert "/login" in page.url                       # nothing without a session
    _login(page, base)
    top_before = page.locator("#queue tbody tr").first.get_attribute("data-record")
    pending_before = int(page.inner_text("#count-pending"))
    confirmed_before = int(page.inner_text("#count-confirmed"))
    assert top_before == str(ids["ZY2026001"]["record_id"])   # riskiest first

    page.click("#start")
    page.wait_for_selector("#case")
    assert page.url.endswith(f"/cases/{top_before}")
    img = page.locator("#page-img")
    img.wait_for()
    _wait_image(page)
    box = page.locator(".box.current").first
    ib, bb = img.bounding_box(), box.bounding_box()
    assert bb["width"] > 10 and bb["height"] > 5
    # The box lies inside the image, where the evidence line was drawn (line 5 of page 3).
    assert ib["x"] <= bb["x"] and bb["x"] + bb["width"] <= ib["x"] + ib["width"] + 1
    assert ib["y"] <= bb["y"] and bb["y"] + bb["height"] <= ib["y"] + ib["height"] + 1
    rel_top = (bb["y"] - ib["y"]) / ib["height"]
    assert 0.15 < rel_top < 0.25
    assert page.locator(".lines li.ev mark").count() >= 1
    # OCR text with markup is shown as text, never executed.
    assert page.evaluate("window.__xss") is None
    assert page.locator(".lines", has_text="<script>").count() == 1
    OUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUT / "case_view.png"), full_page=False)

    # Confirm both flags of the case with the keyboard; then the next case opens.
    first_flag = page.get_attribute("#case", "data-flag")
    page.keyboard.press("a")
    expect(page.locator("#case")).not_to_have_attribute("data-flag", first_flag)
    page.keyboard.press("a")
    expect(page.locator("#case")).not_to_have_attribute("data-record", top_before)
    assert not errors

    page.goto(base + "/")
    # The counts are of flags: both flags of the case moved from pending to confirmed.
    assert int(page.inner_text("#count-pending")) == pending_before - 2
    assert int(page.inner_text("#count-confirmed")) == confirmed_before + 2
    first_pending = page.locator("#queue tbody tr.st-pending").first.get_attribute("data-record")
    assert first_pending != top_before


def test_zoom_scales_image_and_boxes(server, page):
    base, ids = server
    _login(page, base)
    rid = ids["ZY2026002"]["record_id"]
    page.goto(f"{base}/cases/{rid}")
    _wait_image(page)
    page.keyboard.press("0")
    w1 = page.locator("#page-img").bounding_box()["width"]
    b1 = page.locator(".box").first.bounding_box()["width"]
    page.keyboard.press("+")
    w2 = page.locator("#page-img").bounding_box()["width"]
    b2 = page.locator(".box").first.bounding_box()["width"]
    assert w2 == pytest.approx(w1 * 1.25, rel=0.02)
    assert b2 == pytest.approx(b1 * 1.25, rel=0.05)
    page.keyboard.press("0")


def test_reject_with_reason_by_keyboard_then_undo(server, page):
    base, ids = server
    _login(page, base)
    rid = ids["ZY2026003"]["record_id"]
    page.goto(f"{base}/cases/{rid}")
    expect(page.locator("#form-reject")).to_be_hidden()
    page.keyboard.press("x")
    expect(page.locator("#reject-reason")).to_be_focused()
    page.keyboard.press("2")                          # the second reason in the list
    page.keyboard.press("Enter")
    expect(page.locator("#case")).not_to_have_attribute("data-record", str(rid))
    page.goto(f"{base}/cases/{rid}")
    expect(page.locator("#flag-" + page.get_attribute("#case", "data-flag") + " .state")).to_contain_text("已驳回")
    page.keyboard.press("u")
    expect(page.locator(".flaglist .state").first).to_contain_text("待审核")


def test_drawing_a_box_selects_lines_for_a_new_flag(server, page):
    base, ids = server
    _login(page, base)
    rid = ids["ZY2026002"]["record_id"]
    page.goto(f"{base}/cases/{rid}?page_no=1")
    _wait_image(page)
    page.keyboard.press("0")
    img = page.locator("#page-img").bounding_box()
    # Lines 2 and 3 of the sample page sit at y = 120 + n*44 px of a 1754 px page.
    y_a = img["y"] + img["height"] * (120 + 2 * 44 + 10) / 1754
    y_b = img["y"] + img["height"] * (120 + 3 * 44 + 20) / 1754
    page.mouse.move(img["x"] + img["width"] * 0.1, y_a)
    page.mouse.down()
    page.mouse.move(img["x"] + img["width"] * 0.4, y_b, steps=5)
    page.mouse.up()
    line_ids = ids["ZY2026002"]["line_ids"]
    checked = page.eval_on_selector_all("input[name=line_ids]:checked", "els => els.map(e => +e.value)")
    assert sorted(checked) == sorted([line_ids[(1, 2)], line_ids[(1, 3)]])
    expect(page.locator("#add-panel")).to_have_attribute("open", "")
    # The rule is chosen from the catalogue, shown by its Chinese name.
    assert page.locator("#add-rule option[value='CH-IDENTICAL-LINES']").inner_text().startswith("重复收费(重复计费明细)")
    page.select_option("#add-rule", "CH-IDENTICAL-LINES")
    page.click("#addform button[type=submit]")
    expect(page.locator(".flaglist")).to_contain_text("重复收费(重复计费明细)")


def test_selecting_ocr_text_adds_an_entity(server, page):
    base, ids = server
    _login(page, base)
    rid = ids["ZY2026004"]["record_id"]
    lid = ids["ZY2026004"]["line_ids"][(1, 2)]
    page.goto(f"{base}/cases/{rid}?page_no=1")
    expect(page.locator("#entity-add")).to_be_hidden()
    picked = page.evaluate("""([id, s, e]) => {
        const span = document.querySelector(`#line-${id} span.t`);
        const r = document.createRange();
        r.setStart(span.firstChild, s); r.setEnd(span.firstChild, e);
        getSelection().removeAllRanges(); getSelection().addRange(r);
        span.dispatchEvent(new MouseEvent("mouseup", {bubbles: true}));
        return r.toString(); }""", [lid, 2, 6])
    expect(page.locator("#entity-add")).to_be_visible()
    expect(page.locator("#entity-add-text")).to_have_text(picked)
    page.select_option("#entity-add select[name=label]", "SYMPTOM")
    page.click("#entity-add button[type=submit]")
    added = page.locator(".entities li", has_text="审核员新增")
    expect(added).to_contain_text(picked)
    expect(added.locator(".lbl")).to_have_text("症状和体征")


# -- the views at a laptop's size (1366×768), on a batch of their own ------------------------------

ID_NUMBER = "110101199001011234"
REVIEWER, LEAD = ("rev-a", "pw-rev-a-123"), ("lead-a", "pw-lead-a-123")


@pytest.fixture(scope="module")
def views(tmp_path_factory):
    """The sample batch plus: an ID number in a record's fields and OCR text, and on ZY2026002 a
    catalogue rule's flag with its evidence line twice that shares a charge line with the other flag."""
    db_path = tmp_path_factory.mktemp("views") / "audit.db"
    ids = build(db_path, big_pages=45, distinct_images=3)
    db = connect(db_path)
    r2 = ids["ZY2026002"]
    with transaction(db):
        for rid in (ids["ZY2026001"]["record_id"], r2["record_id"]):
            insert_one(db, "fields", {"record_id": rid, "name": "id_number", "seq": 0, "value": ID_NUMBER})
            insert_one(db, "fields", {"record_id": rid, "name": "admission_diagnosis", "seq": 0, "value": "社区获得性肺炎"})
        db.conn.execute("UPDATE lines SET text = ? WHERE id = ?", (f"身份证号：{ID_NUMBER}", ids["ZY2026001"]["line_ids"][(3, 6)]))
        line = r2["line_ids"][(2, 3)]
        box = list(db.conn.execute("SELECT x0, y0, x1, y1 FROM lines WHERE id = ?", (line,)).fetchone())
        ev = {"document": "费用清单", "section": None, "text": "注射用头孢曲松钠", "page_no": 2,
              "page_id": r2["page_ids"][2], "line_id": line, "bbox": box}
        ids["dup_flag"] = insert_one(db, "flags", {
            "record_id": r2["record_id"], "rule_id": "CH-IDENTICAL-LINES", "rule_name": "重复收费(重复计费明细)",
            "catalogue_version": "2026.12.1", "category": "收费", "severity": "明确违规", "score": 0.95,
            "reason": "同一明细重复计费", "amount": 71.0, "evidence": store_dumps([ev, ev]),
            "charge_ids": store_dumps(r2["charge_ids"][:2]), "source": "system", "created_at": "2026-06-01T00:00:00+00:00"})
    auth.add_user(db, REVIEWER[0], "reviewer", REVIEWER[1])
    auth.add_user(db, LEAD[0], "lead", LEAD[1])
    auth.add_user(db, "rev-b", "reviewer", "pw-rev-b-123")
    srv = AppServer(create_app(db_path))
    yield srv.base, ids, db_path
    srv.stop()


@pytest.fixture(scope="module")
def laptop(browser):
    return lambda: browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")


def _as(ctx, base, who):
    page = ctx.new_page()
    page.goto(base + "/login")
    page.fill("input[name=username]", who[0])
    page.fill("input[name=password]", who[1])
    page.click("button[type=submit]")
    page.wait_for_selector("#queue")
    return page


def _on_screen(page, selector, width=1366, height=768):
    b = page.locator(selector).first.bounding_box()
    assert b is not None, selector
    assert b["y"] >= 0 and b["y"] + b["height"] <= height and b["x"] + b["width"] <= width, (selector, b)


def test_decision_money_and_evidence_above_the_fold_at_1366x768(views, laptop):
    base, ids, _ = views
    ctx = laptop()
    page = _as(ctx, base, REVIEWER)
    page.goto(f"{base}/cases/{ids['ZY2026001']['record_id']}")
    _wait_image(page)
    for sel in ("#current-flag h2", "#flag-amount", "#evidence li", "#form-confirm button", "#btn-reject",
                ".box.current", ".lines li.ev.current"):
        _on_screen(page, sel)
    assert "106.50" in page.inner_text("#flag-amount")
    # The record summary comes below, under Chinese labels, never the field keys.
    summary = page.inner_text("#record-summary")
    assert "入院诊断" in summary and "admission_diagnosis" not in page.content()
    page.screenshot(path=str(OUT.joinpath("case_1366x768.png")))
    ctx.close()


def test_id_numbers_masked_for_a_reviewer_shown_to_a_lead(views, laptop):
    base, ids, _ = views
    rid = ids["ZY2026001"]["record_id"]
    ctx = laptop()
    page = _as(ctx, base, REVIEWER)
    page.goto(f"{base}/cases/{rid}?page_no=3")
    html = page.content() + page.evaluate("async (u) => (await fetch(u)).text()", f"/api/cases/{rid}?page_no=3")
    assert ID_NUMBER not in html and "110101********1234" in page.inner_text("#record-summary")
    assert "110101********1234" in page.inner_text("#lines")
    ctx.close()
    ctx = laptop()
    page = _as(ctx, base, LEAD)
    page.goto(f"{base}/cases/{rid}?page_no=3")
    assert ID_NUMBER in page.inner_text("#record-summary") and ID_NUMBER in page.inner_text("#lines")
    ctx.close()


def test_evidence_once_charges_total_policy_one_click_overlap_shown(views, laptop):
    base, ids, _ = views
    rid, fid = ids["ZY2026002"]["record_id"], ids["dup_flag"]
    ctx = laptop()
    page = _as(ctx, base, REVIEWER)
    page.goto(f"{base}/cases/{rid}?flag={fid}")
    assert page.locator("#evidence li").count() == 1 and "共 2 处" in page.inner_text("#evidence")
    assert "合计（2 项）" in page.inner_text("#involved") and "71.00" in page.inner_text("#involved tr.total")
    expect(page.locator("#policy blockquote").first).to_be_hidden()
    page.click("#policy summary")
    expect(page.locator("#policy blockquote").first).to_contain_text("重复收费、超标准收费、分解项目收费")
    # The other flag's charge line is one of these two: the case counts it once.
    assert "35.50 元为同一费用明细" in page.inner_text(".flags")
    assert "本例涉及 71.00 元" in page.inner_text("#case-title")
    # The box outline sits outside the line's box and its fill multiplies: the text stays readable.
    style = page.locator(".box.current").first.evaluate(
        "b => [getComputedStyle(b).outlineOffset, getComputedStyle(b).mixBlendMode]")
    assert style == ["3px", "multiply"]
    ctx.close()


def test_refused_forms_keep_the_input_beside_the_field(views, laptop):
    base, ids, _ = views
    rid = ids["ZY2026003"]["record_id"]
    ctx = laptop()
    page = _as(ctx, base, REVIEWER)
    page.goto(f"{base}/cases/{rid}")
    # 驳回 with 其他 and no note: the page says so beside the note before sending anything.
    page.keyboard.press("x")
    page.select_option("#reject-reason", "other")
    page.click("#form-reject button[type=submit]")
    expect(page.locator("#reject-note-needed")).to_be_visible()
    assert page.url.endswith(f"/cases/{rid}")
    # Sent anyway (no script): the server answers with the case, the reason kept, the message beside the note.
    page.evaluate("() => HTMLFormElement.prototype.submit.call(document.getElementById('form-reject'))")
    page.wait_for_selector("#form-reject:not([hidden])")
    assert page.input_value("#reject-reason") == "other"
    assert "备注" in page.locator("#reject-note + .field-error, label:has(#reject-note) + .field-error").first.inner_text()
    # A wrong amount in 修改: the panel stays open with "abc" in it and the message beside it.
    page.goto(f"{base}/cases/{rid}")
    page.click("#change-panel summary")
    page.fill("#change-amount", "abc")
    page.click("#form-change button[type=submit]")
    expect(page.locator("#change-panel")).to_have_attribute("open", "")
    assert page.input_value("#change-amount") == "abc"
    assert "金额无效" in page.locator("label:has(#change-amount) + .field-error").inner_text()
    assert "无法完成操作" not in page.content() and page.locator("#current-flag").count() == 1
    ctx.close()


def test_queue_row_after_a_reject_shows_what_is_left(views, laptop):
    base, ids, _ = views
    rid = ids["ZY2026001"]["record_id"]
    ctx = laptop()
    page = _as(ctx, base, REVIEWER)
    before = int(page.inner_text("#count-rejected"))
    page.goto(f"{base}/cases/{rid}")
    page.keyboard.press("j")                          # the second flag (71.00)
    expect(page.locator("#flag-amount")).to_contain_text("71.00")
    page.keyboard.press("x")
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    expect(page.locator("#case")).not_to_have_attribute("data-flag", str(ids["flags"][1]))
    page.goto(base + "/")
    row = page.locator(f"#queue tr[data-record='{rid}']")
    assert row.locator("td.amount").inner_text() == "106.50"        # the rejected 71.00 no longer counts
    status = row.locator("td.status").inner_text()
    assert "待审核" in status and "驳回 1" in status and "已确认" not in status
    assert int(page.inner_text("#count-rejected")) == before + 1    # counted per flag
    ctx.close()


def test_report_headline_equals_sql_counts(views, laptop, tmp_path):
    import re as _re

    from pipeline.report import write_report

    base, ids, db_path = views
    ctx = laptop()
    page = _as(ctx, base, REVIEWER)
    for adm in ("ZY2026001", "ZY2026003"):           # confirm the first open flag of each (106.50, 213.00)
        rid = ids[adm]["record_id"]
        page.goto(f"{base}/cases/{rid}")
        page.keyboard.press("a")
        expect(page.locator("#case")).not_to_have_attribute("data-record", str(rid))
    ctx.close()
    rep = write_report(db_path, tmp_path / "rep")
    ctx = laptop()
    page = ctx.new_page()
    page.goto(Path(rep["html"]).as_uri())
    m = _re.search(r"共审核病历 (\d+) 份，发现违规病例 (\d+) 份，涉及违规费用 ([\d,.]+) 万元", page.inner_text("#headline"))
    assert m, page.inner_text("#headline")
    ctx.close()
    db = connect(db_path)
    n = db.execute("SELECT COUNT(*) FROM records WHERE stage = 'scored' AND status != 'failed'").fetchone()[0]
    # The newest decision of each flag (this batch has no undo, change or appeal).
    last = """SELECT f.id, f.record_id, f.amount, r.action FROM flags f JOIN reviews r ON r.flag_id = f.id
              WHERE r.id = (SELECT MAX(id) FROM reviews WHERE flag_id = f.id AND action IN ('confirm', 'reject'))"""
    confirmed = db.execute(f"SELECT COUNT(DISTINCT record_id), SUM(amount) FROM ({last}) WHERE action = 'confirm'"
                           ).fetchone()
    assert confirmed[0] >= 2
    assert (int(m.group(1)), int(m.group(2)), m.group(3)) == (n, confirmed[0], f"{confirmed[1] / 10000:,.2f}")
    assert "尚有" in page_text(rep["html"])           # flags are still pending: the report says so


def page_text(path) -> str:
    return Path(path).read_text(encoding="utf-8")
