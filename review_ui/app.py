"""``create_app``: the review web app assembled from its routers, with security headers and error pages.

Every route except the login page and its static assets needs a session; every state change
needs the session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``).
The OpenAPI description is behind login too, so that nothing but the login page is reachable
without a session; the API is only for the firm's own scripts.
"""
from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from pipeline import review
from pipeline.store import connect
from review_ui import auth
from review_ui.deps import Forbidden, NotAuthenticated, Settings, install, require_user
from review_ui.pages import templates
from review_ui.routes import admin, case, entities, export, lead, login, queue

CSP = (
    "default-src 'self'; img-src 'self'; script-src 'self'; style-src 'self'; "
    "style-src-attr 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SESSION_ROUTERS = (login.router, queue.router, case.router, entities.router, lead.router, export.router,
                   admin.router)


def create_app(db_path: str | Path, *, secret: bytes | str | None = None, cookie_secure: bool = False,
               lock_ttl: int = review.LOCK_TTL_S) -> FastAPI:
    """The review web app over the database at ``db_path`` (migrated on start).

    ``secret`` signs login-form tokens (random per process when omitted); ``lock_ttl`` is how long
    a reviewer's lock on a case lasts without activity.
    """
    db_path = Path(db_path)
    connect(db_path).conn.close()   # create / upgrade the schema once, before serving
    if isinstance(secret, str):
        secret = secret.encode()
    app = FastAPI(title="medreview 审核", version="1", docs_url=None, redoc_url=None, openapi_url=None)
    install(app, Settings(db_path, secret or secrets.token_bytes(32), cookie_secure, lock_ttl))
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    app.middleware("http")(security_headers)
    app.add_exception_handler(NotAuthenticated, not_authenticated)
    app.add_exception_handler(Forbidden, forbidden)
    app.add_exception_handler(review.ReviewError, review_error)
    app.add_exception_handler(auth.AuthError, auth_error)
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
    if not request.url.path.startswith("/static/") and "cache-control" not in resp.headers:
        resp.headers["Cache-Control"] = "no-store"
    return resp


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/openapi.json"


def error_response(request: Request, status: int, message: str) -> Response:
    """``{"error": message}`` for the API, the error page for a browser."""
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


async def review_error(request: Request, exc: review.ReviewError):
    return error_response(request, exc.status, str(exc))


async def auth_error(request: Request, exc: auth.AuthError):
    return error_response(request, 400, str(exc))
