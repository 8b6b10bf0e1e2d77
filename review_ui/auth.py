"""Accounts, server-side sessions, login throttling and the login audit.

No HTTP here: the app calls these with the values it read from the request.

Throttling counts failed logins per account name: after ``LOGIN_MAX_FAILURES`` within
``LOGIN_WINDOW_S`` that account refuses further attempts without checking the password, while
everyone else (behind the same address, say a reverse proxy) logs in as before. The count and
the reservation of an attempt are one write transaction, and an attempt counts as a failure
from the moment it is reserved until its password check is settled, so parallel guesses get no
more password checks than sequential ones.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import secrets

from pipeline.clock import iso, utc
from pipeline.review import audit
from pipeline.review.values import clean_text
from pipeline.review.errors import ReviewError
from pipeline.store import transaction
from review_ui.passwords import dummy_hash, hash_password, needs_rehash, verify_password

ROLES = ("reviewer", "lead", "admin")
ROLE_RANK = {r: i for i, r in enumerate(ROLES)}   # admin can do what a lead can, a lead what a reviewer can
SESSION_IDLE_S = 30 * 60
SESSION_MAX_S = 12 * 3600
LOGIN_WINDOW_S = 15 * 60
LOGIN_MAX_FAILURES = 5
MIN_PASSWORD_LEN = 8
MAX_PASSWORD_LEN = 256
# Reasons of failed attempts that count towards the lock ('checking': not settled yet).
COUNTED = ("bad-password", "unknown-user", "disabled", "checking")

class AuthError(ValueError):
    status = 400


class RateLimited(AuthError):
    status = 429


class UnknownAccount(AuthError):
    status = 404


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str | None) -> str:
    try:
        name = clean_text(name, limit=None) or ""
    except ReviewError as exc:
        raise AuthError(str(exc)) from None
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        raise AuthError("用户名不能为空、不能含空白且不超过 64 个字符")
    return name


def check_password(password: str | None) -> str:
    password = password or ""
    if len(password) < MIN_PASSWORD_LEN:
        raise AuthError(f"密码至少 {MIN_PASSWORD_LEN} 个字符")
    if len(password) > MAX_PASSWORD_LEN or any("\ud800" <= c <= "\udfff" for c in password):
        raise AuthError(f"密码不超过 {MAX_PASSWORD_LEN} 个字符，且不能含无法保存的字符")
    return password


def add_user(db, name: str, role: str, password: str, *, by: str | None = None, ip: str | None = None) -> None:
    """Create an account; ``by`` (an admin, or the command line) is recorded in the audit trail."""
    name = check_name(name)
    if role not in ROLES:
        raise AuthError(f"角色无效: {str(role)[:20]!r}（可选 {', '.join(ROLES)}）")
    digest = hash_password(check_password(password))
    with transaction(db) as conn:
        if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
            raise AuthError(f"用户已存在: {name}")
        conn.execute(
            "INSERT INTO users (name, role, password_hash, created_at, password_changed_at) VALUES (?, ?, ?, ?, ?)",
            (name, role, digest, iso(utc()), iso(utc())),
        )
        audit.record(conn, by or audit.cli_actor(), "user-add", name, detail={"role": role}, ip=ip)


def list_users(db) -> list[dict]:
    return list(db.query("SELECT name, role, disabled, must_change_password, created_at, password_changed_at"
                         " FROM users ORDER BY name"))


def has_role(user: dict, role: str) -> bool:
    return ROLE_RANK[user["role"]] >= ROLE_RANK[role]


def _audit(conn, user: str, ip: str | None, ok: bool, reason: str, at: _dt.datetime) -> int:
    return conn.execute(
        "INSERT INTO login_audit (user, ip, ok, reason, at) VALUES (?, ?, ?, ?, ?)",
        (user[:64], ip, int(ok), reason, iso(at)),
    ).lastrowid


def login(db, name: str, password: str, ip: str | None, *, at: _dt.datetime | None = None,
          max_s: int = SESSION_MAX_S) -> tuple[str, dict]:
    """Check credentials; return (session token, session row). Every attempt is audited.

    After LOGIN_MAX_FAILURES failures for the same name within LOGIN_WINDOW_S, further attempts
    on that name are refused without checking the password. A hash made with older scrypt
    parameters is replaced by a current one on a successful login.
    """
    now = utc(at)
    name = (name or "").strip()[:64].encode("utf-8", "replace").decode("utf-8")
    since = iso(now - _dt.timedelta(seconds=LOGIN_WINDOW_S))
    with transaction(db) as conn:
        failures = conn.execute(
            f"SELECT COUNT(*) FROM login_audit WHERE user = ? AND ok = 0 AND at > ?"
            f" AND reason IN ({','.join('?' * len(COUNTED))})", (name, since, *COUNTED),
        ).fetchone()[0]
        limited = failures >= LOGIN_MAX_FAILURES
        attempt = _audit(conn, name, ip, False, "rate-limited" if limited else "checking", now)
    if limited:
        raise RateLimited("登录失败次数过多，请 15 分钟后再试")
    user = next(db.query("SELECT * FROM users WHERE name = ?", [name]), None)
    stored = user["password_hash"] if user else dummy_hash()
    ok = verify_password(password or "", stored)
    reason = "ok" if ok and user and not user["disabled"] else (
        "unknown-user" if not user else "disabled" if ok else "bad-password")
    rehashed = hash_password(password) if reason == "ok" and needs_rehash(stored) else None
    token = secrets.token_urlsafe(32)
    with transaction(db) as conn:
        conn.execute("UPDATE login_audit SET ok = ?, reason = ? WHERE id = ?", (int(reason == "ok"), reason, attempt))
        conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (iso(now),))
        if reason != "ok":
            row = None
        else:
            if rehashed:
                conn.execute("UPDATE users SET password_hash = ? WHERE name = ? AND password_hash = ?",
                             (rehashed, name, stored))
            row = {
                "token_hash": token_hash(token), "user": name,
                "csrf": secrets.token_urlsafe(32), "created_at": iso(now), "last_seen": iso(now),
                "expires_at": iso(now + _dt.timedelta(seconds=max_s)), "ip": ip,
            }
            conn.execute(
                "INSERT INTO sessions (token_hash, user, csrf, created_at, last_seen, expires_at, ip)"
                " VALUES (:token_hash, :user, :csrf, :created_at, :last_seen, :expires_at, :ip)", row)
    if row is None:
        raise AuthError("用户名或密码错误")
    return token, row


def session_user(db, token: str | None, *, at: _dt.datetime | None = None,
                 idle_s: int = SESSION_IDLE_S) -> tuple[dict, dict] | None:
    """(user, session) for a live session token, else None. Refreshes the idle timer."""
    if not token:
        return None
    now = utc(at)
    th = token_hash(token)
    s = next(db.query("SELECT * FROM sessions WHERE token_hash = ?", [th]), None)
    if s is None:
        return None
    idle_limit = iso(now - _dt.timedelta(seconds=idle_s))
    if s["expires_at"] <= iso(now) or s["last_seen"] <= idle_limit:
        with transaction(db) as conn:
            conn.execute("DELETE FROM sessions WHERE token_hash = ?", (th,))
        return None
    user = next(db.query("SELECT name, role, disabled, must_change_password FROM users WHERE name = ?",
                         [s["user"]]), None)
    if user is None or user["disabled"]:
        return None
    # Writing last_seen on every request would serialize readers behind the write lock;
    # once a minute (or a tenth of the idle limit, if shorter) is precise enough.
    if s["last_seen"] < iso(now - _dt.timedelta(seconds=min(60, idle_s / 10))):
        with transaction(db) as conn:
            conn.execute("UPDATE sessions SET last_seen = ? WHERE token_hash = ?", (iso(now), th))
    return user, s


def logout(db, token: str | None, ip: str | None) -> None:
    if not token:
        return
    th = token_hash(token)
    with transaction(db) as conn:
        row = conn.execute("SELECT user FROM sessions WHERE token_hash = ?", (th,)).fetchone()
        conn.execute("DELETE FROM sessions WHERE token_hash = ?", (th,))
        if row:
            _audit(conn, row[0], ip, True, "logout", utc())


def login_audit(db, limit: int = 200) -> list[dict]:
    return list(db.query("SELECT * FROM login_audit ORDER BY id DESC LIMIT ?", [limit]))
