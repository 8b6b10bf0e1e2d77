"""The JSON API fuzzed from its OpenAPI description (tests/api_fuzz.py): a bounded, derandomized
number of requests per operation, hostile values included; no 500, and no refused request
changes the database."""
from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

pytest.importorskip("hypothesis")

from api_fuzz import fuzz, operations  # noqa: E402
from pipeline.store import connect  # noqa: E402
from review_sample import build  # noqa: E402
from review_ui import auth, create_app  # noqa: E402


def test_api_fuzz_no_500_and_refusals_change_nothing(tmp_path):
    db_path = tmp_path / "audit.db"
    build(db_path, big_pages=45, distinct_images=2)
    db = connect(db_path)
    auth.add_user(db, "fuzzadmin", "admin", "pw-fuzz-admin-1")
    auth.add_user(db, "rev1", "reviewer", "pw-rev1-123")
    db.conn.close()
    app = create_app(db_path, secret="fuzz")
    c = TestClient(app, raise_server_exceptions=False)
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    assert c.post("/login", data={"username": "fuzzadmin", "password": "pw-fuzz-admin-1", "csrf_token": token},
                  follow_redirects=False).status_code == 303
    csrf = c.get("/api/me").json()["csrf_token"]
    spec = c.get("/openapi.json").json()
    assert len(operations(spec)) >= 25
    result = fuzz(c, db_path, spec, examples_per_operation=10, csrf=csrf)
    assert result.requests >= 10 * len(operations(spec)) * 0.8
    assert not result.failures, "\n".join(result.failures[:20])
    assert c.get("/api/me").status_code == 200          # the session survived the run
    assert sum(n for s, n in result.by_status.items() if s < 300) > 20   # not everything refused
