"""Property-based fuzzing of the review UI's JSON API from its own OpenAPI description.

Every operation in ``/openapi.json`` gets requests whose path, query and body values are drawn
(Hypothesis) from the operation's schemas, mixed with hostile values of each type: ids past
2^63, Unicode digits, NaN and infinities, lone surrogates, control characters, long text,
malformed or mistyped JSON bodies. The property: the server never answers 500, and a request it
refuses (status ≥ 400) changes nothing in the database. Used by ``tests/test_review_fuzz.py``
(in-process) and ``bench/security.py`` (over HTTP); both pass an ``httpx.Client`` already logged in.
"""
from __future__ import annotations

import hashlib
import json
import math
import sqlite3
from dataclasses import dataclass, field
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HOSTILE_INTS = [0, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30]
HOSTILE_FLOATS = [math.nan, math.inf, -math.inf, -0.0, 5e-324, 1e300, -1e300]
HOSTILE_TEXT = ["", " ", "²", "１２", "٣", "9223372036854775808", "a\ud800b", "\udfff", "\x00", "\u202e",
                "<script>alert(1)</script>", "'; DROP TABLE users; --", "x" * 5000, "NaN", "inf", "-1", "1e309"]
# Tables whose content a refused request must leave alone (sessions without last_seen, which
# every authenticated request may refresh).
STATE = {"reviews": "*", "flags": "*", "case_locks": "*", "users": "*", "entity_corrections": "*",
         "audit_log": "*", "sessions": "token_hash, user, csrf, created_at, expires_at"}


@dataclass
class Result:
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    by_status: dict[int, int] = field(default_factory=dict)


def snapshot(db_path) -> str:
    conn = sqlite3.connect(str(db_path), timeout=30)
    try:
        h = hashlib.sha256()
        present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table, cols in STATE.items():
            if table not in present:
                continue
            for row in conn.execute(f"SELECT {cols} FROM {table} ORDER BY 1"):
                h.update(repr(row).encode("utf-8", "surrogatepass"))
        return h.hexdigest()
    finally:
        conn.close()


def _resolve(schema: dict, spec: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def values(schema: dict, spec: dict, depth: int = 0):
    """Values for one JSON schema: valid ones and hostile ones of the same type."""
    schema = _resolve(schema or {}, spec)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([values(s, spec, depth + 1) for s in schema[key]])
    if "enum" in schema:
        return st.one_of(st.sampled_from(schema["enum"]), st.sampled_from(HOSTILE_TEXT))
    kind = schema.get("type")
    if kind == "integer":
        lo, hi = schema.get("minimum"), schema.get("maximum")
        return st.one_of(st.integers(1, 6), st.integers(lo, hi), st.sampled_from(HOSTILE_INTS), st.integers(),
                         st.sampled_from(HOSTILE_TEXT))
    if kind == "number":
        return st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(HOSTILE_FLOATS),
                         st.integers(-(2**70), 2**70), st.sampled_from(HOSTILE_TEXT))
    if kind == "string":
        return st.one_of(st.text(max_size=40), st.sampled_from(HOSTILE_TEXT),
                         st.text(st.one_of(st.characters(), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF,
                                                                     categories=["Cs"])), max_size=20),
                         st.sampled_from(["confirm", "reject", "change", "skip", "add", "remove", "relabel",
                                          "set-attribute", "reviewer", "admin", "json", "csv", "rev1", "e1"]))
    if kind == "boolean":
        return st.one_of(st.booleans(), st.sampled_from(["yes", "²", 2, None]))
    if kind == "array":
        if depth > 3:
            return st.just([])
        return st.lists(values(schema.get("items", {}), spec, depth + 1), max_size=4)
    if kind == "object" or "properties" in schema:
        if depth > 3:
            return st.just({})
        props = schema.get("properties", {})
        required = set(schema.get("required", ()))
        extra = schema.get("additionalProperties")
        base = st.fixed_dictionaries(
            {k: values(v, spec, depth + 1) for k, v in props.items() if k in required},
            optional={k: values(v, spec, depth + 1) for k, v in props.items() if k not in required})
        if isinstance(extra, dict):
            base = st.one_of(base, st.dictionaries(st.text(max_size=12), values(extra, spec, depth + 1), max_size=3))
        return base
    if kind == "null":
        return st.none()
    return st.one_of(st.none(), st.integers(), st.text(max_size=10))


def _text(v) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def _q(v) -> str:
    return quote(_text(v), safe="", errors="surrogatepass")


def requests_for(spec: dict, path: str, method: str, op: dict):
    """(url, body bytes or None) for one operation."""
    params = op.get("parameters", [])
    path_params = {p["name"]: values(p.get("schema", {}), spec) for p in params if p["in"] == "path"}
    query = {p["name"]: values(p.get("schema", {}), spec) for p in params if p["in"] == "query"}
    body_schema = (op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema"))
    if body_schema is not None:
        body = st.one_of(
            values(body_schema, spec).map(lambda b: json.dumps(b).encode("utf-8", "surrogatepass")),
            st.sampled_from([b"", b"{", b"[]", b"null", b"NaN", b'"x"', b'{"action": 1e999}', b"\xff\xfe"]))
    else:
        body = st.none()

    def build(parts):
        pp, qq, b = parts
        url = path
        for name, v in pp.items():
            url = url.replace("{" + name + "}", _q(v))
        if qq:
            url += "?" + "&".join(f"{_q(k)}={_q(v)}" for k, v in qq.items())
        return url, b

    return st.tuples(st.fixed_dictionaries(path_params), st.fixed_dictionaries({}, optional=query), body).map(build)


def operations(spec: dict) -> list[tuple[str, str, dict]]:
    return [(path, method.upper(), op) for path, item in sorted(spec["paths"].items())
            for method, op in sorted(item.items()) if path.startswith("/api/")]


def fuzz(client, db_path, spec: dict, *, examples_per_operation: int = 12, csrf: str = "") -> Result:
    """Run the property over every operation; collect failures instead of stopping at the first."""
    result = Result()
    for path, method, op in operations(spec):
        @settings(max_examples=examples_per_operation, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(requests_for(spec, path, method, op))
        def check(req):
            url, body = req
            before = snapshot(db_path)
            headers = {"X-CSRF-Token": csrf}
            if body is not None:
                headers["Content-Type"] = "application/json"
            r = client.request(method, url, content=body, headers=headers)
            result.requests += 1
            result.by_status[r.status_code] = result.by_status.get(r.status_code, 0) + 1
            if r.status_code >= 500:
                result.failures.append(f"{method} {url[:120]} -> {r.status_code}")
            elif r.status_code >= 400 and snapshot(db_path) != before:
                result.failures.append(f"{method} {url[:120]} -> {r.status_code} but the database changed")

        check()
    return result
