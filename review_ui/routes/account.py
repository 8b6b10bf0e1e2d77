"""The user's own account: changing the password (required after an admin reset it)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel

from review_ui import accounts, auth
from review_ui.deps import COOKIE, client_ip, get_db, require_csrf
from review_ui.inputs import Secret
from review_ui.pages import page

router = APIRouter()


class PasswordIn(BaseModel):
    old_password: Secret
    new_password: Secret


@router.post("/api/me/password", summary="修改本人密码", dependencies=[Depends(require_csrf)])
def api_change_password(request: Request, body: PasswordIn):
    accounts.change_password(get_db(request), request.state.user["name"], body.old_password, body.new_password,
                             keep_token=request.cookies.get(COOKIE), ip=client_ip(request))
    return {"ok": True}


@router.get("/password", response_class=HTMLResponse, include_in_schema=False)
def password_page(request: Request):
    return page(request, "password.html", {"error": None, "forced": bool(request.state.user["must_change_password"])})


@router.post("/password", include_in_schema=False, dependencies=[Depends(require_csrf)])
def password_submit(request: Request, old_password: str = Form(""), new_password: str = Form(""),
                    new_password2: str = Form("")):
    forced = bool(request.state.user["must_change_password"])
    try:
        if new_password != new_password2:
            raise auth.AuthError("两次输入的新密码不一致")
        accounts.change_password(get_db(request), request.state.user["name"], old_password, new_password,
                                 keep_token=request.cookies.get(COOKIE), ip=client_ip(request))
    except auth.AuthError as exc:
        return page(request, "password.html", {"error": str(exc), "forced": forced}, status=400)
    return RedirectResponse("/", status_code=303)
