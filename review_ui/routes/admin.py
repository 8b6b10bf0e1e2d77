"""Administration: user accounts and the login audit log."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel

from review_ui import auth
from review_ui.deps import get_db, require_csrf, require_role
from review_ui.pages import page

router = APIRouter(dependencies=[Depends(require_role("admin"))])


class UserIn(BaseModel):
    name: str
    role: str
    password: str


@router.get("/api/users", summary="用户列表")
def api_users(request: Request):
    return auth.list_users(get_db(request))


@router.post("/api/users", summary="新增用户", dependencies=[Depends(require_csrf)])
def api_add_user(request: Request, body: UserIn):
    auth.add_user(get_db(request), body.name, body.role, body.password)
    return {"name": body.name, "role": body.role}


@router.get("/api/login-audit", summary="登录审计日志")
def api_audit(request: Request):
    return auth.login_audit(get_db(request))


@router.get("/admin", response_class=HTMLResponse, include_in_schema=False)
def admin_page(request: Request):
    db = get_db(request)
    return page(request, "admin.html", {"users": auth.list_users(db), "audit": auth.login_audit(db)})


@router.post("/admin/users", include_in_schema=False, dependencies=[Depends(require_csrf)])
def admin_add_user(request: Request, name: str = Form(""), role: str = Form(""), password: str = Form("")):
    auth.add_user(get_db(request), name, role, password)
    return RedirectResponse("/admin", status_code=303)
