"""Entity corrections in the review UI: auth and CSRF, add/remove/relabel/attribute events,
the derived entity set, the form twins and escaping of what reviewers mark."""
from __future__ import annotations

import re
import shutil

import pytest
from fastapi.testclient import TestClient

from pipeline.review import entities as entity_review
from pipeline.store import connect, insert_many, transaction
from review_ui import auth, create_app
from review_sample import EVIDENCE_TEXT, XSS_TEXT, build

USERS = {"rev1": ("reviewer", "pw-rev1-123"), "rev2": ("reviewer", "pw-rev2-123")}


@pytest.fixture(scope="module")
def template_db(tmp_path_factory):
    d = tmp_path_factory.mktemp("tmpl")
    ids = build(d / "audit.db", distinct_images=1)
    db = connect(d / "audit.db")
    for name, (role, pw) in USERS.items():
        auth.add_user(db, name, role, pw)
    # One section over lines 1-9 of page 3 (the sample has none), with two model entities.
    info = ids["ZY2026001"]
    line_ids = [info["line_ids"][(3, n)] for n in range(1, 10)]
    texts = [db.conn.execute("SELECT text FROM lines WHERE id = ?", (i,)).fetchone()[0] for i in line_ids]
    text = "\n".join(texts)
    with transaction(db):
        insert_many(db, "sections", [{"id": 1, "record_id": info["record_id"], "seq": 1, "name": "病程记录",
                                      "text": text, "page_id": info["page_ids"][3],
                                      "line_start": line_ids[0], "line_end": line_ids[-1]}])
        ents = [("DRUG", "头孢曲松"), ("EXAM", "血常规")]
        insert_many(db, "entities", [
            {"id": 100 + k, "record_id": info["record_id"], "section_id": 1, "seq": 100 + k, "label": lab,
             "text": t, "start": text.index(t), "end": text.index(t) + len(t), "page_id": info["page_ids"][3],
             "model_version": "ner-test"} for k, (lab, t) in enumerate(ents)])
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    return d, ids, text


@pytest.fixture
def env(template_db, tmp_path):
    src, ids, text = template_db
    shutil.copy(src / "audit.db", tmp_path / "audit.db")
    shutil.copytree(src / "audit.pages", tmp_path / "audit.pages")
    return tmp_path / "audit.db", ids, text


@pytest.fixture
def app(env):
    return create_app(env[0], secret="test-secret")


def login(app, name: str) -> TestClient:
    c = TestClient(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"username": name, "password": USERS[name][1], "csrf_token": token, "next": "/"},
               follow_redirects=False)
    assert r.status_code == 303
    c.headers["X-CSRF-Token"] = c.get("/api/me").json()["csrf_token"]
    return c


def n_events(db_path) -> int:
    return connect(db_path).execute("SELECT COUNT(*) FROM entity_corrections").fetchone()[0]


def test_corrections_need_session_and_csrf(app, env):
    db_path, ids, _ = env
    rid = ids["ZY2026001"]["record_id"]
    body = {"action": "remove", "entity": "e100"}
    assert TestClient(app).post(f"/api/cases/{rid}/entities", json=body).status_code == 401
    r = TestClient(app).post(f"/cases/{rid}/entities", data=body, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    c = login(app, "rev1")
    csrf = c.headers.pop("X-CSRF-Token")
    assert c.post(f"/api/cases/{rid}/entities", json=body).status_code == 403
    assert c.post(f"/cases/{rid}/entities", data={**body, "csrf_token": "forged"}).status_code == 403
    assert n_events(db_path) == 0
    c.headers["X-CSRF-Token"] = csrf
    assert c.post(f"/api/cases/{rid}/entities", json=body).status_code == 200
    assert n_events(db_path) == 1


def test_events_and_derived_entity_set(app, env):
    db_path, ids, text = env
    rid = ids["ZY2026001"]["record_id"]
    line5 = ids["ZY2026001"]["line_ids"][(3, 5)]
    c = login(app, "rev1")
    url = f"/api/cases/{rid}/entities"
    r = c.post(url, json={"action": "relabel", "entity": "e100", "label": "TREATMENT"})
    assert r.status_code == 200 and r.json()["old_label"] == "DRUG" and r.json()["entity"]["label"] == "TREATMENT"
    r = c.post(url, json={"action": "set-attribute", "entity": "e100", "attributes": {"negated": True}})
    assert r.json()["entity"]["negated"] == 1
    assert c.post(url, json={"action": "remove", "entity": "e101"}).status_code == 200
    # Add by selecting 白细胞 inside OCR line 5: offsets in the line become offsets in the section.
    k = EVIDENCE_TEXT.index("白细胞")
    r = c.post(url, json={"action": "add", "line_id": line5, "start": k, "end": k + 3, "label": "LAB"})
    assert r.status_code == 200, r.text
    added = r.json()["entity"]
    assert text[added["start"]:added["end"]] == "白细胞" and added["source"] == "reviewer"
    assert added["ref"] == f"c{r.json()['id']}"
    # The reviewer-added entity can itself be corrected.
    assert c.post(url, json={"action": "set-attribute", "entity": added["ref"],
                             "attributes": {"uncertain": True}}).status_code == 200

    shown = c.get(f"/api/cases/{rid}").json()["entities"]
    ents = {e["ref"] or e["text"]: e for e in shown}
    assert "e101" not in ents and "血常规" not in [e["text"] for e in shown]     # removed
    assert ents["e100"]["label"] == "TREATMENT" and ents["e100"]["negated"] == 1
    assert ents[added["ref"]]["label"] == "LAB" and ents[added["ref"]]["uncertain"] == 1
    assert ents["发热"]["negated"] == 1                                 # untouched sectionless entity still listed
    everything = {e["ref"]: e for e in c.get(url).json() if e["ref"]}
    assert everything["e101"]["removed"] and everything["e101"]["by"] == ["rev1"]

    db = connect(db_path)
    rows = db.execute("SELECT action, user, entity_id, added_id, section_id FROM entity_corrections ORDER BY id").fetchall()
    assert [r[0] for r in rows] == ["relabel", "set-attribute", "remove", "add", "set-attribute"]
    assert all(r[1] == "rev1" and r[4] == 1 for r in rows)
    assert rows[0][2] == 100 and rows[4][3] is not None and rows[4][2] is None
    # The model's rows are never changed.
    assert db.execute("SELECT label, negated FROM entities WHERE id = 100").fetchone() == ("DRUG", 0)


def test_bad_corrections_are_refused(app, env):
    db_path, ids, text = env
    rid = ids["ZY2026001"]["record_id"]
    c = login(app, "rev1")
    url = f"/api/cases/{rid}/entities"
    s = text.index("头孢")
    assert c.post(url, json={"action": "add", "section_id": 1, "start": s, "end": s + 2, "label": "DRUG"}).status_code == 400
    assert c.post(url, json={"action": "relabel", "entity": "e100", "label": "NOPE"}).status_code == 400
    assert c.post(url, json={"action": "rename", "entity": "e100"}).status_code == 400
    assert c.post(url, json={"action": "remove", "entity": "e999"}).status_code == 404
    assert c.post(url, json={"action": "set-attribute", "entity": "e100", "attributes": {"color": True}}).status_code == 400
    assert c.post(url, json={"action": "remove", "entity": "e100"}).status_code == 200
    assert c.post(url, json={"action": "remove", "entity": "e100"}).status_code == 400    # already removed
    # rev1 holds the case: rev2 cannot correct it.
    assert login(app, "rev2").post(url, json={"action": "remove", "entity": "e101"}).status_code == 409
    assert n_events(db_path) == 1


def test_form_twins_and_escaping(app, env):
    db_path, ids, text = env
    rid = ids["ZY2026001"]["record_id"]
    line7 = ids["ZY2026001"]["line_ids"][(3, 7)]
    c = login(app, "rev1")
    csrf = c.headers["X-CSRF-Token"]
    page = c.get(f"/cases/{rid}?page_no=3").text
    assert 'id="entity-add"' in page and '<option value="LAB">实验室检验</option>' in page
    r = c.post(f"/cases/{rid}/entities", data={"csrf_token": csrf, "action": "add", "line_id": str(line7),
                                                "start": "0", "end": "8", "label": "DRUG", "page_no": "3"},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/cases/{rid}?page_no=3#entities"
    r = c.post(f"/cases/{rid}/entities", data={"csrf_token": csrf, "action": "set-attribute", "entity": "e101",
                                                "attribute": "uncertain", "value": "1"}, follow_redirects=False)
    assert r.status_code == 303
    html = c.get(f"/cases/{rid}?page_no=3").text
    ref = connect(db_path).execute("SELECT id FROM entity_corrections WHERE action = 'add'").fetchone()[0]
    item = re.search(rf'data-ref="c{ref}">(.*?)</li>', html, re.S).group(1)
    assert "&lt;script&gt;" in item and "<script>" not in item and "审核员新增" in item
    assert XSS_TEXT not in html
    e101 = re.search(r'data-ref="e101">(.*?)</li>', html, re.S).group(1)
    assert "不确定" in e101 and "取消不确定" in e101


def test_line_selection_maps_past_cut_headers_and_repeats(tmp_path):
    # The section text drops the header line and the 主诉： prefix; 腹痛 occurs on two lines.
    db = connect(tmp_path / "a.db")
    t = "2026-01-01T00:00:00+00:00"
    with transaction(db):
        insert_many(db, "records", [{"id": 1, "sha256": "x", "source_path": "/x", "kind": "pdf", "stage": "extracted",
                                     "created_at": t, "updated_at": t}])
        insert_many(db, "pages", [{"id": 5, "record_id": 1, "page_no": 1, "source_ref": "pdf:0", "created_at": t}])
        insert_many(db, "lines", [{"id": 1, "page_id": 5, "line_no": 0, "text": "入院记录"},
                                  {"id": 2, "page_id": 5, "line_no": 1, "text": "  主诉：腹痛3天，发热1天"},
                                  {"id": 3, "page_id": 5, "line_no": 2, "text": "无咳嗽 腹痛"}])
        insert_many(db, "sections", [{"id": 1, "record_id": 1, "seq": 1, "name": "主诉",
                                      "text": "腹痛3天，发热1天\n无咳嗽 腹痛", "line_start": 1, "line_end": 3}])
    line2 = "  主诉：腹痛3天，发热1天"
    k = line2.index("发热")
    ent = entity_review.correct(db, "u", 1, "add", line_id=2, start=k, end=k + 2, label="SYMPTOM")["entity"]
    assert (ent["text"], ent["start"], ent["page_id"], ent["line_id"]) == ("发热", 5, 5, 2)
    ent = entity_review.correct(db, "u", 1, "add", line_id=3, start=4, end=6, label="SYMPTOM")["entity"]
    assert (ent["text"], ent["start"]) == ("腹痛", 14)
    with pytest.raises(entity_review.ReviewError):      # 主诉： is not in the section text
        entity_review.correct(db, "u", 1, "add", line_id=2, start=2, end=4, label="SYMPTOM")
