"""The lead auditor's view: progress per reviewer and per hospital, decisions per day, assignment
of hospitals and cases to reviewers, the blind second-review sample (its rate kept), agreement
(pairwise, Cohen's κ per rule), disagreements, and the cases reviewers hold now, which a lead
may release or hand to another reviewer (audited)."""
from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from pipeline import review
from pipeline.review import assign as assignments, lead as lead_checks
from review_ui import auth
from review_ui.deps import client_ip, get_db, require_csrf, require_role, settings
from review_ui.inputs import PathId, Rate
from review_ui.pages import page

router = APIRouter(dependencies=[Depends(require_role("lead"))])


class ReassignIn(BaseModel):
    user: str = Field(min_length=1, max_length=64, description="接手的审核员")


class AssignIn(BaseModel):
    kind: str = Field(max_length=20, description="hospital | record | second")
    target: str = Field(min_length=1, max_length=64, description="医院编号、病例编号或疑点编号")
    user: Optional[str] = Field(None, max_length=64, description="审核员；空表示收回")


def lead_data(db, sample_rate: float | None = None) -> dict:
    rate = lead_checks.sample_rate(db) if sample_rate is None else max(0.0, min(sample_rate, 1.0))
    return {"agreement": review.agreement(db), "progress": lead_checks.progress(db),
            "sample": lead_checks.sample(db, rate=rate), "sample_rate": rate,
            "n_confirmed": len(review.confirmed_findings(db))}


def claims(db) -> list[dict]:
    locks = review.live_locks(db)
    names = {r["id"]: r for r in db.query(
        "SELECT r.id, r.admission_no, COALESCE(h.name, r.hospital_id) AS hospital FROM records r"
        " LEFT JOIN hospitals h ON h.id = r.hospital_id")} if locks else {}
    return [{"record_id": rid, "claimed_by": r["user"], "claimed_at": r["locked_at"], "expires_at": r["expires_at"],
             "hospital": names.get(rid, {}).get("hospital"), "admission_no": names.get(rid, {}).get("admission_no")}
            for rid, r in sorted(locks.items())]


@router.get("/api/lead", summary="主审：进度、一致率与 κ、分歧、二审抽样（sample_rate 缺省为已保存的比例）")
def api_lead(request: Request, sample_rate: Optional[Rate] = None):
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


@router.post("/api/assignments", summary="主审：把医院、病例或疑点二审分配给审核员（user 为空则收回）",
             dependencies=[Depends(require_csrf)])
def api_assign(request: Request, body: AssignIn):
    return assignments.assign(get_db(request), request.state.user["name"], body.kind, body.target,
                              body.user or None, ip=client_ip(request))


@router.post("/api/lead/sample-rate", summary="主审：保存二审抽样比例（0–1）", dependencies=[Depends(require_csrf)])
def api_sample_rate(request: Request, rate: Rate):
    return {"sample_rate": lead_checks.set_sample_rate(get_db(request), rate, request.state.user["name"],
                                                       ip=client_ip(request))}


def reassign(request: Request, record_id: int, to_user: str) -> dict:
    return review.reassign(get_db(request), record_id, to_user, request.state.user["name"],
                           ttl=settings(request).lock_ttl, ip=client_ip(request))


def render_lead(request: Request, *, error: dict | None = None, status: int = 200) -> HTMLResponse:
    db = get_db(request)
    reviewers = [u["name"] for u in auth.list_users(db) if not u["disabled"]]
    pending_cases = [r for r in db.query(
        "SELECT DISTINCT r.id, r.admission_no, COALESCE(h.name, r.hospital_id) AS hospital FROM records r"
        " JOIN flags f ON f.record_id = r.id LEFT JOIN hospitals h ON h.id = r.hospital_id ORDER BY r.id")]
    return page(request, "lead.html", {"d": lead_data(db), "claims": claims(db), "reviewers": reviewers,
                                       "assigned": assignments.current(db), "cases": pending_cases,
                                       "error": error or {}}, status=status)


@router.get("/lead", response_class=HTMLResponse, include_in_schema=False)
def lead_page(request: Request):
    return render_lead(request)


@router.post("/lead/sample-rate", include_in_schema=False, dependencies=[Depends(require_csrf)])
def lead_sample_rate(request: Request, sample_rate: str = Form("")):
    try:
        rate = float(sample_rate.strip().rstrip("%")) / (100 if sample_rate.strip().endswith("%") else 1)
        lead_checks.set_sample_rate(get_db(request), rate, request.state.user["name"], ip=client_ip(request))
    except (ValueError, review.ReviewError) as exc:
        message = str(exc) if isinstance(exc, review.ReviewError) else "抽样比例须是数字（例如 0.1 或 10%）"
        return render_lead(request, error={"field": "sample_rate", "message": message, "value": sample_rate},
                           status=400)
    return RedirectResponse("/lead#sample", status_code=303)


@router.post("/lead/assign", include_in_schema=False, dependencies=[Depends(require_csrf)])
def lead_assign(request: Request, kind: str = Form(""), target: str = Form(""), user: str = Form("")):
    try:
        assignments.assign(get_db(request), request.state.user["name"], kind, target, user or None,
                           ip=client_ip(request))
    except review.ReviewError as exc:
        return render_lead(request, error={"field": f"assign-{kind}", "message": str(exc), "value": target},
                           status=exc.status)
    return RedirectResponse(f"/lead#assign-{kind}", status_code=303)


@router.post("/lead/claims/{record_id}/release", include_in_schema=False, dependencies=[Depends(require_csrf)])
def lead_release(request: Request, record_id: PathId):
    review.force_release(get_db(request), record_id, request.state.user["name"], ip=client_ip(request))
    return RedirectResponse("/lead", status_code=303)


@router.post("/lead/claims/{record_id}/reassign", include_in_schema=False, dependencies=[Depends(require_csrf)])
def lead_reassign(request: Request, record_id: PathId, user: str = Form("")):
    reassign(request, record_id, user)
    return RedirectResponse("/lead", status_code=303)
