"""Reviewers' corrections of a case's entities: the list with corrections applied, and the
correction itself as JSON or as the case page's form."""
from __future__ import annotations

from typing import Optional
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from pipeline.review import entities as entity_review
from pipeline.review.values import parse_int
from review_ui.deps import get_db, require_csrf, settings
from review_ui.inputs import Id, OptCode, Offset, PathId

router = APIRouter()
MAX_REFS = 200                   # refs one merged row of the entity list may carry


class EntityCorrectionIn(BaseModel):
    action: str = Field(max_length=20, description="add | remove | relabel | set-attribute")
    entity: Optional[str] = Field(None, max_length=24, description="e<entities.id> or c<correction id> (not for add)")
    label: OptCode = None
    section_id: Optional[Id] = Field(None, description="add: span in this section's text ...")
    line_id: Optional[Id] = Field(None, description="... or in this OCR line's text")
    start: Optional[Offset] = None
    end: Optional[Offset] = None
    attributes: dict[str, bool] = Field({}, max_length=10)


@router.get("/api/cases/{record_id}/entities", summary="病例的实体（含审核员更正，removed=已删除）")
def api_entities(request: Request, record_id: PathId):
    return entity_review.record_entities(get_db(request), record_id, include_removed=True)


@router.post("/api/cases/{record_id}/entities", summary="更正实体：新增、删除、改类别、改属性",
             dependencies=[Depends(require_csrf)])
def api_correct_entity(request: Request, record_id: PathId, body: EntityCorrectionIn):
    return entity_review.correct(get_db(request), request.state.user["name"], record_id, body.action,
                                 ttl=settings(request).lock_ttl, **body.model_dump(exclude={"action"}))


@router.post("/cases/{record_id}/entities", include_in_schema=False, dependencies=[Depends(require_csrf)])
async def correct_entity_form(request: Request, record_id: PathId):
    form = await request.form()

    def num(name):
        return parse_int(str(form.get(name) or ""), name)

    attr = str(form.get("attribute") or "")
    # The page lists the same entity found more than once as one row: its edit applies to each.
    refs = [r for r in str(form.get("entity") or "").split(",")[:MAX_REFS] if r.strip()] or [None]
    for ref in refs:
        entity_review.correct(
            get_db(request), request.state.user["name"], record_id, str(form.get("action") or ""),
            entity=ref, label=str(form.get("label") or "") or None,
            section_id=num("section_id"), line_id=num("line_id"), start=num("start"), end=num("end"),
            attributes={attr: form.get("value") == "1"} if attr else None, ttl=settings(request).lock_ttl)
    # Back to the entity list, keeping the flag and page the reviewer was looking at.
    back = {k: v for k, v in (("flag", num("flag")), ("page_no", num("page_no"))) if v is not None}
    return RedirectResponse(f"/cases/{record_id}?{urlencode(back)}#entities", status_code=303)
