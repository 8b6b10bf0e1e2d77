"""Review UI in-process: auth everywhere, CSRF, roles, claims, decisions as events, undo,
escaping of OCR text, queue order/filters, export, agreement."""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from pipeline import review
from pipeline.store import connect
from review_ui import auth, create_app
from review_sample import XSS_TEXT, build

USERS = {"rev1": ("reviewer", "pw-rev1-123"), "rev2": ("reviewer", "pw-rev2-123"),
         "lead1": ("lead", "pw-lead1-123"), "admin1": ("admin", "pw-admin1-123")}


@pytest.fixture(scope="module")
def template_db(tmp_path_factory):
    d = tmp_path_factory.mktemp("tmpl")
    ids = build(d / "audit.db", distinct_images=2)
    db = connect(d / "audit.db")
    for name, (role, pw) in USERS.items():
        auth.add_user(db, name, role, pw)
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    return d, ids


@pytest.fixture
def env(template_db, tmp_path):
    src, ids = template_db
    shutil.copy(src / "audit.db", tmp_path / "audit.db")
    shutil.copytree(src / "audit.pages", tmp_path / "audit.pages")
    return tmp_path / "audit.db", ids


@pytest.fixture
def app(env):
    return create_app(env[0], secret="test-secret")


def login(app, name: str, password: str | None = None) -> TestClient:
    c = TestClient(app)
    r = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', r.text).group(1)
    r = c.post("/login", data={"username": name, "password": password or USERS[name][1], "csrf_token": token,
                               "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    c.headers["X-CSRF-Token"] = c.get("/api/me").json()["csrf_token"]
    return c


def protected_routes(app):
    for r in app.routes:
        if isinstance(r, APIRoute) and r.path != "/login":
            for m in r.methods:
                yield m, r.path.replace("{record_id}", "1").replace("{flag_id}", "1").replace("{page_id}", "1")


# -- authentication -------------------------------------------------------------------------

def test_nothing_but_login_without_session(app):
    c = TestClient(app)
    routes = list(protected_routes(app))
    assert len(routes) > 25 and ("GET", "/openapi.json") in routes
    for method, path in routes:
        r = c.request(method, path, follow_redirects=False)
        if path.startswith("/api/") or path == "/openapi.json":
            assert r.status_code == 401, (method, path)
        else:
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), (method, path)
    assert c.get("/login").status_code == 200
    assert c.get("/static/app.css").status_code == 200
    assert c.get("/docs").status_code == 404          # Swagger UI would load from a CDN


def test_login_sets_strict_httponly_cookie_and_audits(app, env):
    c = TestClient(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"username": "rev1", "password": USERS["rev1"][1], "csrf_token": token},
               follow_redirects=False)
    cookie = [h for h in r.headers.get_list("set-cookie") if h.startswith("medreview_session=")][0]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    row = connect(env[0]).execute("SELECT user, ok, reason FROM login_audit ORDER BY id DESC").fetchone()
    assert row == ("rev1", 1, "ok")
    # Session tokens are stored hashed.
    raw = cookie.split(";")[0].split("=", 1)[1]
    assert connect(env[0]).execute("SELECT COUNT(*) FROM sessions WHERE token_hash = ?", (raw,)).fetchone()[0] == 0


def test_login_form_needs_its_csrf_token(app):
    c = TestClient(app)
    c.get("/login")
    r = c.post("/login", data={"username": "rev1", "password": USERS["rev1"][1], "csrf_token": "forged"})
    assert r.status_code == 403
    assert c.get("/api/me").status_code == 401


def test_login_rate_limit_and_audit(app, env):
    c = TestClient(app)
    for i in range(auth.LOGIN_MAX_FAILURES):
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
        r = c.post("/login", data={"username": "rev1", "password": "wrong", "csrf_token": token})
        assert r.status_code == 401
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"username": "rev1", "password": USERS["rev1"][1], "csrf_token": token})
    assert r.status_code == 429                       # even the right password is refused now
    reasons = [r[0] for r in connect(env[0]).execute("SELECT reason FROM login_audit ORDER BY id")]
    assert reasons == ["bad-password"] * auth.LOGIN_MAX_FAILURES + ["rate-limited"]
    # The limit is per name/address: another user from elsewhere is unaffected.
    db = connect(env[0])
    token, _ = auth.login(db, "rev2", USERS["rev2"][1], "10.0.0.9")
    assert auth.session_user(db, token)[0]["name"] == "rev2"


def test_password_hash_is_scrypt_and_verifies(env):
    h = auth.hash_password("correct horse")
    assert h.startswith("scrypt$") and "correct" not in h
    assert auth.verify_password("correct horse", h) and not auth.verify_password("wrong", h)
    with pytest.raises(auth.AuthError):
        auth.add_user(connect(env[0]), "x", "reviewer", "short")
    with pytest.raises(auth.AuthError):
        auth.add_user(connect(env[0]), "y", "superuser", "long-enough-pw")


def test_logout_ends_session(app):
    c = login(app, "rev1")
    assert c.post("/logout", follow_redirects=False).status_code == 303
    assert c.get("/api/me").status_code == 401


def test_session_expires_when_idle(env):
    db = connect(env[0])
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    token, _ = auth.login(db, "rev1", USERS["rev1"][1], "127.0.0.1", at=t0)
    # Idle limit 30 minutes (the default), refreshed by each request.
    assert auth.session_user(db, token, at=t0 + dt.timedelta(minutes=20)) is not None
    assert auth.session_user(db, token, at=t0 + dt.timedelta(minutes=45)) is not None
    assert auth.session_user(db, token, at=t0 + dt.timedelta(minutes=80)) is None


# -- CSRF and roles ---------------------------------------------------------------------------

def test_every_state_change_needs_csrf(app):
    c = login(app, "admin1")
    good = c.headers.pop("X-CSRF-Token")
    posts = [p for m, p in protected_routes(app) if m == "POST"]
    assert len(posts) >= 12
    for path in posts:
        r = c.post(path, json={}, follow_redirects=False)
        assert r.status_code == 403, path
        r = c.post(path, data={"csrf_token": "nope"}, follow_redirects=False)
        assert r.status_code == 403, path
    # With the token the same request gets past the check (validation errors, not 403).
    r = c.post("/api/flags/1/decision", json={"action": "confirm"}, headers={"X-CSRF-Token": good})
    assert r.status_code == 200


def test_roles(app):
    rev, lead, admin = login(app, "rev1"), login(app, "lead1"), login(app, "admin1")
    for path in ("/lead", "/api/lead", "/api/export"):
        assert rev.get(path).status_code == 403
        assert lead.get(path).status_code == 200
    for path in ("/admin", "/api/users", "/api/login-audit"):
        assert lead.get(path).status_code == 403
        assert admin.get(path).status_code == 200
    r = admin.post("/api/users", json={"name": "rev3", "role": "reviewer", "password": "pw-rev3-123"})
    assert r.status_code == 200
    assert rev.post("/api/users", json={"name": "rev4", "role": "admin", "password": "pw-rev4-123"}).status_code == 403
    login(app, "rev3", "pw-rev3-123")


def test_openapi_behind_login_describes_api(app):
    c = login(app, "rev1")
    spec = c.get("/openapi.json").json()
    assert {"/api/queue", "/api/cases/{record_id}", "/api/flags/{flag_id}/decision"} <= set(spec["paths"])


# -- queue ----------------------------------------------------------------------------------

def test_queue_order_counts_coverage_filters(app, env):
    _, ids = env
    c = login(app, "rev1")
    q = c.get("/api/queue").json()
    order = [i["id"] for i in q["items"]]
    # Newest model version decides: record 1 (0.91 new / 0.61 old) before record 3 (0.72).
    assert order == [ids["ZY2026001"]["record_id"], ids["ZY2026003"]["record_id"], ids["ZY2026002"]["record_id"]]
    assert q["items"][0]["probability"] == pytest.approx(0.91)
    assert q["counts"] == {"pending": 3, "confirmed": 0, "rejected": 0}
    assert q["coverage"] == {"records": 4, "scored": 4, "flagged": 3, "rate": 1.0}
    assert [i["id"] for i in c.get("/api/queue?hospital=H002").json()["items"]] == [ids["ZY2026003"]["record_id"]]
    assert len(c.get("/api/queue?rule=R-ABX-01").json()["items"]) == 2
    assert [i["admission_no"] for i in c.get("/api/queue?date_from=2026-04-01&date_to=2026-04-30").json()["items"]] == ["ZY2026002"]
    assert c.get("/api/queue?status=bogus").status_code == 400
    html = c.get("/").text
    assert "覆盖率" in html and "100.0%" in html


# -- claims -----------------------------------------------------------------------------------

def test_two_reviewers_never_get_the_same_case(app, env):
    a, b = login(app, "rev1"), login(app, "rev2")
    ra = a.post("/api/next", json={}).json()["record_id"]
    rb = b.post("/api/next", json={}).json()["record_id"]
    assert ra is not None and rb is not None and ra != rb
    assert b.post(f"/api/cases/{ra}/claim").status_code == 409
    flag = next(f["id"] for f in a.get(f"/api/cases/{ra}").json()["flags"])
    r = b.post(f"/api/flags/{flag}/decision", json={"action": "confirm"})
    assert r.status_code == 409 and "rev1" in r.json()["error"]
    assert "当前只读" in b.get(f"/cases/{ra}").text


def test_claim_expires_after_timeout(env):
    db = connect(env[0])
    rid = env[1]["ZY2026001"]["record_id"]
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    review.lock(db, rid, "rev1", ttl=600, at=t0)
    with pytest.raises(review.LockConflict):
        review.lock(db, rid, "rev2", ttl=600, at=t0 + dt.timedelta(seconds=599))
    assert review.lock_next(db, "rev2", at=t0 + dt.timedelta(seconds=10)) != rid
    review.lock(db, rid, "rev2", ttl=600, at=t0 + dt.timedelta(seconds=601))
    assert review.lock_holder(db, rid, at=t0 + dt.timedelta(seconds=602)) == "rev2"


# -- decisions, events, undo --------------------------------------------------------------------

def _events(db_path):
    return [dict(zip(("id", "flag_id", "user", "action", "payload"), r)) for r in
            connect(db_path).execute("SELECT id, flag_id, user, action, payload FROM reviews ORDER BY id")]


def test_decisions_are_events_and_undo(app, env):
    db_path, ids = env
    c = login(app, "rev1")
    rid = ids["ZY2026001"]["record_id"]
    f1, f2 = [f["id"] for f in c.get(f"/api/cases/{rid}").json()["flags"]]
    assert c.post(f"/api/flags/{f1}/decision", json={"action": "confirm", "ms_spent": 4200}).status_code == 200
    assert c.post(f"/api/flags/{f2}/decision", json={"action": "reject"}).status_code == 400   # reason code needed
    assert c.post(f"/api/flags/{f2}/decision", json={"action": "reject", "reason_code": "nope"}).status_code == 400
    assert c.post(f"/api/flags/{f2}/decision", json={"action": "reject", "reason_code": "other"}).status_code == 400
    assert c.post(f"/api/flags/{f2}/decision", json={"action": "reject", "reason_code": "charge_correct",
                                                     "note": "医嘱有心电监护"}).status_code == 200
    case = c.get(f"/api/cases/{rid}").json()
    assert [f["state"] for f in case["flags"]] == ["confirmed", "rejected"]
    assert case["flags"][1]["reason_code"] == "charge_correct"
    ev = _events(db_path)
    assert [e["action"] for e in ev] == ["confirm", "reject"]
    p = json.loads(ev[0]["payload"])
    assert p["ms_spent"] == 4200 and p["shown"] == {"rule_id": "R-ABX-01", "catalogue_version": "cat-2026.1",
                                                    "model_version": "clf-new", "score_model_version": "clf-new"}
    # Undo cancels the latest decision only; the log only grows.
    r = c.post(f"/api/cases/{rid}/undo").json()
    assert r["payload"]["target"] == ev[1]["id"]
    assert [f["state"] for f in c.get(f"/api/cases/{rid}").json()["flags"]] == ["confirmed", "pending"]
    c.post(f"/api/cases/{rid}/undo")
    assert [f["state"] for f in c.get(f"/api/cases/{rid}").json()["flags"]] == ["pending", "pending"]
    assert c.post(f"/api/cases/{rid}/undo").status_code == 400        # nothing left to undo
    assert [e["action"] for e in _events(db_path)] == ["confirm", "reject", "undo", "undo"]


def test_a_case_address_that_is_not_a_number_gets_the_error_page(app):
    c = login(app, "rev1")
    r = c.get("/cases/abc")
    assert r.status_code == 404 and "找不到该页面" in r.text and "回到审核队列" in r.text
    assert "path.record_id" not in r.text
    assert c.get("/api/cases/abc").status_code == 422                 # the API keeps its field names


def test_change_amount_then_export(app, env):
    _, ids = env
    c = login(app, "rev1")
    rid = ids["ZY2026003"]["record_id"]
    fid = c.get(f"/api/cases/{rid}").json()["flags"][0]["id"]
    assert c.post(f"/api/flags/{fid}/decision", json={"action": "change"}).status_code == 400
    assert c.post(f"/api/flags/{fid}/decision", json={"action": "change", "amount": -5}).status_code == 400
    # A rule the catalogue does not have is refused: it would reach the export and the report nameless.
    r = c.post(f"/api/flags/{fid}/decision", json={"action": "change", "amount": 120.5, "rule_id": "NOT-A-RULE"})
    assert r.status_code == 400 and "规则目录" in r.json()["error"]
    rule = "CL-LOW-STANDARD-ADMISSION"
    assert c.post(f"/api/flags/{fid}/decision", json={"action": "change", "amount": 120.5, "rule_id": rule}).status_code == 200
    lead = login(app, "lead1")
    rows = lead.get("/api/export").json()
    assert [(r["flag_id"], r["amount"], r["rule_id"], r["rule_name"], r["confirmed_by"]) for r in rows] == [
        (fid, 120.5, rule, "低标准入院", "rev1")]
    assert "规则改为 低标准入院" in rows[0]["reason"] and "金额改定为 120.50 元" in rows[0]["reason"]
    csv_text = lead.get("/api/export?format=csv").text
    assert csv_text.startswith("\ufeffhospital_id,admission_no") and rule in csv_text and "NOT-A-RULE" not in csv_text
    assert c.get("/api/queue").json()["counts"]["confirmed"] == 1


def test_add_missed_flag_and_undo_withdraws_it(app, env):
    _, ids = env
    c = login(app, "rev1")
    rid = ids["ZY2026002"]["record_id"]
    line = ids["ZY2026002"]["line_ids"][(1, 4)]
    other = ids["ZY2026003"]["line_ids"][(1, 4)]
    charge = ids["ZY2026002"]["charge_ids"][5]
    body = {"rule_id": "CH-IDENTICAL-LINES", "line_ids": [line], "charge_ids": [charge]}
    assert c.post(f"/api/cases/{rid}/flags", json={**body, "line_ids": [other]}).status_code == 400
    assert c.post(f"/api/cases/{rid}/flags", json={"rule_id": "CH-IDENTICAL-LINES"}).status_code == 400
    assert c.post(f"/api/cases/{rid}/flags", json={**body, "rule_id": "NOT-A-RULE"}).status_code == 400
    r = c.post(f"/api/cases/{rid}/flags", json=body).json()
    flags = c.get(f"/api/cases/{rid}").json()["flags"]
    added = next(f for f in flags if f["id"] == r["flag_id"])
    assert added["source"] == "reviewer" and added["state"] == "confirmed" and added["amount"] == 35.5
    assert added["rule_name"] == "重复收费(重复计费明细)"        # named by the catalogue
    assert added["evidence"][0]["line_id"] == line and added["evidence"][0]["bbox"]
    c.post(f"/api/cases/{rid}/undo")
    assert r["flag_id"] not in [f["id"] for f in c.get(f"/api/cases/{rid}").json()["flags"]]


def test_html_keyboard_flow_advances_queue(app, env):
    _, ids = env
    c = login(app, "rev1")
    csrf = c.headers["X-CSRF-Token"]
    r = c.post("/next", data={"csrf_token": csrf}, follow_redirects=False)
    rid = ids["ZY2026001"]["record_id"]
    assert r.headers["location"] == f"/cases/{rid}"
    f1, f2 = [f["id"] for f in c.get(f"/api/cases/{rid}").json()["flags"]]
    r = c.post(f"/cases/{rid}/flags/{f1}/decide", data={"csrf_token": csrf, "action": "confirm"}, follow_redirects=False)
    assert r.headers["location"] == f"/cases/{rid}?flag={f2}"
    r = c.post(f"/cases/{rid}/flags/{f2}/decide", data={"csrf_token": csrf, "action": "reject",
               "reason_code": "indication_documented"}, follow_redirects=False)
    assert r.headers["location"] == f"/cases/{ids['ZY2026003']['record_id']}"   # next riskiest case
    # Skip moves on without deciding.
    r3 = ids["ZY2026003"]["record_id"]
    f3 = c.get(f"/api/cases/{r3}").json()["flags"][0]["id"]
    r = c.post(f"/cases/{r3}/flags/{f3}/decide", data={"csrf_token": csrf, "action": "skip"}, follow_redirects=False)
    assert r.headers["location"] == f"/cases/{ids['ZY2026002']['record_id']}"
    assert c.get(f"/api/cases/{r3}").json()["flags"][0]["state"] == "pending"


# -- display and escaping -------------------------------------------------------------------------

def test_case_view_escapes_ocr_text_and_draws_boxes(app, env):
    _, ids = env
    c = login(app, "rev1")
    rid = ids["ZY2026001"]["record_id"]
    html = c.get(f"/cases/{rid}").text
    assert XSS_TEXT not in html and "<script>window.__xss" not in html
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html
    assert 'class="box current"' in html and "<mark>" in html
    assert "script-src 'self'" in c.get(f"/cases/{rid}").headers["content-security-policy"]
    case = c.get(f"/api/cases/{rid}").json()
    assert case["page"]["page_no"] == 3 and len(case["pages"]) == 60
    assert [p["page_no"] for p in case["pages"] if p["evidence"]] == [3, 45]
    box = case["boxes"][0]
    assert 0 < box["left"] < 100 and 0 < box["top"] < 100 and box["current"]
    ents = {e["text"]: e for e in case["entities"]}
    assert ents["发热"]["negated"] == 1 and ents["肺结核"]["uncertain"] == 1
    assert case["score"]["top"][0]["feature"] == "抗菌药物使用天数"
    assert sum(ch["current"] for ch in case["charges"]) == 3
    # Page 45 through the page parameter shows the second flag's box.
    case45 = c.get(f"/api/cases/{rid}?page_no=45").json()
    assert case45["page"]["page_no"] == 45 and len(case45["boxes"]) == 1 and not case45["boxes"][0]["current"]


def test_page_image_only_by_id(app, env):
    _, ids = env
    c = login(app, "rev1")
    pid = ids["ZY2026001"]["page_ids"][3]
    r = c.get(f"/pages/{pid}/image.png?w=600")
    assert r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image
    import io
    assert Image.open(io.BytesIO(r.content)).width == 600
    assert c.get("/pages/999999/image.png").status_code == 404
    assert c.get("/pages/..%2f..%2fetc%2fpasswd/image.png").status_code in (404, 422)


def test_agreement_and_second_review(env):
    db = connect(env[0])
    rid = env[1]["ZY2026001"]["record_id"]
    f1, f2 = [f["id"] for f in review.case_view(db, rid)["flags"]]
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    review.decide(db, "rev1", f1, "confirm", at=t0)
    review.decide(db, "rev1", f2, "confirm", at=t0)
    assert [x["flag_id"] for x in review.second_review_sample(db, rate=1.0)] == [f1, f2]
    assert review.second_review_sample(db, rate=0.0) == []
    half = {x["flag_id"] for x in review.second_review_sample(db, rate=0.5)}
    assert half == {x["flag_id"] for x in review.second_review_sample(db, rate=0.5)}   # stable
    later = t0 + dt.timedelta(seconds=review.LOCK_TTL_S + 1)
    ev = review.decide(db, "lead1", f1, "confirm", at=later)
    assert ev["payload"]["round"] == 2
    review.decide(db, "lead1", f2, "reject", reason_code="rule_not_applicable", at=later)
    a = review.agreement(db)
    assert a["rate"] == 0.5 and a["pairs_compared"] == 2
    assert [d["flag_id"] for d in a["disagreements"]] == [f2]
    assert a["disagreements"][0]["state"] == "rejected"       # the later (second) review prevails
    assert review.second_review_sample(db, rate=1.0) == []    # both flags now have two reviewers



def test_legal_basis_comes_from_rule_catalogue(app, env):
    cat = review.rule_catalogue()
    if cat is None or not cat.rules:
        pytest.skip("rule catalogue (pipeline.rules) not loadable yet")
    rule = cat.rules[0]
    db = connect(env[0])
    rid = env[1]["ZY2026002"]["record_id"]
    db.execute("UPDATE flags SET rule_id = ? WHERE record_id = ?", (rule.id, rid))
    c = login(app, "rev1")
    flag = c.get(f"/api/cases/{rid}").json()["flags"][0]
    assert flag["legal_basis"] == rule.legal_basis and rule.legal_basis


def test_queue_html_pages_through_large_batches(app, env, monkeypatch):
    import review_ui.routes.queue as queue_routes

    monkeypatch.setattr(queue_routes, "QUEUE_PAGE", 2)
    c = login(app, "rev1")
    first = c.get("/").text
    second = c.get("/?p=2").text
    assert first.count('data-record="') == 2 and second.count('data-record="') == 1
    assert "第 1 / 2 页" in first and 'href="/?p=2"' in first


def test_lead_second_review_returns_to_lead_view(app, env):
    _, ids = env
    rid = ids["ZY2026003"]["record_id"]
    rev = login(app, "rev1")
    fid = rev.get(f"/api/cases/{rid}").json()["flags"][0]["id"]
    rev.post(f"/api/flags/{fid}/decision", json={"action": "confirm"})
    rev.post(f"/api/cases/{rid}/release")
    lead = login(app, "lead1")
    r = lead.post(f"/cases/{rid}/flags/{fid}/decide", data={"csrf_token": lead.headers["X-CSRF-Token"],
                  "action": "reject", "reason_code": "rule_not_applicable"}, follow_redirects=False)
    assert r.headers["location"] == "/lead"
    d = lead.get("/api/lead").json()
    assert d["agreement"]["rate"] == 0.0 and d["agreement"]["disagreements"][0]["flag_id"] == fid
    assert "分歧" in lead.get("/lead").text


def test_cli_users_add_and_list(env):
    from typer.testing import CliRunner

    from cli import app as cli_app

    runner = CliRunner()
    r = runner.invoke(cli_app, ["users", "add", "auditor9", "--role", "lead", "--password-stdin", "--db", str(env[0])],
                      input="long-password-9\n")
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli_app, ["users", "add", "auditor9", "--role", "lead", "--password-stdin", "--db", str(env[0])],
                      input="long-password-9\n")
    assert r.exit_code == 2                            # duplicate name
    r = runner.invoke(cli_app, ["users", "list", "--db", str(env[0])])
    assert "auditor9\tlead" in r.output
    db = connect(env[0])
    token, _ = auth.login(db, "auditor9", "long-password-9", None)
    assert auth.session_user(db, token)[0]["role"] == "lead"
