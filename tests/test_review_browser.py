"""The review UI in real headless Chromium: log in, open the top case, see the evidence box,
confirm with the keyboard, watch the queue advance. Skips when chromium or Playwright is absent."""
from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python not installed")
if not Path(CHROMIUM).exists():
    pytest.skip("Debian chromium not installed (/usr/bin/chromium)", allow_module_level=True)

import uvicorn  # noqa: E402
from playwright.sync_api import expect  # noqa: E402

from pipeline.store import connect, insert_one, transaction  # noqa: E402
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    port = _free_port()
    config = uvicorn.Config(create_app(db_path), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started:
        if time.time() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", ids
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def page():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        ctx = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
        pg = ctx.new_page()
        yield pg
        browser.close()


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
    assert int(page.inner_text("#count-pending")) == pending_before - 1
    assert int(page.inner_text("#count-confirmed")) == confirmed_before + 1
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
    page.fill("#addform input[name=rule_id]", "R-TEST-01")
    page.click("#addform button[type=submit]")
    expect(page.locator(".flaglist")).to_contain_text("R-TEST-01")


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
