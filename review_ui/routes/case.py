"""One case: its page and JSON, locking it, decisions on its flags, undo, adding a missed flag,
its page images, and the reject reasons the decision form offers.

The web API says "claim" (``/cases/{id}/claim``, ``claimed_by``) for what ``pipeline.review``
calls a lock; handler names follow the routes, since the API's operation ids come from them.
"""
from __future__ import annotations

import io
from typing import Optional

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from pipeline import review
from pipeline.pageimages import page_image as page_image_of
from pipeline.review import entities as entity_review
from pipeline.review.values import parse_int
from review_ui import auth
from review_ui.deps import SafeJSONResponse, get_db, require_csrf, settings
from review_ui.masking import mask_case
from review_ui.inputs import Amount, Id, OptCode, OptText, PageNo, PathId, Text, Width, MsSpent
from review_ui.pages import page

MAX_IMAGE_WIDTH = 2400

router = APIRouter()


class DecisionIn(BaseModel):
    action: str = Field(max_length=20, description="confirm | reject | change | skip")
    reason_code: OptCode = None
    note: OptText = None
    rule_id: OptCode = None
    amount: Optional[Amount] = None
    ms_spent: Optional[MsSpent] = None


class AddFlagIn(BaseModel):
    rule_id: Text
    reason: OptText = None
    amount: Optional[Amount] = None
    severity: str = Field("可疑", max_length=20)
    line_ids: list[Id] = Field([], max_length=1000)
    charge_ids: list[Id] = Field([], max_length=1000)
    note: OptText = None
    ms_spent: Optional[MsSpent] = None


class UndoIn(BaseModel):
    expect: Optional[Id] = Field(None, description="撤销的目标事件（病例详情的 undo_target）；已撤销则不重复撤销")


def viewer_png(img, _scale: float, max_width: int) -> bytes:
    """Encode a page image for the viewer; boxes are placed in % of the page, so the scale is not needed.

    Grey scans stay one channel and zlib runs at level 1: much faster to encode than an RGB PNG
    at the default level, for slightly larger files, which matters more on a local network.
    """
    if img.width > max_width:
        img = img.resize((max_width, round(img.height * max_width / img.width)))
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def user_name(request: Request) -> str:
    return request.state.user["name"]


def case_for(request: Request, record_id: int, flag: int | None = None, page_no: int | None = None) -> dict:
    """The case as this user may see it (ID numbers masked by role, blind second reviews)."""
    case = review.case_view(get_db(request), record_id, flag_id=flag, page_no=page_no, user=user_name(request))
    return mask_case(case, request.state.user)


@router.get("/api/cases/{record_id}", summary="病例详情（字段、疑点、证据、页面、实体、费用）")
def api_case(request: Request, record_id: PathId, flag: Optional[Id] = None, page_no: Optional[PageNo] = None):
    return SafeJSONResponse(case_for(request, record_id, flag, page_no))


def render_case(request: Request, record_id: int, flag: int | None = None, page_no: int | None = None, *,
                form_error: dict | None = None, status: int = 200) -> HTMLResponse:
    """The case page; ``form_error`` ({form, field, message, values}) shows a refused form again
    with what was typed and the message beside the field at fault."""
    case = case_for(request, record_id, flag, page_no)
    ids = [f["id"] for f in case["flags"]]
    cur = case["current_flag_id"]
    k = ids.index(cur) if cur in ids else -1
    nav = {"prev": ids[k - 1] if k > 0 else None, "next": ids[k + 1] if 0 <= k < len(ids) - 1 else None}
    current = next((f for f in case["flags"] if f["id"] == cur), None)
    reasons = review.reject_reasons()
    return page(request, "case.html", {
        "case": case, "current": current, "nav": nav, "reasons": reasons,
        "reason_labels": {r["code"]: r["label"] for r in reasons}, "rule_choices": review.rule_choices(),
        "entity_labels": entity_review.labels(), "attribute_labels": entity_review.ATTRIBUTE_LABELS,
        "readonly": case["claimed_by"] not in (None, user_name(request)), "form_error": form_error,
    }, status=status)


def refused(request: Request, record_id: int, flag: int | None, form: str, exc: review.ReviewError,
            values: dict) -> HTMLResponse:
    """A form the library refused: the case again, the input kept, the message beside its field.
    A case that does not exist (or a lock someone else holds) has no form to go back to."""
    if isinstance(exc, review.NotFound):
        raise exc
    return render_case(request, record_id, flag, form_error={"form": form, "field": exc.field, "message": str(exc),
                                                             "values": values}, status=exc.status)


@router.get("/cases/{record_id}", response_class=HTMLResponse, include_in_schema=False)
def case_page(request: Request, record_id: PathId, flag: Optional[Id] = None, page_no: Optional[PageNo] = None):
    return render_case(request, record_id, flag, page_no)


@router.post("/api/cases/{record_id}/claim", summary="领取病例", dependencies=[Depends(require_csrf)])
def api_claim(request: Request, record_id: PathId):
    return review.lock(get_db(request), record_id, user_name(request), ttl=settings(request).lock_ttl)


@router.post("/api/cases/{record_id}/release", summary="释放本人领取的病例（他人领取的答 409）",
             dependencies=[Depends(require_csrf)])
def api_release(request: Request, record_id: PathId):
    return {"ok": True, "released": review.release(get_db(request), record_id, user_name(request))}


@router.post("/api/flags/{flag_id}/decision", summary="对疑点作出决定", dependencies=[Depends(require_csrf)])
def api_decide(request: Request, flag_id: PathId, body: DecisionIn):
    return review.decide(get_db(request), user_name(request), flag_id, body.action,
                         reason_code=body.reason_code, note=body.note, rule_id=body.rule_id,
                         amount=body.amount, ms_spent=body.ms_spent, ttl=settings(request).lock_ttl)


@router.post("/api/cases/{record_id}/undo", summary="撤销本人最近一次操作", dependencies=[Depends(require_csrf)])
def api_undo(request: Request, record_id: PathId, body: Optional[UndoIn] = None):
    return review.undo_last(get_db(request), user_name(request), record_id, expect=body.expect if body else None,
                            ttl=settings(request).lock_ttl)


@router.post("/api/cases/{record_id}/flags", summary="新增系统漏报的疑点", dependencies=[Depends(require_csrf)])
def api_add(request: Request, record_id: PathId, body: AddFlagIn):
    return review.add_flag(get_db(request), user_name(request), record_id, ttl=settings(request).lock_ttl,
                           **body.model_dump())


def after_decision(request: Request, record_id: int, flag_id: int | None, action: str) -> RedirectResponse:
    """Where the form goes after a decision: the case's next open flag, else the next case in the queue."""
    db, user = get_db(request), user_name(request)
    case = review.case_view(db, record_id)
    nxt = review.next_flag_id(case, flag_id)
    if nxt is not None and not (action == "skip" and nxt == flag_id):
        return RedirectResponse(f"/cases/{record_id}?flag={nxt}", status_code=303)
    rid = review.lock_next(db, user, after=record_id, ttl=settings(request).lock_ttl)
    if rid is None or (rid == record_id and action != "skip"):
        try:
            review.release(db, record_id, user)   # done: let others see it
        except review.LockConflict:
            pass                                  # the lock had expired and someone else took the case
        return RedirectResponse("/?done=1", status_code=303)
    return RedirectResponse(f"/cases/{rid}", status_code=303)


@router.post("/cases/{record_id}/flags/{flag_id}/decide", include_in_schema=False,
             dependencies=[Depends(require_csrf)])
def decide_form(request: Request, record_id: PathId, flag_id: PathId, action: str = Form(...),
                reason_code: str = Form(""), note: str = Form(""), rule_id: str = Form(""),
                amount: str = Form(""), ms_spent: str = Form("")):
    try:
        ev = review.decide(get_db(request), user_name(request), flag_id, action, reason_code=reason_code or None,
                           note=note, rule_id=rule_id, amount=amount if action == "change" else None,
                           ms_spent=ms_spent, ttl=settings(request).lock_ttl)
    except review.ReviewError as exc:
        return refused(request, record_id, flag_id, action, exc,
                       {"reason_code": reason_code, "note": note, "rule_id": rule_id, "amount": amount})
    if ev["payload"]["round"] == 2 and auth.has_role(request.state.user, "lead"):
        return RedirectResponse("/lead", status_code=303)    # second review comes from the lead view
    return after_decision(request, record_id, flag_id, action)


@router.post("/cases/{record_id}/undo", include_in_schema=False, dependencies=[Depends(require_csrf)])
def undo_form(request: Request, record_id: PathId, expect: str = Form("")):
    ev = review.undo_last(get_db(request), user_name(request), record_id, expect=parse_int(expect, "撤销目标"),
                          ttl=settings(request).lock_ttl)
    return RedirectResponse(f"/cases/{record_id}?flag={ev['flag_id']}", status_code=303)


@router.post("/cases/{record_id}/claim", include_in_schema=False, dependencies=[Depends(require_csrf)])
def claim_form(request: Request, record_id: PathId):
    review.lock(get_db(request), record_id, user_name(request), ttl=settings(request).lock_ttl)
    return RedirectResponse(f"/cases/{record_id}", status_code=303)


@router.post("/cases/{record_id}/add", include_in_schema=False, dependencies=[Depends(require_csrf)])
def add_form(request: Request, record_id: PathId, rule_id: str = Form(""),
             reason: str = Form(""), amount: str = Form(""), severity: str = Form("可疑"), note: str = Form(""),
             ms_spent: str = Form(""), line_ids: list[str] = Form([]), charge_ids: list[str] = Form([])):
    try:
        ev = review.add_flag(
            get_db(request), user_name(request), record_id, rule_id=rule_id, reason=reason,
            amount=amount, severity=severity or "可疑",
            line_ids=[parse_int(v, "文字行编号") for v in line_ids if v.strip()],
            charge_ids=[parse_int(v, "费用行编号") for v in charge_ids if v.strip()], note=note,
            ms_spent=ms_spent, ttl=settings(request).lock_ttl)
    except review.ReviewError as exc:
        return refused(request, record_id, None, "add", exc,
                       {"rule_id": rule_id, "reason": reason, "amount": amount, "severity": severity})
    return RedirectResponse(f"/cases/{record_id}?flag={ev['flag_id']}", status_code=303)


@router.get("/pages/{page_id}/image.png", include_in_schema=False)
def page_image(request: Request, page_id: PathId, w: Width = 1400):
    try:
        png = viewer_png(*page_image_of(get_db(request), settings(request).db_path, page_id),
                         max(200, min(w, MAX_IMAGE_WIDTH)))
    except KeyError:
        raise review.NotFound(f"页面不存在: {page_id}") from None
    except OSError:
        raise review.NotFound(f"页面图像无法读取: {page_id}") from None
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/api/reject-reasons", summary="驳回原因代码表")
def api_reasons():
    return list(review.reject_reasons())
