"""The lead auditor's view: reviewer agreement, disagreements, the second-review sample, and the
cases reviewers hold now, which a lead may release or hand to another reviewer (audited)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from pipeline import review
from review_ui import auth
from review_ui.deps import client_ip, get_db, require_csrf, require_role, settings
from review_ui.inputs import PathId, Rate
from review_ui.pages import page

router = APIRouter(dependencies=[Depends(require_role("lead"))])


class ReassignIn(BaseModel):
    user: str = Field(min_length=1, max_length=64, description="接手的审核员")


def lead_data(db, sample_rate: float) -> dict:
    return {"agreement": review.agreement(db),
            "sample": review.second_review_sample(db, rate=max(0.0, min(sample_rate, 1.0))),
            "n_confirmed": len(review.confirmed_findings(db))}


def claims(db) -> list[dict]:
    return [{"record_id": rid, "claimed_by": r["user"], "claimed_at": r["locked_at"], "expires_at": r["expires_at"]}
            for rid, r in sorted(review.live_locks(db).items())]


@router.get("/api/lead", summary="主审：一致率、分歧、二审抽样")
def api_lead(request: Request, sample_rate: Rate = 0.1):
    return lead_data(get_db(request), sample_rate)


@router.get("/api/claims", summary="主审：当前被领取的病例")
def api_claims(request: Request):
    return claims(get_db(request))


@router.post("/api/cases/{record_id}/claim/release", summary="主审：强制释放他人领取的病例",
             dependencies=[Depends(require_csrf)])
def api_force_release(request: Request, record_id: PathId):
    held = review.force_release(get_db(request), record_id, request.state.user["name"], ip=client_ip(request))
    return {"record_id": record_id, "released_from": held}


@router.post("/api/cases/{record_id}/claim/reassign", summary="主审：把病例转给另一位审核员",
             dependencies=[Depends(require_csrf)])
def api_reassign(request: Request, record_id: PathId, body: ReassignIn):
    return reassign(request, record_id, body.user)


def reassign(request: Request, record_id: int, to_user: str) -> dict:
    return review.reassign(get_db(request), record_id, to_user, request.state.user["name"],
                           ttl=settings(request).lock_ttl, ip=client_ip(request))


@router.get("/lead", response_class=HTMLResponse, include_in_schema=False)
def lead_page(request: Request, sample_rate: Rate = 0.1):
    db = get_db(request)
    reviewers = [u["name"] for u in auth.list_users(db) if not u["disabled"]]
    return page(request, "lead.html", {"d": lead_data(db, sample_rate), "sample_rate": sample_rate,
                                       "claims": claims(db), "reviewers": reviewers})


@router.post("/lead/claims/{record_id}/release", include_in_schema=False, dependencies=[Depends(require_csrf)])
def lead_release(request: Request, record_id: PathId):
    review.force_release(get_db(request), record_id, request.state.user["name"], ip=client_ip(request))
    return RedirectResponse("/lead", status_code=303)


@router.post("/lead/claims/{record_id}/reassign", include_in_schema=False, dependencies=[Depends(require_csrf)])
def lead_reassign(request: Request, record_id: PathId, user: str = Form("")):
    reassign(request, record_id, user)
    return RedirectResponse("/lead", status_code=303)
