"""The lead auditor's view: reviewer agreement, disagreements and the second-review sample."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from pipeline import review
from review_ui.deps import get_db, require_role
from review_ui.pages import page

router = APIRouter(dependencies=[Depends(require_role("lead"))])


def lead_data(db, sample_rate: float) -> dict:
    return {"agreement": review.agreement(db),
            "sample": review.second_review_sample(db, rate=max(0.0, min(sample_rate, 1.0))),
            "n_confirmed": len(review.confirmed_findings(db))}


@router.get("/api/lead", summary="主审：一致率、分歧、二审抽样")
def api_lead(request: Request, sample_rate: float = 0.1):
    return lead_data(get_db(request), sample_rate)


@router.get("/lead", response_class=HTMLResponse, include_in_schema=False)
def lead_page(request: Request, sample_rate: float = 0.1):
    return page(request, "lead.html", {"d": lead_data(get_db(request), sample_rate), "sample_rate": sample_rate})
