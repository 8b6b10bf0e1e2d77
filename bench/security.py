"""Replays the attacks of the review UI's security review against a temporary server on
127.0.0.1 (the sample batch, uvicorn configured as `medreview review` configures it) and prints
one line per attack, PASS or FAIL, then the OpenAPI fuzz run's request and failure counts.

    .venv/bin/python bench/security.py [--fuzz-examples 15]
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import secrets
import sqlite3
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]   # the code under test, the sample batch and the fuzzer

import httpx  # noqa: E402

from api_fuzz import fuzz, operations  # noqa: E402
from app_server import AppServer  # noqa: E402
from pipeline.store import connect  # noqa: E402
from review_sample import build  # noqa: E402
from review_ui import auth, create_app  # noqa: E402

USERS = {"rev1": ("reviewer", "pw-rev1-123"), "rev2": ("reviewer", "pw-rev2-123"),
         "rev3": ("reviewer", "pw-rev3-123"), "lead1": ("lead", "pw-lead1-123"),
         "admin1": ("admin", "pw-admin1-123")}
BIG = 2**63


def client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=60, follow_redirects=False)


def login(base: str, name: str, password: str | None = None, headers: dict | None = None) -> httpx.Client:
    c = client(base)
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"username": name, "password": password or USERS[name][1], "csrf_token": token},
               headers=headers or {})
    if r.status_code != 303:
        raise AssertionError(f"login {name}: {r.status_code}")
    c.headers["X-CSRF-Token"] = c.get("/api/me").json()["csrf_token"]
    return c


def sql(db_path, query, args=()):
    conn = sqlite3.connect(str(db_path), timeout=30)
    try:
        with conn:
            return conn.execute(query, args).fetchall()
    finally:
        conn.close()


def n_events(db_path) -> int:
    return sql(db_path, "SELECT COUNT(*) FROM reviews")[0][0]


def attack_inf_amount(base, db_path, ids):
    rev, other = login(base, "rev1"), login(base, "rev2")
    rid = ids["ZY2026003"]["record_id"]
    fid = rev.get(f"/api/cases/{rid}").json()["flags"][0]["id"]
    before = n_events(db_path)
    r = rev.post(f"/cases/{rid}/flags/{fid}/decide", data={"csrf_token": rev.headers["X-CSRF-Token"],
                 "action": "change", "amount": "inf"})
    line = ids["ZY2026003"]["line_ids"][(1, 4)]
    posts = [rev.post(f"/api/cases/{rid}/flags", content='{"rule_id": "R-X", "line_ids": [%d], "amount": %s}'
                      % (line, v), headers={"Content-Type": "application/json"}).status_code for v in ("1e309", "NaN")]
    views = [other.get(p).status_code for p in ("/api/queue", f"/api/cases/{rid}")]
    views.append(login(base, "lead1").get("/api/export").status_code)
    ok = r.status_code == 400 and posts == [422, 422] and views == [200] * 3 and n_events(db_path) == before
    return ok, f"form amount=inf → {r.status_code}; 1e309/NaN → {posts}; other users' views {views}"


def attack_huge_ids(base, db_path, ids):
    c = login(base, "rev1")
    rid = ids["ZY2026002"]["record_id"]
    got = [c.get(f"/api/cases/{BIG}").status_code, c.get(f"/pages/{BIG}/image.png").status_code,
           c.post(f"/api/cases/{rid}/flags", json={"rule_id": "R-X", "line_ids": [BIG]}).status_code,
           c.post(f"/api/flags/{BIG}/decision", json={"action": "confirm"}).status_code]
    return all(400 <= s < 500 for s in got), f"ids ≥ 2^63 in path and body → {got}"


def attack_unicode_digits(base, db_path, ids):
    c = login(base, "rev1")
    csrf = c.headers["X-CSRF-Token"]
    rid = ids["ZY2026002"]["record_id"]
    fid = c.get(f"/api/cases/{rid}").json()["flags"][0]["id"]
    before = n_events(db_path)
    got = [c.post(f"/cases/{rid}/add", data={"csrf_token": csrf, "rule_id": "R-X", "line_ids": "²"}).status_code,
           c.post(f"/api/flags/{fid}/decision", content='{"action": "reject", "reason_code": "other",'
                  ' "note": "a\\ud800b"}', headers={"Content-Type": "application/json"}).status_code]
    skip = c.post(f"/cases/{rid}/flags/{fid}/decide", data={"csrf_token": csrf, "action": "skip", "ms_spent": "²"})
    ok = all(400 <= s < 500 for s in got) and skip.status_code == 303 and n_events(db_path) == before + 1
    return ok, f"line_ids=² / lone surrogate → {got}; ms_spent=² ignored → {skip.status_code}"


def attack_big_body(base, db_path, ids):
    c = login(base, "rev1")
    fid = c.get(f"/api/cases/{ids['ZY2026002']['record_id']}").json()["flags"][0]["id"]
    body = json.dumps({"action": "reject", "reason_code": "other", "note": "x" * (30 * 1024 * 1024)})
    r = c.post(f"/api/flags/{fid}/decision", content=body, headers={"Content-Type": "application/json"})
    return r.status_code == 413, f"30 MiB body → {r.status_code}"


def attack_login(base, db_path, ids):
    def guess(i):
        c = client(base)
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
        return c.post("/login", data={"username": "rev3", "password": f"wrong-{i}", "csrf_token": token}).status_code
    with ThreadPoolExecutor(30) as pool:
        codes = list(pool.map(guess, range(30)))
    checks = sql(db_path, "SELECT COUNT(*) FROM login_audit WHERE user = 'rev3' AND reason = 'bad-password'")[0][0]
    # The address that just failed 30 times still lets other users in; a forged X-Forwarded-For is not believed.
    other = login(base, "rev2", headers={"X-Forwarded-For": "203.0.113.66"})
    ip = sql(db_path, "SELECT ip FROM login_audit WHERE user = 'rev2' AND ok = 1 ORDER BY id DESC")[0][0]
    ok = checks == auth.LOGIN_MAX_FAILURES and codes.count(429) == 30 - checks and other.get("/api/me").status_code == 200 \
        and ip == "127.0.0.1"
    return ok, f"30 parallel guesses → {checks} password checks, {codes.count(429)} refused; other user logs in; audited ip {ip}"


def attack_sessions(base, db_path, ids):
    secure = AppServer(create_app(db_path, cookie_secure=True), log_level="critical")
    try:
        cookie = client(secure.base).get("/login").headers.get("set-cookie", "")
    finally:
        secure.stop()
    c = login(base, "rev1")
    c2 = login(base, "rev2")
    stale = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=31)).isoformat(timespec="seconds")
    fresh = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=25)).isoformat(timespec="seconds")
    sql(db_path, "UPDATE sessions SET last_seen = ? WHERE user = 'rev1'", (stale,))
    sql(db_path, "UPDATE sessions SET last_seen = ? WHERE user = 'rev2'", (fresh,))
    idle, alive = c.get("/api/me").status_code, c2.get("/api/me").status_code
    ok = "Secure" in cookie and idle == 401 and alive == 200
    return ok, f"--https-cookies → Secure={'Secure' in cookie}; idle 31 min → {idle}, 25 min → {alive}"


def attack_scrypt(base, db_path, ids):
    stored = sql(db_path, "SELECT password_hash FROM users WHERE name = 'lead1'")[0][0]
    salt = secrets.token_bytes(16)
    old = f"scrypt$16384$8$1${salt.hex()}${hashlib.scrypt(b'pw-rev2-123', salt=salt, n=2**14, r=8, p=1, dklen=32).hex()}"
    sql(db_path, "UPDATE users SET password_hash = ? WHERE name = 'rev2'", (old,))
    login(base, "rev2")
    new = sql(db_path, "SELECT password_hash FROM users WHERE name = 'rev2'")[0][0]
    ok = stored.startswith("scrypt$131072$8$1$") and new.startswith("scrypt$131072$8$1$")
    return ok, f"stored {stored.split('$')[1]}/{stored.split('$')[2]}/{stored.split('$')[3]}; N=2^14 hash rehashed on login → {new.split('$')[1]}"


def attack_export(base, db_path, ids):
    rid = ids["ZY2026001"]["record_id"]
    sql(db_path, "INSERT INTO fields (record_id, name, seq, value) VALUES (?, 'patient_name', 0, '张三丰')", (rid,))
    rev = login(base, "rev1")
    fid = rev.get(f"/api/cases/{rid}").json()["flags"][0]["id"]
    rev.post(f"/api/flags/{fid}/decision", json={"action": "confirm",
             "note": "张三丰 电话 13812345678 身份证 110101199001011234"})
    lead = login(base, "lead1")
    csv_text = lead.get("/api/export?format=csv").text + lead.get("/api/export").text
    leaked = [s for s in ("张三丰", "13812345678", "110101199001011234") if s in csv_text]
    raw = lead.get("/api/export?format=csv&unmasked=true").text
    audited = sql(db_path, "SELECT COUNT(*) FROM audit_log WHERE action = 'export-unmasked' AND actor = 'lead1'")[0][0]
    ok = not leaked and "张三丰" in raw and audited == 1
    return ok, f"masked CSV/JSON leak {leaked or 'nothing'}; unmasked on request, audited ({audited})"


def attack_repeats(base, db_path, ids):
    rid = ids["ZY2026002"]["record_id"]
    rev = login(base, "rev2")
    fid = rev.get(f"/api/cases/{rid}").json()["flags"][0]["id"]
    rev.post(f"/api/cases/{rid}/claim")
    before = n_events(db_path)
    cookies, headers = dict(rev.cookies), dict(rev.headers)

    def confirm(_):
        with httpx.Client(base_url=base, cookies=cookies, headers=headers, timeout=60) as c:
            return c.post(f"/api/flags/{fid}/decision", json={"action": "confirm"}).status_code
    with ThreadPoolExecutor(5) as pool:
        codes = list(pool.map(confirm, range(5)))
    for _ in range(2):
        rev.post(f"/cases/{rid}/flags/{fid}/decide", data={"csrf_token": rev.headers["X-CSRF-Token"],
                 "action": "confirm"})
    added = n_events(db_path) - before
    rev.post(f"/api/cases/{rid}/undo")
    state = rev.get(f"/api/cases/{rid}").json()["flags"][0]["state"]
    ok = codes == [200] * 5 and added == 1 and state == "pending"
    return ok, f"5 parallel confirms + 2 re-submits → {added} event; one undo → {state}"


def attack_release(base, db_path, ids):
    rid = ids["ZY2026003"]["record_id"]
    a, b, lead, admin = login(base, "rev1"), login(base, "rev2"), login(base, "lead1"), login(base, "admin1")
    a.post(f"/api/cases/{rid}/claim")
    r = b.post(f"/api/cases/{rid}/release")
    holder = sql(db_path, "SELECT user FROM case_locks WHERE record_id = ?", (rid,))[0][0]
    moved = lead.post(f"/api/cases/{rid}/claim/reassign", json={"user": "rev2"}).status_code
    disabled = admin.post("/api/users/rev1/disable").status_code
    after = a.get("/api/me").status_code
    reset = admin.post("/api/users/rev3/password", json={"password": "temp-pass-9"}).status_code
    admin.post("/api/users/rev1/enable")
    acts = [x[0] for x in sql(db_path, "SELECT action FROM audit_log WHERE actor IN ('lead1', 'admin1') ORDER BY id")]
    ok = r.status_code == 409 and holder == "rev1" and moved == 200 and disabled == 200 and after == 401 \
        and reset == 200 and {"lock-reassign", "user-disable", "password-reset", "user-enable"} <= set(acts)
    return ok, (f"other's release → {r.status_code} (holder stays {holder}); lead reassign {moved}; "
                f"disable {disabled} ends session ({after}); reset {reset}; audited {len(acts)}")


ATTACKS = [
    ("1 amount inf / 1e309 / NaN", attack_inf_amount),
    ("2 ids >= 2^63", attack_huge_ids),
    ("3 unicode digits, lone surrogate", attack_unicode_digits),
    ("4 30 MiB request", attack_big_body),
    ("5 login throttling, forged X-Forwarded-For", attack_login),
    ("6 Secure cookies, idle timeout", attack_sessions),
    ("7 scrypt parameters, rehash", attack_scrypt),
    ("8 export of free text", attack_export),
    ("9 repeated decisions, undo", attack_repeats),
    ("10 release of another's case, accounts", attack_release),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fuzz-examples", type=int, default=15, help="Fuzz examples per API operation.")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "audit.db"
        ids = build(db_path, distinct_images=2)
        db = connect(db_path)
        for name, (role, pw) in USERS.items():
            auth.add_user(db, name, role, pw)
        db.conn.close()
        server = AppServer(create_app(db_path), log_level="critical")
        failed = 0
        try:
            for name, attack in ATTACKS:
                try:
                    ok, what = attack(server.base, db_path, ids)
                except Exception as exc:   # an attack that breaks the bench is a failure, not a crash
                    ok, what = False, f"{type(exc).__name__}: {exc}"
                failed += not ok
                print(f"{'PASS' if ok else 'FAIL'}  {name:<44} {what}", flush=True)
            admin = login(server.base, "admin1")
            spec = admin.get("/openapi.json").json()
            t = time.perf_counter()
            res = fuzz(admin, db_path, spec, examples_per_operation=args.fuzz_examples,
                       csrf=admin.headers["X-CSRF-Token"])
            print(f"fuzz: {res.requests} requests over {len(operations(spec))} operations in "
                  f"{time.perf_counter() - t:.0f} s, {len(res.failures)} failures "
                  f"(statuses {dict(sorted(res.by_status.items()))})")
            for f in res.failures[:10]:
                print("  " + f)
            failed += bool(res.failures)
        finally:
            server.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
