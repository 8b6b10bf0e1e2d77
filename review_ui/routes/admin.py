"""Administration: user accounts (add, disable, enable, reset password), sessions (list, end),
the login audit log and the audit trail of what admins and leads did."""
from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from pipeline.review import audit
from review_ui import accounts, auth
from review_ui.deps import COOKIE, client_ip, get_db, require_csrf, require_role
from review_ui.inputs import Secret
from review_ui.pages import page

router = APIRouter(dependencies=[Depends(require_role("admin"))])


class UserIn(BaseModel):
    name: Secret
    role: str = Field(max_length=20)
    password: Secret


class ResetIn(BaseModel):
    password: Secret = Field(description="临时密码；用户下次登录时必须修改")


def actor(request: Request) -> str:
    return request.state.user["name"]


@router.get("/api/users", summary="用户列表")
def api_users(request: Request):
    return auth.list_users(get_db(request))


@router.post("/api/users", summary="新增用户", dependencies=[Depends(require_csrf)])
def api_add_user(request: Request, body: UserIn):
    auth.add_user(get_db(request), body.name, body.role, body.password, by=actor(request), ip=client_ip(request))
    return {"name": body.name.strip(), "role": body.role}


@router.post("/api/users/{name}/disable", summary="停用用户（结束其会话、释放其病例）",
             dependencies=[Depends(require_csrf)])
def api_disable(request: Request, name: str):
    return accounts.set_disabled(get_db(request), name, True, by=actor(request), ip=client_ip(request))


@router.post("/api/users/{name}/enable", summary="启用用户", dependencies=[Depends(require_csrf)])
def api_enable(request: Request, name: str):
    return accounts.set_disabled(get_db(request), name, False, by=actor(request), ip=client_ip(request))


@router.post("/api/users/{name}/password", summary="重置密码（下次登录须修改）", dependencies=[Depends(require_csrf)])
def api_reset_password(request: Request, name: str, body: ResetIn):
    return accounts.reset_password(get_db(request), name, body.password, by=actor(request), ip=client_ip(request))


@router.get("/api/sessions", summary="在线会话")
def api_sessions(request: Request, user: Optional[str] = None):
    return accounts.sessions(get_db(request), user or None)


@router.post("/api/sessions/{session_id}/end", summary="结束会话", dependencies=[Depends(require_csrf)])
def api_end_session(request: Request, session_id: str):
    return accounts.end_session(get_db(request), session_id, by=actor(request),
                                current_token=request.cookies.get(COOKIE), ip=client_ip(request))


@router.get("/api/login-audit", summary="登录审计日志")
def api_audit(request: Request):
    return auth.login_audit(get_db(request))


@router.get("/api/audit", summary="管理操作审计日志（账号、会话、病例锁定、未脱敏导出）")
def api_admin_audit(request: Request):
    return audit.entries(get_db(request))


@router.get("/admin", response_class=HTMLResponse, include_in_schema=False)
def admin_page(request: Request):
    db = get_db(request)
    return page(request, "admin.html", {"users": auth.list_users(db), "audit": auth.login_audit(db),
                                        "sessions": accounts.sessions(db), "actions": audit.entries(db, 100)})


@router.post("/admin/users", include_in_schema=False, dependencies=[Depends(require_csrf)])
def admin_add_user(request: Request, name: str = Form(""), role: str = Form(""), password: str = Form("")):
    auth.add_user(get_db(request), name, role, password, by=actor(request), ip=client_ip(request))
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/users/{name}/disable", include_in_schema=False, dependencies=[Depends(require_csrf)])
def admin_disable(request: Request, name: str):
    accounts.set_disabled(get_db(request), name, True, by=actor(request), ip=client_ip(request))
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/users/{name}/enable", include_in_schema=False, dependencies=[Depends(require_csrf)])
def admin_enable(request: Request, name: str):
    accounts.set_disabled(get_db(request), name, False, by=actor(request), ip=client_ip(request))
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/users/{name}/password", include_in_schema=False, dependencies=[Depends(require_csrf)])
def admin_reset_password(request: Request, name: str, password: str = Form("")):
    accounts.reset_password(get_db(request), name, password, by=actor(request), ip=client_ip(request))
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/sessions/{session_id}/end", include_in_schema=False, dependencies=[Depends(require_csrf)])
def admin_end_session(request: Request, session_id: str):
    accounts.end_session(get_db(request), session_id, by=actor(request), current_token=request.cookies.get(COOKIE),
                         ip=client_ip(request))
    return RedirectResponse("/admin", status_code=303)
