"""Logging in and out, the current user, and the OpenAPI description (which needs a session too).

The login form has no session to hold a CSRF token, so it carries a signed token that must match
a cookie scoped to ``/login`` (double submit).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from review_ui import auth
from review_ui.deps import COOKIE, client_ip, get_db, require_csrf, settings
from review_ui.pages import templates

LOGIN_COOKIE = "medreview_login"

public = APIRouter()   # the only routes without a session
router = APIRouter()


def login_token(secret: bytes) -> str:
    nonce = secrets.token_urlsafe(16)
    return nonce + "." + hmac.new(secret, nonce.encode(), hashlib.sha256).hexdigest()


def login_token_ok(secret: bytes, cookie: str | None, field: str | None) -> bool:
    if not cookie or not field or not hmac.compare_digest(cookie, field) or "." not in cookie:
        return False
    nonce, mac = cookie.split(".", 1)
    return hmac.compare_digest(mac, hmac.new(secret, nonce.encode(), hashlib.sha256).hexdigest())


def login_page(request: Request, error: str | None, status: int, nxt: str) -> HTMLResponse:
    cfg = settings(request)
    token = login_token(cfg.secret)
    resp = templates.TemplateResponse(
        request, "login.html", {"error": error, "csrf": token, "next": nxt, "user": None}, status_code=status)
    resp.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=cfg.cookie_secure, path="/login")
    return resp


def safe_next(nxt: str | None) -> str:
    # Only local paths: no open redirect to another site.
    return nxt if nxt and nxt.startswith("/") and not nxt.startswith("//") and "\\" not in nxt else "/"


@public.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request, next: str = "/"):
    return login_page(request, None, 200, safe_next(next))


@public.post("/login", include_in_schema=False)
def login_submit(request: Request, username: str = Form(""), password: str = Form(""),
                 csrf_token: str = Form(""), next: str = Form("/")):
    nxt = safe_next(next)
    cfg = settings(request)
    if not login_token_ok(cfg.secret, request.cookies.get(LOGIN_COOKIE), csrf_token):
        return login_page(request, "页面已过期，请重新登录", 403, nxt)
    try:
        token, _ = auth.login(get_db(request), username, password, client_ip(request), max_s=cfg.session_max_s)
    except auth.RateLimited as exc:
        return login_page(request, str(exc), 429, nxt)
    except auth.AuthError as exc:
        return login_page(request, str(exc), 401, nxt)
    resp = RedirectResponse(nxt, status_code=303)
    resp.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=cfg.cookie_secure,
                    max_age=cfg.session_max_s, path="/")
    resp.delete_cookie(LOGIN_COOKIE, path="/login")
    return resp


@router.post("/logout", include_in_schema=False, dependencies=[Depends(require_csrf)])
def logout(request: Request):
    auth.logout(get_db(request), request.cookies.get(COOKIE), client_ip(request))
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE, path="/")
    return resp


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request):
    return JSONResponse(request.app.openapi())


@router.get("/api/me", summary="当前用户")
def api_me(request: Request):
    u = request.state.user
    return {"name": u["name"], "role": u["role"], "csrf_token": request.state.csrf,
            "must_change_password": bool(u["must_change_password"])}
