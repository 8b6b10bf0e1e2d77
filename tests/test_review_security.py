"""Review UI under hostile input and careless use: numbers at the boundary, ids past SQLite's
range, Unicode digits and lone surrogates, request size, a bad stored row, generic errors,
login throttling under concurrency, trusted proxies, session settings, password hashing,
masked exports, idempotent decisions and undo, lock release and account management."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import secrets
import shutil
import threading

import pytest
from fastapi.testclient import TestClient

from pipeline import review
from pipeline.report import mask
from pipeline.store import connect, insert_one, transaction
from review_ui import accounts, auth, create_app, passwords
from review_sample import build

USERS = {"rev1": ("reviewer", "pw-rev1-123"), "rev2": ("reviewer", "pw-rev2-123"),
         "lead1": ("lead", "pw-lead1-123"), "admin1": ("admin", "pw-admin1-123")}
BIG = 2**63


@pytest.fixture(scope="module")
def template_db(tmp_path_factory):
    d = tmp_path_factory.mktemp("sec")
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


def login_token(c: TestClient) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)


def login(app, name: str, password: str | None = None, **kw) -> TestClient:
    c = TestClient(app, raise_server_exceptions=False, **kw)
    r = c.post("/login", data={"username": name, "password": password or USERS[name][1],
                               "csrf_token": login_token(c), "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    c.headers["X-CSRF-Token"] = c.get("/api/me").json()["csrf_token"]
    return c


def n_events(db_path) -> int:
    return connect(db_path).execute("SELECT COUNT(*) FROM reviews").fetchone()[0]


def first_flag(c, rid) -> int:
    return c.get(f"/api/cases/{rid}").json()["flags"][0]["id"]


# -- 1. numbers at the boundary ----------------------------------------------------------------

def test_non_finite_amounts_are_refused_everywhere(app, env):
    db_path, ids = env
    c = login(app, "rev1")
    rid = ids["ZY2026003"]["record_id"]
    fid = first_flag(c, rid)
    for amount in ("inf", "-inf", "nan", "1e309", "NaN", "²", "1e5", "12,5", "--5", "-5", "１２"):
        r = c.post(f"/cases/{rid}/flags/{fid}/decide", data={"csrf_token": c.headers["X-CSRF-Token"],
                   "action": "change", "amount": amount}, follow_redirects=False)
        assert r.status_code == 400, amount
    for raw in ('{"action": "change", "amount": 1e309}', '{"action": "change", "amount": NaN}',
                '{"action": "change", "amount": Infinity}', '{"action": "change", "amount": -Infinity}'):
        r = c.post(f"/api/flags/{fid}/decision", content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and "amount" in r.json()["error"], raw
    line = ids["ZY2026003"]["line_ids"][(1, 4)]
    r = c.post(f"/api/cases/{rid}/flags", content='{"rule_id": "R-X", "line_ids": [%d], "amount": NaN}' % line,
               headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert c.post(f"/api/flags/{fid}/decision", json={"action": "change", "amount": 2e10}).status_code == 400
    assert n_events(db_path) == 0
    lead = login(app, "lead1")
    for path in ("/api/queue", f"/api/cases/{rid}", "/api/export", "/api/export?format=csv", "/api/lead"):
        assert lead.get(path).status_code == 200, path
    assert c.get("/api/lead?sample_rate=nan").status_code == 403          # a reviewer
    assert lead.get("/api/lead?sample_rate=nan").status_code == 422
    assert lead.get("/api/lead?sample_rate=inf").status_code == 422


def test_library_refuses_what_cannot_be_stored(env):
    db = connect(env[0])
    fid = review.case_view(db, env[1]["ZY2026003"]["record_id"])["flags"][0]["id"]
    for bad in (float("inf"), float("nan"), -1, "inf", True):
        with pytest.raises(review.ReviewError):
            review.decide(db, "rev1", fid, "change", amount=bad)
    with pytest.raises(review.ReviewError):
        review.decide(db, "rev1", BIG, "confirm")
    with pytest.raises(review.ReviewError):
        review.lock(db, BIG, "rev1")
    with pytest.raises(review.ReviewError):
        review.decide(db, "rev1", fid, "confirm", note="a\ud800b")
    ev = review.decide(db, "rev1", fid, "confirm", note="  備注\x00\x07 ok  ", ms_spent="²")
    assert ev["payload"]["note"] == "備注 ok" and "ms_spent" not in ev["payload"]


# -- 2./3. ids past 2^63, Unicode digits, lone surrogates -----------------------------------------

def test_huge_ids_unicode_digits_and_surrogates_answer_4xx(app, env):
    db_path, ids = env
    c = login(app, "rev1")
    csrf = c.headers["X-CSRF-Token"]
    rid = ids["ZY2026002"]["record_id"]
    fid = first_flag(c, rid)
    for path in (f"/api/cases/{BIG}", f"/api/cases/{BIG}/entities", f"/cases/{BIG}", f"/pages/{BIG}/image.png",
                 f"/api/cases/{rid}?flag={BIG}", f"/api/cases/{rid}?page_no=²", "/api/cases/²", "/pages/１/image.png",
                 f"/pages/1/image.png?w={BIG}", "/api/cases/-1", "/api/cases/0"):
        # A browser page whose address names no valid id is not found (the app's error page).
        want = 404 if path.startswith(("/cases/", "/pages/")) and "?" not in path else 422
        assert c.get(path).status_code == want, path
    for path in (f"/api/cases/{BIG}/claim", f"/api/cases/{BIG}/undo", f"/api/flags/{BIG}/decision"):
        assert c.post(path, json={"action": "confirm"}).status_code == 422, path
    assert c.post(f"/api/cases/{rid}/flags", json={"rule_id": "R-X", "line_ids": [BIG]}).status_code == 422
    assert c.post(f"/api/cases/{rid}/flags", json={"rule_id": "R-X", "line_ids": ["²"]}).status_code == 422
    assert c.post("/api/next", json={"after": BIG}).status_code == 422
    # Forms: ASCII digits only, bounded.
    r = c.post(f"/cases/{rid}/add", data={"csrf_token": csrf, "rule_id": "R-X", "line_ids": "²"})
    assert r.status_code == 400
    r = c.post(f"/cases/{rid}/add", data={"csrf_token": csrf, "rule_id": "R-X", "line_ids": str(BIG)})
    assert r.status_code == 400
    r = c.post(f"/cases/{rid}/entities", data={"csrf_token": csrf, "action": "add", "line_id": "²", "start": "1",
                                               "end": "2", "label": "SYMPTOM"})
    assert r.status_code == 400
    r = c.post("/next", data={"csrf_token": csrf, "after": "²"})
    assert r.status_code == 400
    # A measured time that is not a number is dropped, not a crash.
    r = c.post(f"/cases/{rid}/flags/{fid}/decide", data={"csrf_token": csrf, "action": "confirm", "ms_spent": "²"},
               follow_redirects=False)
    assert r.status_code == 303
    # Lone surrogates in JSON text: refused with the field named, nothing stored.
    before = n_events(db_path)
    for body in ('{"action": "reject", "reason_code": "other", "note": "a\\ud800b"}',
                 '{"action": "change", "rule_id": "R-\\udfff"}'):
        r = c.post(f"/api/flags/{fid}/decision", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and ("note" in r.json()["error"] or "rule_id" in r.json()["error"])
    r = c.post(f"/api/cases/{rid}/entities", content='{"action": "add", "label": "SYM\\ud800"}',
               headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert n_events(db_path) == before


# -- 4. request size ---------------------------------------------------------------------------------

def test_request_size_is_limited(app, env):
    c = login(app, "rev1")
    fid = first_flag(c, env[1]["ZY2026002"]["record_id"])
    big = json.dumps({"action": "reject", "reason_code": "other", "note": "x" * (30 * 1024 * 1024)})
    r = c.post(f"/api/flags/{fid}/decision", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]

    def chunks():             # no Content-Length: the limit holds while the body streams in
        for _ in range(64):
            yield b"x" * 65536
    r = c.post(f"/api/flags/{fid}/decision", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    r = c.post("/login", content=b"a" * (1024 * 1024), headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413
    assert n_events(env[0]) == 0


# -- 11. a bad row, an unexpected error -------------------------------------------------------------

def test_one_bad_row_does_not_take_the_queue_down(app, env):
    db_path, ids = env
    db = connect(db_path)
    good, bad = ids["ZY2026001"]["record_id"], ids["ZY2026002"]["record_id"]
    bad_flag = review.case_view(db, bad)["flags"][0]["id"]
    with transaction(db):
        db.execute("UPDATE flags SET amount = ?, score = 'high', evidence = ? WHERE id = ?",
                   (float("inf"), '[{"page_no": "x", "bbox": [1, "a", null, 3]}, 7, {"line_id": 1e400}]', bad_flag))
        db.execute("UPDATE scores SET probability = 'NaN?' WHERE record_id = ?", (bad,))
        db.execute("UPDATE records SET department = CAST(x'ff00fe' AS TEXT) WHERE id = ?", (bad,))
        for payload in ('{"amount": Infinity, "rule_id": "R-X", "round": 1}', "[1, 2]", "not json", '"x"'):
            insert_one(db, "reviews", {"flag_id": bad_flag, "record_id": bad, "user": "rev9", "action": "change",
                                       "payload": payload, "at": "2026-01-01T00:00:00+00:00"})
        insert_one(db, "reviews", {"flag_id": bad_flag, "record_id": bad, "user": "rev9", "action": "undo",
                                   "payload": '{"target": "zz", "also": 5}', "at": "2026-01-01T00:00:01+00:00"})
    lead = login(app, "lead1")
    q = lead.get("/api/queue")
    assert q.status_code == 200
    items = {i["id"]: i for i in q.json()["items"]}
    assert good in items and items[good]["amount"] == pytest.approx(177.5)
    assert bad in items and items[bad]["probability"] is None
    assert lead.get("/").status_code == 200
    for path in (f"/api/cases/{bad}", f"/cases/{bad}", f"/api/cases/{good}", "/api/export", "/api/export?format=csv",
                 "/api/lead", "/lead"):
        assert lead.get(path).status_code == 200, path
    case = lead.get(f"/api/cases/{bad}").json()
    assert case["flags"][0]["amount"] is None
    assert lead.get("/api/export").json()[0]["record_id"] == bad          # the changed decision counts


def test_unexpected_error_is_generic_and_logs_no_patient_data(app, env, monkeypatch, caplog):
    def boom(*a, **kw):
        raise ValueError("患者张三丰 身份证 110101199001011234")
    monkeypatch.setattr(review, "queue", boom)
    c = login(app, "rev1")
    with caplog.at_level(logging.ERROR):
        r = c.get("/api/queue")
        page = c.get("/")
    assert r.status_code == 500 and "错误编号" in r.json()["error"] and "张三丰" not in r.text
    assert page.status_code == 500 and "张三丰" not in page.text
    assert page.headers["content-security-policy"]
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "ValueError" in logged and "/api/queue" in logged
    assert "张三丰" not in logged and "110101199001011234" not in logged
    # Other routes still work.
    assert c.get(f"/api/cases/{env[1]['ZY2026001']['record_id']}").status_code == 200


# -- 5. login throttling ----------------------------------------------------------------------------

def test_parallel_guesses_get_no_more_checks_than_the_limit(env, monkeypatch):
    db_path = env[0]
    checks = []
    real = passwords.verify_password

    def counted(pw, stored):
        checks.append(1)
        return real(pw, stored)
    monkeypatch.setattr(auth, "verify_password", counted)
    results = []

    def guess(i):
        db = connect(db_path, migrate=False)
        try:
            auth.login(db, "rev1", f"wrong-{i}", "10.0.0.1")
        except auth.RateLimited:
            results.append("limited")
        except auth.AuthError:
            results.append("bad")
    threads = [threading.Thread(target=guess, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(checks) == auth.LOGIN_MAX_FAILURES
    assert sorted(results) == ["bad"] * 5 + ["limited"] * 25
    reasons = [r[0] for r in connect(db_path).execute("SELECT reason FROM login_audit WHERE user = 'rev1'")]
    assert reasons.count("bad-password") == 5 and "checking" not in reasons


def test_throttle_locks_the_account_not_the_address(app, env):
    db = connect(env[0])
    for i in range(auth.LOGIN_MAX_FAILURES):
        with pytest.raises(auth.AuthError):
            auth.login(db, "rev1", "wrong", "10.0.0.1")
    with pytest.raises(auth.RateLimited):
        auth.login(db, "rev1", USERS["rev1"][1], "10.0.0.1")
    # Everyone else behind the same address (a proxy, an office) logs in as before.
    for name in ("rev2", "lead1", "admin1"):
        token, _ = auth.login(db, name, USERS[name][1], "10.0.0.1")
        assert auth.session_user(db, token)[0]["name"] == name
    # The lock ends with the window.
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=auth.LOGIN_WINDOW_S + 1)
    auth.login(db, "rev1", USERS["rev1"][1], "10.0.0.1", at=later)


def test_forwarded_for_only_from_configured_proxies(env):
    def audited_ip(app, forwarded):
        c = TestClient(app)
        token = login_token(c)
        c.post("/login", data={"username": "rev2", "password": "nope-nope", "csrf_token": token},
               headers={"X-Forwarded-For": forwarded})
        return connect(env[0]).execute("SELECT ip FROM login_audit ORDER BY id DESC").fetchone()[0]
    # Default: no proxy is trusted; the connecting address is the client, whatever the header says.
    assert audited_ip(create_app(env[0], secret="s"), "203.0.113.7") == "testclient"
    # A configured proxy's header is believed.
    assert audited_ip(create_app(env[0], secret="s", forwarded_allow_ips=["testclient"]), "203.0.113.7") == "203.0.113.7"
    # The served app never lets uvicorn trust 127.0.0.1 behind our back.
    from pipeline.commands.review import parse_proxies, server_config
    assert server_config(create_app(env[0]), "127.0.0.1", 8765).proxy_headers is False
    assert parse_proxies("10.0.0.0/8, 192.168.1.5") == ["10.0.0.0/8", "192.168.1.5"]
    with pytest.raises(ValueError):
        parse_proxies("10.0.0.300")


# -- 6. sessions ----------------------------------------------------------------------------------

def test_https_cookies_and_idle_timeout_are_configurable(env, monkeypatch):
    app = create_app(env[0], secret="s", cookie_secure=True, idle_timeout=120, session_max=3600)
    c = TestClient(app, base_url="https://testserver")
    assert "Secure" in c.get("/login").headers["set-cookie"]
    r = c.post("/login", data={"username": "rev1", "password": USERS["rev1"][1], "csrf_token": login_token(c)},
               follow_redirects=False)
    cookie = [h for h in r.headers.get_list("set-cookie") if h.startswith("medreview_session=")][0]
    assert "Secure" in cookie and "Max-Age=3600" in cookie
    assert "max-age" in r.headers["strict-transport-security"]
    db = connect(env[0])
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    token, _ = auth.login(db, "rev2", USERS["rev2"][1], None, at=t0)
    assert auth.session_user(db, token, at=t0 + dt.timedelta(seconds=100), idle_s=120) is not None
    assert auth.session_user(db, token, at=t0 + dt.timedelta(seconds=300), idle_s=120) is None
    assert auth.SESSION_IDLE_S == 30 * 60 and auth.SESSION_MAX_S == 12 * 3600
    # The command passes its options through.
    import uvicorn
    from typer.testing import CliRunner

    from cli import app as cli_app
    seen = {}
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: seen.update(
        settings=self.config.app.state.settings, proxy=self.config.proxy_headers))
    r = CliRunner().invoke(cli_app, ["review", "--db", str(env[0]), "--https-cookies", "--idle-timeout", "10",
                                     "--forwarded-allow-ips", "10.0.0.1"])
    assert r.exit_code == 0, r.output
    assert seen["settings"].cookie_secure and seen["settings"].session_idle_s == 600 and seen["proxy"] is False
    assert CliRunner().invoke(cli_app, ["review", "--db", str(env[0]), "--forwarded-allow-ips", "x"]).exit_code == 2


# -- 7. password hashing --------------------------------------------------------------------------

def test_scrypt_at_owasp_parameters_and_rehash_on_login(env):
    h = auth.hash_password("correct horse")
    assert h.startswith("scrypt$131072$8$1$")
    db = connect(env[0])
    salt = secrets.token_bytes(16)
    old = f"scrypt$16384$8$1${salt.hex()}${hashlib.scrypt(b'old-password-1', salt=salt, n=2**14, r=8, p=1, dklen=32).hex()}"
    db.execute("UPDATE users SET password_hash = ? WHERE name = 'rev2'", (old,))
    assert passwords.needs_rehash(old) and not passwords.needs_rehash(h)
    auth.login(db, "rev2", "old-password-1", None)
    new = db.execute("SELECT password_hash FROM users WHERE name = 'rev2'").fetchone()[0]
    assert new.startswith("scrypt$131072$8$1$") and new != old
    auth.login(db, "rev2", "old-password-1", None)         # still the same password
    assert not passwords.verify_password("x", "scrypt$1099511627776$8$1$00$00")   # absurd cost: refused


# -- 8. masked exports --------------------------------------------------------------------------

def test_exports_mask_free_text_unless_asked_and_audited(app, env):
    db_path, ids = env
    rid = ids["ZY2026003"]["record_id"]
    db = connect(db_path)
    with transaction(db):
        insert_one(db, "fields", {"record_id": rid, "name": "patient_name", "seq": 0, "value": "王小明"})
    c = login(app, "rev1")
    fid = first_flag(c, rid)
    note = "王小明家属（电话 13812345678）称身份证 110101199001011234 有误；联系人：李大伟"
    assert c.post(f"/api/flags/{fid}/decision", json={"action": "confirm", "note": note}).status_code == 200
    lead = login(app, "lead1")
    rows = lead.get("/api/export").json()
    text = json.dumps(rows, ensure_ascii=False) + lead.get("/api/export?format=csv").text
    for secret in ("王小明", "13812345678", "110101199001011234", "李大伟"):
        assert secret not in text, secret
    assert "王**" in text and "138****5678" in text and "110101********1234" in text
    assert connect(db_path).execute("SELECT COUNT(*) FROM audit_log WHERE action = 'export-unmasked'").fetchone()[0] == 0
    raw = lead.get("/api/export?format=csv&unmasked=true").text
    assert "王小明" in raw and "13812345678" in raw
    row = connect(db_path).execute("SELECT actor, detail FROM audit_log WHERE action = 'export-unmasked'").fetchone()
    assert row[0] == "lead1" and json.loads(row[1])["format"] == "csv"
    assert mask.mask_text("手机：139 1234 5678") == "手机：139 **** 5678"


# -- 9. idempotent decisions, undo --------------------------------------------------------------

def test_concurrent_confirms_and_resubmits_leave_one_event_and_undo_restores(app, env):
    db_path, ids = env
    c = login(app, "rev1")
    rid = ids["ZY2026003"]["record_id"]
    fid = first_flag(c, rid)
    statuses = []

    def confirm():
        own = TestClient(app, raise_server_exceptions=False, cookies=dict(c.cookies), headers=dict(c.headers))
        statuses.append(own.post(f"/api/flags/{fid}/decision", json={"action": "confirm"}).status_code)
    threads = [threading.Thread(target=confirm) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 5
    for _ in range(2):                                     # the browser re-submits the form
        r = c.post(f"/cases/{rid}/flags/{fid}/decide", data={"csrf_token": c.headers["X-CSRF-Token"],
                   "action": "confirm"}, follow_redirects=False)
        assert r.status_code == 303
    assert n_events(db_path) == 1
    case = c.get(f"/api/cases/{rid}").json()
    assert case["flags"][0]["state"] == "confirmed"
    target = case["undo_target"]
    r = c.post(f"/cases/{rid}/undo", data={"csrf_token": c.headers["X-CSRF-Token"], "expect": str(target)},
               follow_redirects=False)
    assert r.status_code == 303
    assert c.get(f"/api/cases/{rid}").json()["flags"][0]["state"] == "pending"
    # A re-submitted undo cancels nothing more.
    c.post(f"/api/flags/{fid}/decision", json={"action": "reject", "reason_code": "rule_not_applicable"})
    c.post(f"/api/flags/{fid}/decision", json={"action": "confirm"})
    again = c.post(f"/api/cases/{rid}/undo", json={"expect": target})
    assert again.status_code == 200 and again.json()["repeat"]
    assert c.get(f"/api/cases/{rid}").json()["flags"][0]["state"] == "confirmed"
    # Undo without a target undoes the latest, restoring the reject before it.
    c.post(f"/api/cases/{rid}/undo")
    assert c.get(f"/api/cases/{rid}").json()["flags"][0]["state"] == "rejected"


def test_undo_cancels_legacy_duplicates_together(env):
    db_path, ids = env
    db = connect(db_path)
    rid = ids["ZY2026003"]["record_id"]
    fid = review.case_view(db, rid)["flags"][0]["id"]
    review.decide(db, "rev1", fid, "reject", reason_code="rule_not_applicable")
    with transaction(db):                  # what the old code wrote for repeated confirms
        for _ in range(3):
            insert_one(db, "reviews", {"flag_id": fid, "record_id": rid, "user": "rev1", "action": "confirm",
                                       "payload": '{"round": 1}', "at": "2026-01-01T00:00:00+00:00"})
    review.undo_last(db, "rev1", rid)
    st = review.case_view(db, rid)["flags"][0]
    assert st["state"] == "rejected"


def test_added_flag_is_not_added_twice(app, env):
    db_path, ids = env
    c = login(app, "rev1")
    rid = ids["ZY2026002"]["record_id"]
    line = ids["ZY2026002"]["line_ids"][(1, 4)]
    body = {"rule_id": "CH-IDENTICAL-LINES", "line_ids": [line]}
    a, b = c.post(f"/api/cases/{rid}/flags", json=body).json(), c.post(f"/api/cases/{rid}/flags", json=body).json()
    assert a["flag_id"] == b["flag_id"] and b["repeat"]
    assert connect(db_path).execute("SELECT COUNT(*) FROM flags WHERE source = 'reviewer'").fetchone()[0] == 1


# -- 10. locks and accounts ---------------------------------------------------------------------

def test_releasing_someone_elses_case_is_refused_and_leads_can_release_or_reassign(app, env):
    db_path, ids = env
    rid = ids["ZY2026001"]["record_id"]
    a, b, lead = login(app, "rev1"), login(app, "rev2"), login(app, "lead1")
    assert a.post(f"/api/cases/{rid}/claim").status_code == 200
    r = b.post(f"/api/cases/{rid}/release")
    assert r.status_code == 409 and "rev1" in r.json()["error"]
    assert review.lock_holder(connect(db_path), rid) == "rev1"
    assert b.post(f"/api/cases/{rid}/claim/release").status_code == 403       # leads only
    assert [x["claimed_by"] for x in lead.get("/api/claims").json()] == ["rev1"]
    r = lead.post(f"/api/cases/{rid}/claim/reassign", json={"user": "rev2"})
    assert r.status_code == 200 and r.json()["previous"] == "rev1"
    assert review.lock_holder(connect(db_path), rid) == "rev2"
    assert lead.post(f"/api/cases/{rid}/claim/reassign", json={"user": "nobody"}).status_code == 404
    assert lead.post(f"/api/cases/{rid}/claim/release").json()["released_from"] == "rev2"
    assert review.lock_holder(connect(db_path), rid) is None
    assert b.post(f"/api/cases/{rid}/release").json() == {"ok": True, "released": False}
    acts = [r[0] for r in connect(db_path).execute("SELECT action FROM audit_log WHERE actor = 'lead1' ORDER BY id")]
    assert acts == ["lock-reassign", "lock-release"]
    assert "正在审核的病例" in lead.get("/lead").text


def test_admin_disables_resets_and_ends_sessions(app, env):
    db_path, ids = env
    admin, rev = login(app, "admin1"), login(app, "rev1")
    rid = ids["ZY2026001"]["record_id"]
    rev.post(f"/api/cases/{rid}/claim")
    assert rev.post("/api/users/rev1/disable").status_code == 403              # admins only
    sessions = admin.get("/api/sessions?user=rev1").json()
    assert len(sessions) == 1 and sessions[0]["user"] == "rev1" and len(sessions[0]["id"]) == 16
    assert admin.post("/api/users/rev1/disable").status_code == 200
    assert rev.get("/api/me").status_code == 401                               # session ended
    assert review.lock_holder(connect(db_path), rid) is None                   # case freed
    with pytest.raises(auth.AuthError):
        auth.login(connect(db_path), "rev1", USERS["rev1"][1], None)
    assert admin.post("/api/users/admin1/disable").status_code == 400          # not oneself
    assert admin.post("/api/users/ghost/disable").status_code == 404
    assert admin.post("/api/users/rev1/enable").status_code == 200
    # Reset: the temporary password works once, then nothing but changing it.
    assert admin.post("/api/users/rev2/password", json={"password": "temp-pass-99"}).status_code == 200
    c = login(app, "rev2", "temp-pass-99")
    assert c.get("/api/me").json()["must_change_password"] is True
    assert c.get("/api/queue").status_code == 403
    assert c.get("/", follow_redirects=False).headers["location"] == "/password"
    assert c.post("/api/me/password", json={"old_password": "temp-pass-99", "new_password": "temp-pass-99"}).status_code == 400
    assert c.post("/api/me/password", json={"old_password": "temp-pass-99", "new_password": "new-pass-123"}).status_code == 200
    assert c.get("/api/queue").status_code == 200
    login(app, "rev2", "new-pass-123")
    # Ending one session by id.
    other = login(app, "lead1")
    sid = admin.get("/api/sessions?user=lead1").json()[0]["id"]
    assert admin.post(f"/api/sessions/{sid}/end").status_code == 200
    assert other.get("/api/me").status_code == 401
    own = admin.get("/api/sessions?user=admin1").json()[0]["id"]
    assert admin.post(f"/api/sessions/{own}/end").status_code == 400         # that is logging out
    assert admin.post("/api/sessions/zzzz/end").status_code == 400
    acts = [r[0] for r in connect(db_path).execute("SELECT action FROM audit_log WHERE actor = 'admin1' ORDER BY id")]
    assert acts == ["user-disable", "user-enable", "password-reset", "session-end"]
    assert [r[0] for r in connect(db_path).execute(
        "SELECT action FROM audit_log WHERE actor = 'rev2'")] == ["password-change"]
    html = admin.get("/admin").text
    assert "在线会话" in html and "password-reset" in html
    assert admin.get("/api/audit").json()[0]["action"] == "session-end"


def test_cli_account_commands(env):
    from typer.testing import CliRunner

    from cli import app as cli_app
    runner, db = CliRunner(), ["--db", str(env[0])]
    assert runner.invoke(cli_app, ["users", "disable", "rev1", *db]).exit_code == 0
    assert "rev1\treviewer\tdisabled" in runner.invoke(cli_app, ["users", "list", *db]).output
    assert runner.invoke(cli_app, ["users", "enable", "rev1", *db]).exit_code == 0
    r = runner.invoke(cli_app, ["users", "reset-password", "rev1", "--password-stdin", *db], input="temp-pass-1\n")
    assert r.exit_code == 0, r.output
    assert "must-change-password" in runner.invoke(cli_app, ["users", "list", *db]).output
    token, _ = auth.login(connect(env[0]), "rev2", USERS["rev2"][1], "10.1.1.1")
    out = runner.invoke(cli_app, ["users", "sessions", "rev2", *db]).output
    assert "rev2\t10.1.1.1" in out
    assert runner.invoke(cli_app, ["users", "sessions", "rev2", "--end", *db]).exit_code == 0
    assert auth.session_user(connect(env[0]), token) is None
    assert runner.invoke(cli_app, ["users", "disable", "ghost", *db]).exit_code == 2
    actions = [r[0] for r in connect(env[0]).execute("SELECT action FROM audit_log WHERE actor LIKE 'cli%' ORDER BY id")]
    assert actions[-4:] == ["user-disable", "user-enable", "password-reset", "session-end"]
    assert accounts.sessions(connect(env[0]), "rev2") == []


def test_unmasked_command_line_exports_are_audited(env, tmp_path):
    from typer.testing import CliRunner

    from cli import app as cli_app
    runner, db = CliRunner(), ["--db", str(env[0])]
    assert runner.invoke(cli_app, ["report", "--out", str(tmp_path / "rep"), *db]).exit_code == 0
    assert runner.invoke(cli_app, ["report", "--out", str(tmp_path / "rep2"), "--no-mask", *db]).exit_code == 0
    r = runner.invoke(cli_app, ["annotations", "export", "--out", str(tmp_path / "ann"), "--no-mask", *db])
    assert r.exit_code == 0, r.output
    rows = connect(env[0]).execute("SELECT action, actor FROM audit_log WHERE action LIKE '%unmasked'").fetchall()
    assert [a for a, _ in rows] == ["report-unmasked", "annotations-unmasked"] and rows[0][1].startswith("cli")
