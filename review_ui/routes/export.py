"""Export of the confirmed findings for the lead auditor, as JSON or CSV.

Free text (the flag's reason, the reviewer's note) is masked like the report: the patient's name,
ID numbers and phone numbers never leave unmasked unless ``unmasked=true`` is asked for, and
that is written to the audit trail with who asked."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse

from pipeline import review
from pipeline.report import mask as masking
from pipeline.review import audit
from pipeline.store import transaction
from review_ui.deps import client_ip, get_db, require_role

router = APIRouter(dependencies=[Depends(require_role("lead"))])


@router.get("/api/export", summary="导出已确认的违规发现（json 或 csv；默认脱敏，unmasked=true 记入审计）")
def api_export(request: Request, format: str = "json",
               unmasked: bool = Query(False, description="不脱敏导出（含患者姓名、证件号、电话），记入审计日志")):
    if format not in ("json", "csv"):
        raise review.ReviewError("format 只能是 json 或 csv")
    db = get_db(request)
    rows = review.confirmed_findings(db)
    if unmasked:
        with transaction(db) as conn:
            audit.record(conn, request.state.user["name"], "export-unmasked", None,
                         detail={"format": format, "rows": len(rows)}, ip=client_ip(request))
    else:
        rows = masking.mask_findings(db, rows)
    if format == "csv":
        return PlainTextResponse(review.findings_csv(rows), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="confirmed_findings.csv"'})
    return rows
