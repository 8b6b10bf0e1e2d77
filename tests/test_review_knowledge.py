"""The case page shows a national rule's knowledge point beside the reason (rule class, point id,
constraint, detect logic, source), and a table rule's category as its rule class; the report
counts both per rule class."""
from __future__ import annotations

import re

from fastapi.testclient import TestClient

from pipeline import store
from pipeline.report import html as report_html
from pipeline.report import figures
from review_ui import auth, create_app
from review_sample import build

KNOWLEDGE = {
    "kp_id": "KP-630264b3f1586762", "rule_class": "药品区分性别使用", "gz_code": "GZ10000301004000", "level1": "医疗类",
    "item_name": "阿帕他胺片", "constraint": "限转移性激素敏感性前列腺癌(mHSPC)患者。", "detect_logic": "与限定性别不符",
    "source": {"batch": 1, "batch_tag": "batch_01", "published_at": None, "announcement_url": None,
               "attachment_file": "第一批-1.药品区分性别使用.xlsx", "row": 1},
    "pack": {"name": "national", "version": "20260705T000000Z-708bb4"}, "verdict": "违规",
    "facts": [{"name": "性别", "value": "女", "text": "女", "source": "病案首页"}],
    "lines": [{"charge_id": 1, "how": "name", "code": None, "score": 1.0, "name_agrees": True}], "conditions": [],
}


def test_case_page_and_report_show_the_rule_class(tmp_path):
    ids = build(tmp_path / "audit.db", distinct_images=2)
    db = store.connect(tmp_path / "audit.db")
    rid = ids["ZY2026001"]["record_id"]
    fid = store.insert_one(db, "flags", {
        "record_id": rid, "rule_id": "KP-DRUG-SEX", "rule_name": "药品区分性别使用", "catalogue_version": "2026.12.1",
        "category": "用药", "severity": "可疑", "score": 0.7, "reason": "女性患者使用限男性的“阿帕他胺片”", "amount": 88.0,
        "evidence": "[]", "charge_ids": "[]", "knowledge": store.dumps(KNOWLEDGE), "source": "system",
        "created_at": store.now()})
    auth.add_user(db, "rev1", "reviewer", "pw-rev1-123")
    app = create_app(tmp_path / "audit.db", secret="test-secret")
    c = TestClient(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    c.post("/login", data={"username": "rev1", "password": "pw-rev1-123", "csrf_token": token, "next": "/"})
    page = c.get(f"/cases/{rid}?flag={fid}").text
    for text in ("药品区分性别使用", "GZ10000301004000", "KP-630264b3f1586762", "限转移性激素敏感性前列腺癌(mHSPC)患者。",
                 "与限定性别不符", "第一批-1.药品区分性别使用.xlsx", "第 1 行", "20260705T000000Z-708bb4"):
        assert text in page, text
    other = ids["flags"][0]
    assert "规则类别：不合理诊疗" in c.get(f"/cases/{rid}?flag={other}").text   # a table rule: its category
    fig = figures.collect(db)
    classes = {r["rule_class"]: r for r in fig["rule_classes"]}
    assert classes["药品区分性别使用"]["national"] and classes["药品区分性别使用"]["amount_flagged_yuan"] == 88.0
    assert not classes["不合理诊疗"]["national"] and classes["不合理诊疗"]["flags"] == 4
    html = report_html.render(fig, [], masked=True, generated_at="2026-12-01")
    assert "分规则类别" in html and "药品区分性别使用" in html and "国家两库" in html
