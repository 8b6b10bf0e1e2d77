"""Export of the confirmed findings for the lead auditor, as JSON or CSV."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse

from pipeline import review
from review_ui.deps import get_db, require_role

router = APIRouter(dependencies=[Depends(require_role("lead"))])


@router.get("/api/export", summary="导出已确认的违规发现（json 或 csv）")
def api_export(request: Request, format: str = "json"):
    rows = review.confirmed_findings(get_db(request))
    if format == "csv":
        return PlainTextResponse(review.findings_csv(rows), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="confirmed_findings.csv"'})
    if format != "json":
        raise review.ReviewError("format 只能是 json 或 csv")
    return rows
