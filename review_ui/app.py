"""FastAPI app: thin HTTP handlers over ``pipeline.review`` (logic) and ``review_ui.auth``.

Every route except the login page and its static assets needs a session; every state change
needs the session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``).
The OpenAPI description is behind login too: the issue asks that nothing but the login page be
reachable without a session, and the API is only for the firm's own scripts.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import secrets
import threading
from pathlib import Path
from typing import Optional
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from pipeline import review
from pipeline.review import entities as entity_review
from pipeline.pageimages import page_image as page_image_of
from pipeline.store import connect
from review_ui import auth

HERE = Path(__file__).parent
COOKIE = "medreview_session"
LOGIN_COOKIE = "medreview_login"
MAX_IMAGE_WIDTH = 2400
QUEUE_PAGE = 100                 # queue rows per HTML page; /api/queue returns all
CSP = (
    "default-src 'self'; img-src 'self'; script-src 'self'; style-src 'self'; "
    "style-src-attr 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
ACTION_LABELS = {"confirm": "确认", "reject": "驳回", "change": "修改", "add": "新增", "undo": "撤销", "skip": "跳过"}
STATE_LABELS = {"pending": "待审核", "confirmed": "已确认", "rejected": "已驳回", "withdrawn": "已撤回"}
ROLE_LABELS = {"reviewer": "审核员", "lead": "主审", "admin": "管理员"}


def _png(img, _scale: float, max_width: int) -> bytes:
    """Encode for the viewer: boxes are placed in % of the page, so the scale is not needed.

    Grey scans stay one channel and zlib runs at level 1: about 4x faster than an RGB PNG at
    the default level, for files ~15% larger, which matters more on a local network.
    """
    if img.width > max_width:
        img = img.resize((max_width, round(img.height * max_width / img.width)))
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


class NotAuthenticated(Exception):
    pass


class Forbidden(Exception):
    pass


class DecisionIn(BaseModel):
    action: str = Field(description="confirm | reject | change | skip")
    reason_code: Optional[str] = None
    note: Optional[str] = None
    rule_id: Optional[str] = None
    amount: Optional[float] = None
    ms_spent: Optional[int] = None


class AddFlagIn(BaseModel):
    rule_id: str
    rule_name: Optional[str] = None
    reason: Optional[str] = None
    amount: Optional[float] = None
    severity: str = "可疑"
    line_ids: list[int] = []
    charge_ids: list[int] = []
    note: Optional[str] = None
    ms_spent: Optional[int] = None


class EntityCorrectionIn(BaseModel):
    action: str = Field(description="add | remove | relabel | set-attribute")
    entity: Optional[str] = Field(None, description="e<entities.id> or c<correction id> (not for add)")
    label: Optional[str] = None
    section_id: Optional[int] = Field(None, description="add: span in this section's text ...")
    line_id: Optional[int] = Field(None, description="... or in this OCR line's text")
    start: Optional[int] = None
    end: Optional[int] = None
    attributes: dict[str, bool] = {}


class FilterIn(BaseModel):
    hospital: Optional[str] = None
    rule: Optional[str] = None
    reviewer: Optional[str] = None
    date_from: Optional[str] = None
    date_to: Optional[str] = None
    order: Optional[str] = None
    after: Optional[int] = None


class UserIn(BaseModel):
    name: str
    role: str
    password: str


def create_app(db_path: str | Path, *, secret: bytes | str | None = None, cookie_secure: bool = False,
               lock_ttl: int = review.LOCK_TTL_S) -> FastAPI:
    """The review web app over the database at ``db_path`` (migrated on start)."""
    db_path = Path(db_path)
    connect(db_path).conn.close()   # create / upgrade the schema once, before serving
    if isinstance(secret, str):
        secret = secret.encode()
    secret = secret or secrets.token_bytes(32)
    local = threading.local()

    def get_db():
        # sqlite3 connections are per thread; FastAPI runs sync work in a thread pool.
        db = getattr(local, "db", None)
        if db is None:
            db = local.db = connect(db_path, migrate=False)
        return db

    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(ACTION_LABELS=ACTION_LABELS, STATE_LABELS=STATE_LABELS, ROLE_LABELS=ROLE_LABELS)
    templates.env.globals["has_role"] = auth.has_role

    app = FastAPI(title="medreview 审核", version="1", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
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

    @app.exception_handler(NotAuthenticated)
    async def _not_auth(request: Request, exc: NotAuthenticated):
        if wants_json(request):
            return JSONResponse({"error": "需要登录"}, status_code=401)
        nxt = request.url.path if request.method == "GET" else "/"
        return RedirectResponse("/login?next=" + quote(nxt), status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden):
        return _error(request, 403, str(exc) or "权限不足")

    @app.exception_handler(review.ReviewError)
    async def _review_error(request: Request, exc: review.ReviewError):
        return _error(request, exc.status, str(exc))

    @app.exception_handler(auth.AuthError)
    async def _auth_error(request: Request, exc: auth.AuthError):
        return _error(request, 400, str(exc))

    def _error(request: Request, status: int, message: str) -> Response:
        if wants_json(request):
            return JSONResponse({"error": message}, status_code=status)
        user = getattr(request.state, "user", None)
        return templates.TemplateResponse(
            request, "error.html", {"message": message, "status": status, "user": user,
                                     "csrf": getattr(request.state, "csrf", "")}, status_code=status)

    # -- dependencies -----------------------------------------------------------------------

    def require_user(request: Request) -> dict:
        found = auth.session_user(get_db(), request.cookies.get(COOKIE))
        if found is None:
            raise NotAuthenticated()
        user, session = found
        request.state.user, request.state.csrf = user, session["csrf"]
        return user

    def require_role(role: str):
        def dep(user: dict = Depends(require_user)) -> dict:
            if not auth.has_role(user, role):
                raise Forbidden(f"需要{ROLE_LABELS[role]}权限")
            return user
        return dep

    async def require_csrf(request: Request, user: dict = Depends(require_user)) -> None:
        sent = request.headers.get("x-csrf-token")
        if sent is None and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")):
            sent = (await request.form()).get("csrf_token")
        if not sent or not hmac.compare_digest(str(sent), request.state.csrf):
            raise Forbidden("CSRF 校验失败，请刷新页面后重试")

    def page(request: Request, name: str, ctx: dict, status: int = 200) -> HTMLResponse:
        ctx = {"user": request.state.user, "csrf": request.state.csrf, **ctx}
        return templates.TemplateResponse(request, name, ctx, status_code=status)

    def client_ip(request: Request) -> str | None:
        return request.client.host if request.client else None

    # -- login (the only pages without a session) -------------------------------------------

    def login_token() -> str:
        nonce = secrets.token_urlsafe(16)
        return nonce + "." + hmac.new(secret, nonce.encode(), hashlib.sha256).hexdigest()

    def login_token_ok(cookie: str | None, field: str | None) -> bool:
        if not cookie or not field or not hmac.compare_digest(cookie, field) or "." not in cookie:
            return False
        nonce, mac = cookie.split(".", 1)
        return hmac.compare_digest(mac, hmac.new(secret, nonce.encode(), hashlib.sha256).hexdigest())

    def login_page(request: Request, error: str | None, status: int, nxt: str) -> HTMLResponse:
        token = login_token()
        resp = templates.TemplateResponse(
            request, "login.html", {"error": error, "csrf": token, "next": nxt, "user": None}, status_code=status)
        resp.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=cookie_secure, path="/login")
        return resp

    def safe_next(nxt: str | None) -> str:
        # Only local paths: no open redirect to another site.
        return nxt if nxt and nxt.startswith("/") and not nxt.startswith("//") and "\\" not in nxt else "/"

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request, next: str = "/"):
        return login_page(request, None, 200, safe_next(next))

    @app.post("/login", include_in_schema=False)
    def login_submit(request: Request, username: str = Form(""), password: str = Form(""),
                     csrf_token: str = Form(""), next: str = Form("/")):
        nxt = safe_next(next)
        if not login_token_ok(request.cookies.get(LOGIN_COOKIE), csrf_token):
            return login_page(request, "页面已过期，请重新登录", 403, nxt)
        try:
            token, _ = auth.login(get_db(), username, password, client_ip(request))
        except auth.RateLimited as exc:
            return login_page(request, str(exc), 429, nxt)
        except auth.AuthError as exc:
            return login_page(request, str(exc), 401, nxt)
        resp = RedirectResponse(nxt, status_code=303)
        resp.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=cookie_secure,
                        max_age=auth.SESSION_MAX_S, path="/")
        resp.delete_cookie(LOGIN_COOKIE, path="/login")
        return resp

    # -- everything else needs a session ------------------------------------------------------

    r = APIRouter(dependencies=[Depends(require_user)])

    @r.post("/logout", include_in_schema=False, dependencies=[Depends(require_csrf)])
    def logout(request: Request):
        auth.logout(get_db(), request.cookies.get(COOKIE), client_ip(request))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    @r.get("/openapi.json", include_in_schema=False)
    def openapi():
        return JSONResponse(app.openapi())

    @r.get("/api/me", summary="当前用户")
    def api_me(request: Request):
        u = request.state.user
        return {"name": u["name"], "role": u["role"], "csrf_token": request.state.csrf}

    def _filter(hospital, rule, status, reviewer, date_from, date_to, order="") -> review.QueueFilter:
        return review.QueueFilter(hospital or None, rule or None, status or None, reviewer or None,
                                  date_from or None, date_to or None, order or None)

    @r.get("/api/queue", summary="待审队列（按风险排序，order=uncertain 时模型最不确定者优先）")
    def api_queue(hospital: str = "", rule: str = "", status: str = "", reviewer: str = "",
                  date_from: str = "", date_to: str = "", order: str = ""):
        # Plain dicts already: skip FastAPI's recursive encoder, which dominates on big batches.
        return JSONResponse(review.queue(get_db(), _filter(hospital, rule, status, reviewer, date_from, date_to,
                                                           order)))

    @r.get("/", response_class=HTMLResponse, include_in_schema=False)
    def queue_page(request: Request, hospital: str = "", rule: str = "", status: str = "",
                   reviewer: str = "", date_from: str = "", date_to: str = "", order: str = "", p: int = 1):
        q = review.queue(get_db(), _filter(hospital, rule, status, reviewer, date_from, date_to, order))
        n_pages = max(1, -(-len(q["items"]) // QUEUE_PAGE))
        p = min(max(1, p), n_pages)
        return page(request, "queue.html", {
            "q": q, "rows": q["items"][(p - 1) * QUEUE_PAGE: p * QUEUE_PAGE], "offset": (p - 1) * QUEUE_PAGE,
            "p": p, "n_pages": n_pages, "qs": urlencode(q["filter"])})

    @r.post("/api/next", summary="领取下一个待审病例", dependencies=[Depends(require_csrf)])
    def api_next(request: Request, body: FilterIn):
        flt = review.QueueFilter(body.hospital, body.rule, None, body.reviewer, body.date_from, body.date_to,
                                 body.order)
        rid = review.lock_next(get_db(), request.state.user["name"], flt, after=body.after, ttl=lock_ttl)
        return {"record_id": rid}

    @r.post("/next", include_in_schema=False, dependencies=[Depends(require_csrf)])
    def next_case(request: Request, after: Optional[int] = Form(None), hospital: str = Form(""),
                  rule: str = Form(""), reviewer: str = Form(""), date_from: str = Form(""), date_to: str = Form(""),
                  order: str = Form("")):
        flt = _filter(hospital, rule, "", reviewer, date_from, date_to, order)
        rid = review.lock_next(get_db(), request.state.user["name"], flt, after=after, ttl=lock_ttl)
        return RedirectResponse(f"/cases/{rid}" if rid else "/?done=1", status_code=303)

    @r.get("/api/cases/{record_id}", summary="病例详情（字段、疑点、证据、页面、实体、费用）")
    def api_case(request: Request, record_id: int, flag: Optional[int] = None, page_no: Optional[int] = None):
        return JSONResponse(review.case_view(get_db(), record_id, flag_id=flag, page_no=page_no,
                                             user=request.state.user["name"]))

    @r.get("/cases/{record_id}", response_class=HTMLResponse, include_in_schema=False)
    def case_page(request: Request, record_id: int, flag: Optional[int] = None, page_no: Optional[int] = None):
        case = review.case_view(get_db(), record_id, flag_id=flag, page_no=page_no, user=request.state.user["name"])
        ids = [f["id"] for f in case["flags"]]
        cur = case["current_flag_id"]
        k = ids.index(cur) if cur in ids else -1
        nav = {"prev": ids[k - 1] if k > 0 else None, "next": ids[k + 1] if 0 <= k < len(ids) - 1 else None}
        current = next((f for f in case["flags"] if f["id"] == cur), None)
        return page(request, "case.html", {
            "case": case, "current": current, "nav": nav, "reasons": review.reject_reasons(),
            "entity_labels": entity_review.labels(), "attribute_labels": entity_review.ATTRIBUTE_LABELS,
            "readonly": case["claimed_by"] not in (None, request.state.user["name"]),
        })

    @r.post("/api/cases/{record_id}/claim", summary="领取病例", dependencies=[Depends(require_csrf)])
    def api_claim(request: Request, record_id: int):
        return review.lock(get_db(), record_id, request.state.user["name"], ttl=lock_ttl)

    @r.post("/api/cases/{record_id}/release", summary="释放病例", dependencies=[Depends(require_csrf)])
    def api_release(request: Request, record_id: int):
        review.release(get_db(), record_id, request.state.user["name"])
        return {"ok": True}

    @r.post("/api/flags/{flag_id}/decision", summary="对疑点作出决定", dependencies=[Depends(require_csrf)])
    def api_decide(request: Request, flag_id: int, body: DecisionIn):
        return review.decide(get_db(), request.state.user["name"], flag_id, body.action,
                             reason_code=body.reason_code, note=body.note, rule_id=body.rule_id,
                             amount=body.amount, ms_spent=body.ms_spent, ttl=lock_ttl)

    @r.post("/api/cases/{record_id}/undo", summary="撤销本人最近一次操作", dependencies=[Depends(require_csrf)])
    def api_undo(request: Request, record_id: int):
        return review.undo_last(get_db(), request.state.user["name"], record_id, ttl=lock_ttl)

    @r.post("/api/cases/{record_id}/flags", summary="新增系统漏报的疑点", dependencies=[Depends(require_csrf)])
    def api_add(request: Request, record_id: int, body: AddFlagIn):
        return review.add_flag(get_db(), request.state.user["name"], record_id, ttl=lock_ttl,
                               **body.model_dump())

    @r.get("/api/cases/{record_id}/entities", summary="病例的实体（含审核员更正，removed=已删除）")
    def api_entities(record_id: int):
        return entity_review.record_entities(get_db(), record_id, include_removed=True)

    @r.post("/api/cases/{record_id}/entities", summary="更正实体：新增、删除、改类别、改属性",
            dependencies=[Depends(require_csrf)])
    def api_correct_entity(request: Request, record_id: int, body: EntityCorrectionIn):
        return entity_review.correct(get_db(), request.state.user["name"], record_id, body.action, ttl=lock_ttl,
                                     **body.model_dump(exclude={"action"}))

    @r.post("/cases/{record_id}/entities", include_in_schema=False, dependencies=[Depends(require_csrf)])
    async def correct_entity_form(request: Request, record_id: int):
        form = await request.form()

        def num(name):
            v = str(form.get(name) or "")
            return int(v) if v.isdigit() else None

        attr = str(form.get("attribute") or "")
        entity_review.correct(
            get_db(), request.state.user["name"], record_id, str(form.get("action") or ""),
            entity=str(form.get("entity") or "") or None, label=str(form.get("label") or "") or None,
            section_id=num("section_id"), line_id=num("line_id"), start=num("start"), end=num("end"),
            attributes={attr: form.get("value") == "1"} if attr else None, ttl=lock_ttl)
        back = {k: v for k, v in (("flag", num("flag")), ("page_no", num("page_no"))) if v is not None}
        return RedirectResponse(f"/cases/{record_id}?{urlencode(back)}#entities", status_code=303)

    def after_decision(request: Request, record_id: int, flag_id: int | None, action: str) -> RedirectResponse:
        db = get_db()
        case = review.case_view(db, record_id)
        nxt = review.next_flag_id(case, flag_id)
        if nxt is not None and not (action == "skip" and nxt == flag_id):
            return RedirectResponse(f"/cases/{record_id}?flag={nxt}", status_code=303)
        rid = review.lock_next(db, request.state.user["name"], after=record_id, ttl=lock_ttl)
        if rid is None or (rid == record_id and action != "skip"):
            review.release(db, record_id, request.state.user["name"])   # done: let others see it
            return RedirectResponse("/?done=1", status_code=303)
        return RedirectResponse(f"/cases/{rid}", status_code=303)

    @r.post("/cases/{record_id}/flags/{flag_id}/decide", include_in_schema=False, dependencies=[Depends(require_csrf)])
    def decide_form(request: Request, record_id: int, flag_id: int, action: str = Form(...),
                    reason_code: str = Form(""), note: str = Form(""), rule_id: str = Form(""),
                    amount: str = Form(""), ms_spent: str = Form("")):
        if action == "change" and amount.strip():
            try:
                amt = float(amount)
            except ValueError:
                raise review.ReviewError(f"金额无效: {amount}") from None
        else:
            amt = None
        ev = review.decide(get_db(), request.state.user["name"], flag_id, action, reason_code=reason_code or None,
                           note=note, rule_id=rule_id, amount=amt,
                           ms_spent=int(ms_spent) if ms_spent.isdigit() else None, ttl=lock_ttl)
        if ev["payload"]["round"] == 2 and auth.has_role(request.state.user, "lead"):
            return RedirectResponse("/lead", status_code=303)    # second review comes from the lead view
        return after_decision(request, record_id, flag_id, action)

    @r.post("/cases/{record_id}/undo", include_in_schema=False, dependencies=[Depends(require_csrf)])
    def undo_form(request: Request, record_id: int):
        ev = review.undo_last(get_db(), request.state.user["name"], record_id, ttl=lock_ttl)
        return RedirectResponse(f"/cases/{record_id}?flag={ev['flag_id']}", status_code=303)

    @r.post("/cases/{record_id}/claim", include_in_schema=False, dependencies=[Depends(require_csrf)])
    def claim_form(request: Request, record_id: int):
        review.lock(get_db(), record_id, request.state.user["name"], ttl=lock_ttl)
        return RedirectResponse(f"/cases/{record_id}", status_code=303)

    @r.post("/cases/{record_id}/add", include_in_schema=False, dependencies=[Depends(require_csrf)])
    async def add_form(request: Request, record_id: int):
        form = await request.form()
        amount = (form.get("amount") or "").strip()
        ms = str(form.get("ms_spent") or "")

        def ids(name):
            return [int(v) for v in form.getlist(name) if str(v).isdigit()]

        ev = review.add_flag(
            get_db(), request.state.user["name"], record_id, rule_id=str(form.get("rule_id") or ""),
            rule_name=str(form.get("rule_name") or ""), reason=str(form.get("reason") or ""),
            amount=amount or None, severity=str(form.get("severity") or "可疑"),
            line_ids=ids("line_ids"), charge_ids=ids("charge_ids"), note=str(form.get("note") or ""),
            ms_spent=int(ms) if ms.isdigit() else None, ttl=lock_ttl)
        return RedirectResponse(f"/cases/{record_id}?flag={ev['flag_id']}", status_code=303)

    @r.get("/pages/{page_id}/image.png", include_in_schema=False)
    def page_image(page_id: int, w: int = 1400):
        try:
            png = _png(*page_image_of(get_db(), db_path, page_id), max(200, min(w, MAX_IMAGE_WIDTH)))
        except KeyError:
            raise review.NotFound(f"页面不存在: {page_id}") from None
        except OSError:
            raise review.NotFound(f"页面图像无法读取: {page_id}") from None
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    @r.get("/api/reject-reasons", summary="驳回原因代码表")
    def api_reasons():
        return list(review.reject_reasons())

    # -- lead auditor ------------------------------------------------------------------------

    def lead_data(sample_rate: float) -> dict:
        db = get_db()
        return {"agreement": review.agreement(db),
                "sample": review.second_review_sample(db, rate=max(0.0, min(sample_rate, 1.0))),
                "n_confirmed": len(review.confirmed_findings(db))}

    @r.get("/api/lead", summary="主审：一致率、分歧、二审抽样", dependencies=[Depends(require_role("lead"))])
    def api_lead(sample_rate: float = 0.1):
        return lead_data(sample_rate)

    @r.get("/lead", response_class=HTMLResponse, include_in_schema=False, dependencies=[Depends(require_role("lead"))])
    def lead_page(request: Request, sample_rate: float = 0.1):
        return page(request, "lead.html", {"d": lead_data(sample_rate), "sample_rate": sample_rate})

    @r.get("/api/export", summary="导出已确认的违规发现（json 或 csv）", dependencies=[Depends(require_role("lead"))])
    def api_export(format: str = "json"):
        rows = review.confirmed_findings(get_db())
        if format == "csv":
            return PlainTextResponse(review.findings_csv(rows), media_type="text/csv; charset=utf-8",
                                     headers={"Content-Disposition": 'attachment; filename="confirmed_findings.csv"'})
        if format != "json":
            raise review.ReviewError("format 只能是 json 或 csv")
        return rows

    # -- admin -------------------------------------------------------------------------------

    def admin_data() -> dict:
        return {"users": auth.list_users(get_db()), "audit": auth.login_audit(get_db())}

    @r.get("/api/users", summary="用户列表", dependencies=[Depends(require_role("admin"))])
    def api_users():
        return auth.list_users(get_db())

    @r.post("/api/users", summary="新增用户", dependencies=[Depends(require_role("admin")), Depends(require_csrf)])
    def api_add_user(body: UserIn):
        auth.add_user(get_db(), body.name, body.role, body.password)
        return {"name": body.name, "role": body.role}

    @r.get("/api/login-audit", summary="登录审计日志", dependencies=[Depends(require_role("admin"))])
    def api_audit():
        return auth.login_audit(get_db())

    @r.get("/admin", response_class=HTMLResponse, include_in_schema=False, dependencies=[Depends(require_role("admin"))])
    def admin_page(request: Request):
        return page(request, "admin.html", admin_data())

    @r.post("/admin/users", include_in_schema=False, dependencies=[Depends(require_role("admin")), Depends(require_csrf)])
    def admin_add_user(name: str = Form(""), role: str = Form(""), password: str = Form("")):
        auth.add_user(get_db(), name, role, password)
        return RedirectResponse("/admin", status_code=303)

    app.include_router(r)
    return app
