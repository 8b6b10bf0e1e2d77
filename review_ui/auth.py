"""Accounts, password hashing (scrypt), server-side sessions, login rate limiting and audit.

No HTTP here: the app calls these with the values it read from the request.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import secrets

from pipeline.clock import iso, utc
from pipeline.store import transaction

ROLES = ("reviewer", "lead", "admin")
ROLE_RANK = {r: i for i, r in enumerate(ROLES)}   # admin can do what a lead can, a lead what a reviewer can
SESSION_IDLE_S = 8 * 3600
SESSION_MAX_S = 12 * 3600
LOGIN_WINDOW_S = 15 * 60
LOGIN_MAX_FAILURES = 5
MIN_PASSWORD_LEN = 8
# scrypt cost: n=2**14, r=8 needs 16 MiB and ~50 ms per hash, OWASP's minimum for scrypt.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


class AuthError(ValueError):
    pass


class RateLimited(AuthError):
    pass


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(digest) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


# A real hash to compare against for unknown users, so timing does not reveal which names exist.
_DUMMY_HASH = hash_password(secrets.token_hex(8))


def add_user(db, name: str, role: str, password: str) -> None:
    name = (name or "").strip()
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        raise AuthError("用户名不能为空、不能含空白且不超过 64 个字符")
    if role not in ROLES:
        raise AuthError(f"角色无效: {role!r}（可选 {', '.join(ROLES)}）")
    if len(password) < MIN_PASSWORD_LEN:
        raise AuthError(f"密码至少 {MIN_PASSWORD_LEN} 个字符")
    with transaction(db) as conn:
        if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
            raise AuthError(f"用户已存在: {name}")
        conn.execute(
            "INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
            (name, role, hash_password(password), iso(utc())),
        )


def list_users(db) -> list[dict]:
    return list(db.query("SELECT name, role, disabled, created_at FROM users ORDER BY name"))


def has_role(user: dict, role: str) -> bool:
    return ROLE_RANK[user["role"]] >= ROLE_RANK[role]


def _audit(conn, user: str, ip: str | None, ok: bool, reason: str, at: _dt.datetime) -> None:
    conn.execute(
        "INSERT INTO login_audit (user, ip, ok, reason, at) VALUES (?, ?, ?, ?, ?)",
        (user[:64], ip, int(ok), reason, iso(at)),
    )


def login(db, name: str, password: str, ip: str | None, *, at: _dt.datetime | None = None) -> tuple[str, dict]:
    """Check credentials; return (session token, session row). Every attempt is audited.

    After LOGIN_MAX_FAILURES failures for the same name or from the same address within
    LOGIN_WINDOW_S, further attempts are refused without checking the password.
    """
    now = utc(at)
    name = (name or "").strip()
    since = iso(now - _dt.timedelta(seconds=LOGIN_WINDOW_S))
    failures = db.execute(
        "SELECT COUNT(*) FROM login_audit WHERE ok = 0 AND at > ? AND reason != 'rate-limited'"
        " AND (user = ? OR (ip IS NOT NULL AND ip = ?))",
        (since, name, ip),
    ).fetchone()[0]
    if failures >= LOGIN_MAX_FAILURES:
        with transaction(db) as conn:
            _audit(conn, name, ip, False, "rate-limited", now)
        raise RateLimited("登录失败次数过多，请 15 分钟后再试")
    user = next(db.query("SELECT * FROM users WHERE name = ?", [name]), None)
    ok = verify_password(password or "", user["password_hash"] if user else _DUMMY_HASH)
    reason = "ok" if ok and user and not user["disabled"] else (
        "unknown-user" if not user else "disabled" if ok else "bad-password")
    token = secrets.token_urlsafe(32)
    with transaction(db) as conn:
        _audit(conn, name, ip, reason == "ok", reason, now)
        conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (iso(now),))
        if reason != "ok":
            row = None
        else:
            row = {
                "token_hash": hashlib.sha256(token.encode()).hexdigest(), "user": name,
                "csrf": secrets.token_urlsafe(32), "created_at": iso(now), "last_seen": iso(now),
                "expires_at": iso(now + _dt.timedelta(seconds=SESSION_MAX_S)),
            }
            conn.execute(
                "INSERT INTO sessions (token_hash, user, csrf, created_at, last_seen, expires_at)"
                " VALUES (:token_hash, :user, :csrf, :created_at, :last_seen, :expires_at)", row)
    if row is None:
        raise AuthError("用户名或密码错误")
    return token, row


def session_user(db, token: str | None, *, at: _dt.datetime | None = None) -> tuple[dict, dict] | None:
    """(user, session) for a live session token, else None. Refreshes the idle timer."""
    if not token:
        return None
    now = utc(at)
    th = hashlib.sha256(token.encode()).hexdigest()
    s = next(db.query("SELECT * FROM sessions WHERE token_hash = ?", [th]), None)
    if s is None:
        return None
    idle_limit = iso(now - _dt.timedelta(seconds=SESSION_IDLE_S))
    if s["expires_at"] <= iso(now) or s["last_seen"] <= idle_limit:
        with transaction(db) as conn:
            conn.execute("DELETE FROM sessions WHERE token_hash = ?", (th,))
        return None
    user = next(db.query("SELECT name, role, disabled FROM users WHERE name = ?", [s["user"]]), None)
    if user is None or user["disabled"]:
        return None
    # Writing last_seen on every request would serialize readers behind the write lock;
    # once a minute is precise enough for an 8-hour idle limit.
    if s["last_seen"] < iso(now - _dt.timedelta(seconds=60)):
        with transaction(db) as conn:
            conn.execute("UPDATE sessions SET last_seen = ? WHERE token_hash = ?", (iso(now), th))
    return user, s


def logout(db, token: str | None, ip: str | None) -> None:
    if not token:
        return
    th = hashlib.sha256(token.encode()).hexdigest()
    with transaction(db) as conn:
        row = conn.execute("SELECT user FROM sessions WHERE token_hash = ?", (th,)).fetchone()
        conn.execute("DELETE FROM sessions WHERE token_hash = ?", (th,))
        if row:
            _audit(conn, row[0], ip, True, "logout", utc())


def login_audit(db, limit: int = 200) -> list[dict]:
    return list(db.query("SELECT * FROM login_audit ORDER BY id DESC LIMIT ?", [limit]))
