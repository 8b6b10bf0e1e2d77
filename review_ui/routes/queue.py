"""The review queue (HTML page and JSON) and taking the next case from it."""
from __future__ import annotations

from typing import Optional
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel

from pipeline import review
from pipeline.review import assign
from pipeline.review.values import parse_int
from review_ui.deps import SafeJSONResponse, get_db, require_csrf, settings
from review_ui.inputs import Id, OptCode, PageNo
from review_ui.pages import page

QUEUE_PAGE = 100                 # queue rows per HTML page; /api/queue returns all

router = APIRouter()


class FilterIn(BaseModel):
    hospital: OptCode = None
    rule: OptCode = None
    reviewer: OptCode = None
    date_from: OptCode = None
    date_to: OptCode = None
    order: OptCode = None
    after: Optional[Id] = None


def queue_filter(hospital, rule, status, reviewer, date_from, date_to, order="") -> review.QueueFilter:
    """Query-string and form values, where an empty string means no filter."""
    return review.QueueFilter(hospital or None, rule or None, status or None, reviewer or None,
                              date_from or None, date_to or None, order or None)


@router.get("/api/queue", summary="待审队列（按风险排序，order=uncertain 时模型最不确定者优先）")
def api_queue(request: Request, hospital: str = "", rule: str = "", status: str = "", reviewer: str = "",
              date_from: str = "", date_to: str = "", order: str = ""):
    # Plain dicts already: skip FastAPI's recursive encoder, which dominates on big batches.
    return SafeJSONResponse(review.queue(get_db(request), queue_filter(hospital, rule, status, reviewer, date_from,
                                                                   date_to, order)))


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def queue_page(request: Request, hospital: str = "", rule: str = "", status: str = "",
               reviewer: str = "", date_from: str = "", date_to: str = "", order: str = "", p: PageNo = 1):
    db = get_db(request)
    q = review.queue(db, queue_filter(hospital, rule, status, reviewer, date_from, date_to, order))
    n_pages = max(1, -(-len(q["items"]) // QUEUE_PAGE))
    p = min(max(1, p), n_pages)
    return page(request, "queue.html", {
        "q": q, "rows": q["items"][(p - 1) * QUEUE_PAGE: p * QUEUE_PAGE], "offset": (p - 1) * QUEUE_PAGE,
        "p": p, "n_pages": n_pages, "qs": urlencode(q["filter"]),
        "tasks": assign.second_tasks(db, request.state.user["name"]),
        "rule_names": {r["id"]: r["name"] for r in q["choices"]["rules"]}})


@router.post("/api/next", summary="领取下一个待审病例", dependencies=[Depends(require_csrf)])
def api_next(request: Request, body: FilterIn):
    flt = review.QueueFilter(body.hospital, body.rule, None, body.reviewer, body.date_from, body.date_to,
                             body.order)
    rid = review.lock_next(get_db(request), request.state.user["name"], flt, after=body.after,
                           ttl=settings(request).lock_ttl)
    return {"record_id": rid}


@router.post("/next", include_in_schema=False, dependencies=[Depends(require_csrf)])
def next_case(request: Request, after: str = Form(""), hospital: str = Form(""),
              rule: str = Form(""), reviewer: str = Form(""), date_from: str = Form(""), date_to: str = Form(""),
              order: str = Form("")):
    flt = queue_filter(hospital, rule, "", reviewer, date_from, date_to, order)
    rid = review.lock_next(get_db(request), request.state.user["name"], flt, after=parse_int(after, "病例编号"),
                           ttl=settings(request).lock_ttl)
    return RedirectResponse(f"/cases/{rid}" if rid else "/?done=1", status_code=303)
