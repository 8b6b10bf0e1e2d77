"""Reviewers' corrections of a case's entities: the list with corrections applied, and the
correction itself as JSON or as the case page's form."""
from __future__ import annotations

from typing import Optional
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from pipeline.review import entities as entity_review
from review_ui.deps import get_db, require_csrf, settings

router = APIRouter()


class EntityCorrectionIn(BaseModel):
    action: str = Field(description="add | remove | relabel | set-attribute")
    entity: Optional[str] = Field(None, description="e<entities.id> or c<correction id> (not for add)")
    label: Optional[str] = None
    section_id: Optional[int] = Field(None, description="add: span in this section's text ...")
    line_id: Optional[int] = Field(None, description="... or in this OCR line's text")
    start: Optional[int] = None
    end: Optional[int] = None
    attributes: dict[str, bool] = {}


@router.get("/api/cases/{record_id}/entities", summary="病例的实体（含审核员更正，removed=已删除）")
def api_entities(request: Request, record_id: int):
    return entity_review.record_entities(get_db(request), record_id, include_removed=True)


@router.post("/api/cases/{record_id}/entities", summary="更正实体：新增、删除、改类别、改属性",
             dependencies=[Depends(require_csrf)])
def api_correct_entity(request: Request, record_id: int, body: EntityCorrectionIn):
    return entity_review.correct(get_db(request), request.state.user["name"], record_id, body.action,
                                 ttl=settings(request).lock_ttl, **body.model_dump(exclude={"action"}))


@router.post("/cases/{record_id}/entities", include_in_schema=False, dependencies=[Depends(require_csrf)])
async def correct_entity_form(request: Request, record_id: int):
    form = await request.form()

    def num(name):
        v = str(form.get(name) or "")
        return int(v) if v.isdigit() else None

    attr = str(form.get("attribute") or "")
    entity_review.correct(
        get_db(request), request.state.user["name"], record_id, str(form.get("action") or ""),
        entity=str(form.get("entity") or "") or None, label=str(form.get("label") or "") or None,
        section_id=num("section_id"), line_id=num("line_id"), start=num("start"), end=num("end"),
        attributes={attr: form.get("value") == "1"} if attr else None, ttl=settings(request).lock_ttl)
    # Back to the entity list, keeping the flag and page the reviewer was looking at.
    back = {k: v for k, v in (("flag", num("flag")), ("page_no", num("page_no"))) if v is not None}
    return RedirectResponse(f"/cases/{record_id}?{urlencode(back)}#entities", status_code=303)
