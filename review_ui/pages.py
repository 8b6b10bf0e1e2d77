"""HTML rendering: the Jinja2 templates with the Chinese labels they show, and ``page`` for handlers."""
from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from review_ui import auth

ACTION_LABELS = {"confirm": "确认", "reject": "驳回", "change": "修改", "add": "新增", "undo": "撤销", "skip": "跳过"}
STATE_LABELS = {"pending": "待审核", "confirmed": "已确认", "rejected": "已驳回", "withdrawn": "已撤回",
                "appeal_upheld": "申诉成立（不计违规）"}
# A case's status: pending while any flag is; else confirmed when any flag is (a violation), else rejected.
CASE_STATE_LABELS = {"pending": "待审核", "confirmed": "审完·有违规", "rejected": "审完·无违规"}
ROLE_LABELS = {"reviewer": "审核员", "lead": "主审", "admin": "管理员"}

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.globals.update(ACTION_LABELS=ACTION_LABELS, STATE_LABELS=STATE_LABELS, ROLE_LABELS=ROLE_LABELS,
                             CASE_STATE_LABELS=CASE_STATE_LABELS, has_role=auth.has_role)


def page(request: Request, name: str, ctx: dict, status: int = 200) -> HTMLResponse:
    """Render a template for the logged-in user; every page needs the user and the CSRF token for its forms."""
    ctx = {"user": request.state.user, "csrf": request.state.csrf, **ctx}
    return templates.TemplateResponse(request, name, ctx, status_code=status)
