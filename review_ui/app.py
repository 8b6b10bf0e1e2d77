"""``create_app``: the review web app assembled from its routers, with security headers and error pages.

Every route except the login page and its static assets needs a session; every state change
needs the session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``).
The OpenAPI description is behind login too, so that nothing but the login page is reachable
without a session; the API is only for the firm's own scripts.

Hostile input stops at the edge: ``RequestGuard`` limits the body size and answers any
unhandled error with a generic 500 (logged without request values), request values are checked
against ``review_ui.inputs`` (422 naming the field, without echoing the value), and the client
address comes from ``X-Forwarded-For`` only when the connection is from one of
``forwarded_allow_ips``.
"""
from __future__ import annotations

import secrets
from pathlib import Path
from typing import Iterable
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from pipeline import review
from pipeline.store import connect
from review_ui import auth
from review_ui.deps import (Forbidden, NotAuthenticated, PasswordChangeRequired, SafeJSONResponse, Settings, install,
                            require_user)
from review_ui.guard import MAX_BODY, BodyTooLarge, RequestGuard
from review_ui.pages import templates
from review_ui.routes import account, admin, case, entities, export, lead, login, queue

CSP = (
    "default-src 'self'; img-src 'self'; script-src 'self'; style-src 'self'; "
    "style-src-attr 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SESSION_ROUTERS = (login.router, account.router, queue.router, case.router, entities.router, lead.router,
                   export.router, admin.router)


def create_app(db_path: str | Path, *, secret: bytes | str | None = None, cookie_secure: bool = False,
               lock_ttl: int = review.LOCK_TTL_S, idle_timeout: int = auth.SESSION_IDLE_S,
               session_max: int = auth.SESSION_MAX_S, forwarded_allow_ips: Iterable[str] = (),
               max_body: int = MAX_BODY) -> FastAPI:
    """The review web app over the database at ``db_path`` (migrated on start).

    ``secret`` signs login-form tokens (random per process when omitted); ``cookie_secure`` marks
    cookies Secure (serve over HTTPS); ``lock_ttl`` is how long a reviewer's lock on a case lasts
    without activity; ``idle_timeout`` / ``session_max`` end a session after that many seconds
    without a request / after login; ``forwarded_allow_ips`` are the reverse proxies whose
    ``X-Forwarded-For`` is believed (none by default); ``max_body`` limits request bodies (bytes).
    """
    db_path = Path(db_path)
    connect(db_path).conn.close()   # create / upgrade the schema once, before serving
    if isinstance(secret, str):
        secret = secret.encode()
    app = FastAPI(title="medreview 审核", version="1", docs_url=None, redoc_url=None, openapi_url=None,
                  default_response_class=SafeJSONResponse)
    install(app, Settings(db_path, secret or secrets.token_bytes(32), cookie_secure, lock_ttl,
                          idle_timeout, session_max))
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    app.add_middleware(RequestGuard, max_body=max_body)
    proxies = [p.strip() for p in forwarded_allow_ips if p.strip()]
    if proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=proxies)
    app.middleware("http")(security_headers)
    app.add_exception_handler(NotAuthenticated, not_authenticated)
    app.add_exception_handler(Forbidden, forbidden)
    app.add_exception_handler(PasswordChangeRequired, password_change_required)
    app.add_exception_handler(review.ReviewError, review_error)
    app.add_exception_handler(auth.AuthError, auth_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(BodyTooLarge, body_too_large)
    app.include_router(login.public)
    for router in SESSION_ROUTERS:
        app.include_router(router, dependencies=[Depends(require_user)])
    return app


async def security_headers(request: Request, call_next):
    resp = await call_next(request)
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["X-Frame-Options"] = "DENY"
    if request.app.state.settings.cookie_secure:
        resp.headers["Strict-Transport-Security"] = "max-age=31536000"
    if not request.url.path.startswith("/static/") and "cache-control" not in resp.headers:
        resp.headers["Cache-Control"] = "no-store"
    return resp


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/openapi.json"


def error_response(request: Request, status: int, message: str) -> Response:
    """``{"error": message}`` for the API, the error page for a browser."""
    message = message.encode("utf-8", "replace").decode("utf-8")
    if wants_json(request):
        return JSONResponse({"error": message}, status_code=status)
    user = getattr(request.state, "user", None)
    return templates.TemplateResponse(
        request, "error.html", {"message": message, "status": status, "user": user,
                                 "csrf": getattr(request.state, "csrf", "")}, status_code=status)


async def not_authenticated(request: Request, exc: NotAuthenticated):
    if wants_json(request):
        return JSONResponse({"error": "需要登录"}, status_code=401)
    nxt = request.url.path if request.method == "GET" else "/"
    return RedirectResponse("/login?next=" + quote(nxt), status_code=303)


async def forbidden(request: Request, exc: Forbidden):
    return error_response(request, 403, str(exc) or "权限不足")


async def password_change_required(request: Request, exc: PasswordChangeRequired):
    if wants_json(request) or request.method != "GET":
        return error_response(request, 403, "密码已被重置，请先修改密码")
    return RedirectResponse("/password", status_code=303)


async def review_error(request: Request, exc: review.ReviewError):
    return error_response(request, exc.status, str(exc))


async def auth_error(request: Request, exc: auth.AuthError):
    return error_response(request, exc.status, str(exc))


FIELD_LABELS = {"record_id": "病例编号", "flag_id": "疑点编号", "page_id": "页面编号", "page_no": "页码",
                "flag": "疑点编号", "sample_rate": "抽样比例", "amount": "金额", "rule_id": "规则编号",
                "line_ids": "文字行", "charge_ids": "费用行", "w": "图像宽度"}


async def invalid_request(request: Request, exc: RequestValidationError):
    """Which fields are wrong and why, without echoing what was sent (it may be patient text,
    or not encodable at all). A browser page whose address names no valid case or flag answers
    as not found, in words a reviewer reads."""
    errors = exc.errors()
    if not wants_json(request) and request.method == "GET" and any(e.get("loc", ("",))[0] == "path" for e in errors):
        return error_response(request, 404, "找不到该页面：地址中的编号应为数字（例如 /cases/12）")
    parts = []
    for e in errors[:5]:
        loc = [str(x) for x in e.get("loc", ()) if x != "body"]
        if not wants_json(request):
            loc = [x for x in loc if x not in ("path", "query")]
        where = "·".join(x if wants_json(request) else FIELD_LABELS.get(x, x) for x in loc) or "请求"
        msg = str(e.get("msg", "无效")).removeprefix("Value error, ")
        parts.append(f"{where}: {msg}")
    return error_response(request, 422, "请求参数无效 — " + "；".join(parts))


async def body_too_large(request: Request, exc: BodyTooLarge):
    return error_response(request, 413, "请求内容过大")
