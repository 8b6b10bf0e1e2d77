"""The lead's view: progress and time per case, throughput per day, assignments that decide who
gets which case, a blind second review the second reviewer decides without seeing the first,
Cohen's κ per rule, and a second-review sample rate that is kept (and an empty sample that says why)."""
from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from pipeline import review
from pipeline.review import assign, lead
from pipeline.store import connect
from review_ui import auth, create_app
from review_sample import build

USERS = {"rev1": ("reviewer", "pw-rev1-123"), "rev2": ("reviewer", "pw-rev2-123"), "lead1": ("lead", "pw-lead1-123")}


@pytest.fixture
def env(tmp_path):
    ids = build(tmp_path / "audit.db", big_pages=45, distinct_images=2)
    db = connect(tmp_path / "audit.db")
    for name, (role, pw) in USERS.items():
        auth.add_user(db, name, role, pw)
    return tmp_path / "audit.db", ids, db


def login(app, name: str) -> TestClient:
    c = TestClient(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    c.post("/login", data={"username": name, "password": USERS[name][1], "csrf_token": token})
    c.headers["X-CSRF-Token"] = c.get("/api/me").json()["csrf_token"]
    return c


def test_kappa_matches_a_hand_count():
    # 10 flags: both confirm 4, both reject 3, disagree 3 -> po 0.7; marginals 0.6/0.4 and 0.5/0.5 -> pe 0.5
    pairs = [("c", "c")] * 4 + [("r", "r")] * 3 + [("c", "r")] * 2 + [("r", "c")]
    assert lead.kappa(pairs) == pytest.approx((0.7 - 0.5) / 0.5)
    assert lead.kappa([("c", "c")] * 5) is None       # no variation: κ undefined, not 1


def test_blind_second_review_and_kappa_per_rule(env):
    db_path, ids, db = env
    app = create_app(db_path, secret="s")
    f1, f2, f3, f4 = ids["flags"]
    review.decide(db, "rev1", f1, "confirm", ms_spent=30000)
    review.decide(db, "rev1", f2, "reject", reason_code="charge_correct", ms_spent=10000)
    review.force_release(db, ids["ZY2026001"]["record_id"], "lead1")
    lc = login(app, "lead1")
    assert lc.post("/api/assignments", json={"kind": "second", "target": str(f1), "user": "rev1"}).status_code == 400
    assert lc.post("/api/assignments", json={"kind": "second", "target": str(f1), "user": "rev2"}).status_code == 200
    r2 = login(app, "rev2")
    case = r2.get(f"/api/cases/{ids['ZY2026001']['record_id']}?flag={f1}").json()
    blind = next(f for f in case["flags"] if f["id"] == f1)
    assert blind["state"] == "pending" and blind["decided_by"] is None and blind["by_user"] == {} and blind["blind"]
    assert all(h["flag_id"] != f1 for h in case["history"])       # nor in the history
    assert "rev1" not in r2.get("/").text.split('id="second-tasks"')[1].split("</section>")[0]
    assert f"flag={f1}" in r2.get("/").text                        # the task is on their queue page
    other = next(f for f in case["flags"] if f["id"] == f2)
    assert other["state"] == "rejected"                            # not in the sample: seen as it is
    review.decide(db, "rev2", f1, "reject", reason_code="rule_not_applicable", ms_spent=20000)
    seen = next(f for f in review.case_view(db, ids["ZY2026001"]["record_id"], user="rev2")["flags"] if f["id"] == f1)
    assert seen["state"] == "rejected" and seen["by_user"] == {"rev2": "rejected"}
    assert assign.second_tasks(db, "rev2") == []
    a = lc.get("/api/lead").json()["agreement"]
    rule = next(r for r in a["by_rule"] if r["rule_id"] == "R-ABX-01")
    assert rule["n"] == 1 and rule["agree"] == 0 and rule["kappa"] == 0.0      # one disagreement: po 0, pe 0


def test_progress_time_per_case_and_throughput(env):
    db_path, ids, db = env
    f1, f2, f3, f4 = ids["flags"]
    review.decide(db, "rev1", f1, "confirm", ms_spent=30000)
    review.decide(db, "rev1", f2, "confirm", ms_spent=50000)
    review.decide(db, "rev2", f4, "reject", reason_code="charge_correct", ms_spent=12000)
    p = lead.progress(db)
    by = {r["user"]: r for r in p["reviewers"]}
    assert by["rev1"]["cases"] == 1 and by["rev1"]["seconds_per_case"] == 80.0 and by["rev1"]["seconds_per_decision"] == 40.0
    assert by["rev2"]["flags_decided"] == 1 and by["rev2"]["seconds_per_case"] == 12.0
    assert sum(d["total"] for d in p["days"]) == 3 and p["day_users"] == ["rev1", "rev2"]
    hosp = {h["hospital_id"]: h for h in p["hospitals"]}
    assert (hosp["H001"]["flags_decided"], hosp["H001"]["flags_pending"]) == (2, 1)
    assert (hosp["H002"]["flags_decided"], hosp["H002"]["flags_pending"]) == (1, 0)
    html = login(create_app(db_path, secret="s"), "lead1").get("/lead").text
    assert "80 秒" in html and "示例县人民医院" in html and "住院号 ZY2026002" in html


def test_assignments_decide_who_takes_which_case(env):
    db_path, ids, db = env
    assign.assign(db, "lead1", "hospital", "H001", "rev2")
    # rev1 skips the riskiest case (H001, given to rev2) and gets the H002 one.
    assert review.lock_next(db, "rev1") == ids["ZY2026003"]["record_id"]
    assert review.lock_next(db, "rev2") == ids["ZY2026001"]["record_id"]
    assign.assign(db, "lead1", "record", ids["ZY2026002"]["record_id"], "rev1")
    review.release(db, ids["ZY2026003"]["record_id"], "rev1")
    assert review.lock_next(db, "rev1") == ids["ZY2026002"]["record_id"]   # its own case before the others
    p = lead.progress(db)
    assert {h["hospital_id"]: h["assigned_to"] for h in p["hospitals"]}["H001"] == "rev2"
    with pytest.raises(review.NotFound):
        assign.assign(db, "lead1", "hospital", "H999", "rev1")
    audit = [r["action"] for r in db.query("SELECT action FROM audit_log")]
    assert audit.count("assign-hospital") == 1 and audit.count("assign-record") == 1


def test_sample_rate_is_kept_and_an_empty_sample_says_why(env):
    db_path, ids, db = env
    app = create_app(db_path, secret="s")
    lc = login(app, "lead1")
    s = lc.get("/api/lead").json()
    assert s["sample_rate"] == 0.1 and s["sample"]["items"] == [] and "尚无只经一位审核员决定的疑点" in s["sample"]["empty_reason"]
    csrf = lc.headers["X-CSRF-Token"]
    r = lc.post("/lead/sample-rate", data={"csrf_token": csrf, "sample_rate": "abc"})
    assert r.status_code == 400 and 'value="abc"' in r.text and "抽样比例须是数字" in r.text
    assert lc.post("/lead/sample-rate", data={"csrf_token": csrf, "sample_rate": "100%"},
                   follow_redirects=False).status_code == 303
    for fid in ids["flags"]:
        review.decide(db, "rev1", fid, "confirm")
    page = lc.get("/lead").text
    assert 'id="sample-rate" value="1.0"' in page                 # kept for the next visit
    assert lc.get("/api/lead").json()["sample"]["eligible"] == 4 and len(lc.get("/api/lead").json()["sample"]["items"]) == 4
    lead.set_sample_rate(db, 0.0, "lead1")
    assert lead.sample(db, rate=lead.sample_rate(db))["empty_reason"] == "抽样比例为 0，不抽样。"
