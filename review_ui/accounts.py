"""Account management: disable and enable accounts, reset a password (the user must choose a new
one at the next login), change one's own password, list sessions and end them. Every change is
written to the audit trail in the same transaction."""
from __future__ import annotations

import datetime as _dt

from pipeline.clock import iso, utc
from pipeline.review import audit
from pipeline.review.locks import release_user
from pipeline.store import transaction
from review_ui.auth import AuthError, UnknownAccount, check_password, token_hash
from review_ui.passwords import hash_password, verify_password


def _user(conn, name: str) -> tuple:
    row = conn.execute("SELECT name, role, disabled FROM users WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise UnknownAccount(f"用户不存在: {name}")
    return row


def _active_admins(conn) -> int:
    return conn.execute("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0").fetchone()[0]


def set_disabled(db, name: str, disabled: bool, *, by: str, ip: str | None = None) -> dict:
    """Disable (ending the user's sessions and freeing their cases) or enable an account."""
    if disabled and name == by:
        raise AuthError("不能停用自己的账号")
    with transaction(db) as conn:
        _, role, was = _user(conn, name)
        if disabled and role == "admin" and not was and _active_admins(conn) <= 1:
            raise AuthError("不能停用最后一个管理员")
        conn.execute("UPDATE users SET disabled = ? WHERE name = ?", (int(disabled), name))
        ended = freed = 0
        if disabled:
            ended = conn.execute("DELETE FROM sessions WHERE user = ?", (name,)).rowcount
            freed = release_user(conn, name)
        audit.record(conn, by, "user-disable" if disabled else "user-enable", name,
                     detail={"sessions_ended": ended, "locks_released": freed} if disabled else None, ip=ip)
    return {"name": name, "disabled": disabled}


def reset_password(db, name: str, password: str, *, by: str, ip: str | None = None) -> dict:
    """Set a temporary password; the user must change it at the next login; their sessions end."""
    if name == by:
        raise AuthError("请在“修改密码”页面修改自己的密码")
    digest = hash_password(check_password(password))
    with transaction(db) as conn:
        _user(conn, name)
        conn.execute("UPDATE users SET password_hash = ?, must_change_password = 1, password_changed_at = ?"
                     " WHERE name = ?", (digest, iso(utc()), name))
        ended = conn.execute("DELETE FROM sessions WHERE user = ?", (name,)).rowcount
        audit.record(conn, by, "password-reset", name, detail={"sessions_ended": ended}, ip=ip)
    return {"name": name, "must_change_password": True}


def change_password(db, name: str, old: str, new: str, *, keep_token: str | None = None,
                    ip: str | None = None) -> None:
    """The user's own change: the old password must match and the new one differ; the user's
    other sessions end (``keep_token``'s stays)."""
    row = next(db.query("SELECT password_hash FROM users WHERE name = ?", [name]), None)
    if row is None or not verify_password(old or "", row["password_hash"]):
        raise AuthError("原密码错误")
    if new == old:
        raise AuthError("新密码不能与原密码相同")
    digest = hash_password(check_password(new))
    keep = token_hash(keep_token) if keep_token else ""
    with transaction(db) as conn:
        conn.execute("UPDATE users SET password_hash = ?, must_change_password = 0, password_changed_at = ?"
                     " WHERE name = ?", (digest, iso(utc()), name))
        ended = conn.execute("DELETE FROM sessions WHERE user = ? AND token_hash != ?", (name, keep)).rowcount
        audit.record(conn, name, "password-change", name, detail={"sessions_ended": ended}, ip=ip)


def sessions(db, user: str | None = None, *, at: _dt.datetime | None = None) -> list[dict]:
    """Live sessions (newest first); ``id`` names one without revealing its token."""
    sql = ("SELECT substr(token_hash, 1, 16) AS id, user, ip, created_at, last_seen, expires_at FROM sessions"
           " WHERE expires_at > ?")
    args: list = [iso(utc(at))]
    if user:
        sql += " AND user = ?"
        args.append(user)
    return list(db.query(sql + " ORDER BY created_at DESC", args))


def end_session(db, session_id: str, *, by: str, current_token: str | None = None, ip: str | None = None) -> dict:
    """End one session by its id (not the caller's own: that is logging out)."""
    if not (len(session_id) == 16 and all(c in "0123456789abcdef" for c in session_id)):
        raise AuthError("会话编号无效")
    if current_token and token_hash(current_token).startswith(session_id):
        raise AuthError("不能结束当前会话，请使用“退出”")
    with transaction(db) as conn:
        row = conn.execute("SELECT user FROM sessions WHERE substr(token_hash, 1, 16) = ?", (session_id,)).fetchone()
        if row is None:
            raise UnknownAccount("会话不存在或已结束")
        conn.execute("DELETE FROM sessions WHERE substr(token_hash, 1, 16) = ?", (session_id,))
        audit.record(conn, by, "session-end", row[0], detail={"session": session_id}, ip=ip)
    return {"id": session_id, "user": row[0]}


def end_user_sessions(db, name: str, *, by: str, ip: str | None = None) -> int:
    """End every session of a user (the command line's way to log someone out)."""
    with transaction(db) as conn:
        _user(conn, name)
        n = conn.execute("DELETE FROM sessions WHERE user = ?", (name,)).rowcount
        audit.record(conn, by, "session-end", name, detail={"sessions_ended": n}, ip=ip)
    return n
