"""What route handlers share: the app's settings, a database connection per thread, and the session,
role and CSRF checks used as FastAPI dependencies."""
from __future__ import annotations

import hmac
import json
import threading
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils
from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from pipeline.review.values import finite_tree
from pipeline.store import connect
from review_ui import auth
from review_ui.pages import ROLE_LABELS

COOKIE = "medreview_session"


class NotAuthenticated(Exception):
    """No live session: the app answers 401 for the API and a redirect to the login page otherwise."""


class Forbidden(Exception):
    """Logged in, but the role or the CSRF token does not allow this request (403)."""


class PasswordChangeRequired(Exception):
    """The account's password was reset: nothing but choosing a new one until that is done."""


# What a user whose password was reset may still reach.
PASSWORD_CHANGE_PATHS = ("/password", "/api/me", "/api/me/password", "/logout")


@dataclass(frozen=True)
class Settings:
    """What ``create_app`` was given, kept on ``app.state.settings`` for the handlers."""
    db_path: Path
    secret: bytes           # signs the login form's token
    cookie_secure: bool     # cookies carry Secure (served over HTTPS)
    lock_ttl: int           # seconds a case lock lasts without activity
    session_idle_s: int = auth.SESSION_IDLE_S
    session_max_s: int = auth.SESSION_MAX_S


class SafeJSONResponse(JSONResponse):
    """JSON that never fails to encode: a stored non-finite number becomes null, a lone
    surrogate U+FFFD (the fast path is tried first; the repair only runs on a bad row)."""

    def render(self, content) -> bytes:
        try:
            return super().render(content)
        except (ValueError, UnicodeEncodeError):
            return json.dumps(finite_tree(content), ensure_ascii=False, allow_nan=False, indent=None,
                              separators=(",", ":")).encode("utf-8")


def install(app, settings: Settings) -> None:
    """Attach the settings and the per-thread connection slot to ``app``."""
    app.state.settings = settings
    app.state.connections = threading.local()


def settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> sqlite_utils.Database:
    """This thread's connection to the app's database.

    sqlite3 connections belong to the thread that opened them and FastAPI runs sync work in a
    thread pool, so call this inside the handler (not as a ``Depends``, which may run elsewhere).
    """
    local = request.app.state.connections
    db = getattr(local, "db", None)
    if db is None:
        db = local.db = connect(settings(request).db_path, migrate=False)
        # Text that is not valid UTF-8 in one row reads as U+FFFD instead of failing the whole query.
        db.conn.text_factory = lambda b: b.decode("utf-8", "replace")
    return db


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def require_user(request: Request) -> dict:
    """The session's user; also puts the user and the session's CSRF token on ``request.state``."""
    found = auth.session_user(get_db(request), request.cookies.get(COOKIE), idle_s=settings(request).session_idle_s)
    if found is None:
        raise NotAuthenticated()
    user, session = found
    request.state.user, request.state.csrf = user, session["csrf"]
    if user["must_change_password"] and request.url.path not in PASSWORD_CHANGE_PATHS:
        raise PasswordChangeRequired()
    return user


def require_role(role: str):
    """A dependency admitting users with ``role`` or a higher one."""
    def dep(user: dict = Depends(require_user)) -> dict:
        if not auth.has_role(user, role):
            raise Forbidden(f"需要{ROLE_LABELS[role]}权限")
        return user
    return dep


async def require_csrf(request: Request, user: dict = Depends(require_user)) -> None:
    """State changes must carry the session's CSRF token: header ``X-CSRF-Token`` or form field ``csrf_token``."""
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        sent = (await request.form()).get("csrf_token")
    if not sent or not hmac.compare_digest(str(sent), request.state.csrf):
        raise Forbidden("CSRF 校验失败，请刷新页面后重试")
