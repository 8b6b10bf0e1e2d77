"""Excel workbook: summary sheet, per-rule and per-rule-class sheets, confirmed findings with evidence and page
references, and the failed records / rejected inputs behind the coverage statement."""
from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from pipeline.report import casemix

BOLD = Font(bold=True)
TITLE = Font(bold=True, size=14)

SCOPE_COLUMNS = (
    ("received", "收到病历数"), ("processed", "已处理"), ("failed", "处理失败"), ("in_progress", "处理中"),
    ("flagged", "疑点病历数"), ("reviewed", "已审核病历数"), ("confirmed_records", "确认违规病历数"),
    ("confirmed_findings", "确认违规条数"), ("amount_wan", "涉及金额(万元)"), ("amount_yuan", "涉及金额(元)"),
)
RULE_COLUMNS = (
    ("rule_id", "规则编号"), ("rule_name", "规则名称"), ("flags", "疑点条数"), ("records_flagged", "疑点病历数"),
    ("confirmed", "确认违规"), ("rejected", "驳回"), ("pending", "待审核"),
    ("amount_flagged_yuan", "疑点金额(元)"), ("amount_yuan", "确认金额(元)"), ("amount_wan", "确认金额(万元)"),
)
CLASS_COLUMNS = (
    ("rule_class", "规则类别"), ("source", "来源"), ("flags", "疑点条数"), ("records_flagged", "疑点病历数"),
    ("amount_flagged_yuan", "疑点金额(元)"), ("confirmed", "确认违规"), ("amount_yuan", "确认金额(元)"),
    ("amount_wan", "确认金额(万元)"),
)
FINDING_COLUMNS = (
    ("hospital_id", "医院编号"), ("hospital_name", "医院名称"), ("admission_no", "住院号"),
    ("patient_name", "患者姓名"), ("id_number", "身份证号"), ("record_id", "病历ID"), ("flag_id", "疑点ID"),
    ("rule_id", "规则编号"), ("rule_name", "规则名称"), ("severity", "性质"), ("amount", "涉及金额(元)"),
    ("reason", "疑点说明"), ("evidence_text", "证据原文"), ("evidence_pages", "证据页码"),
    ("source", "来源"), ("confirmed_by", "确认人"), ("confirmed_at", "确认时间"), ("note", "审核备注"),
)


def _put(ws, row: int, col: int, value, font=None):
    cell = ws.cell(row=row, column=col, value=value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        cell.data_type = "s"   # record text must never become a formula in Excel
    if font:
        cell.font = font
    return cell


def _table(ws, row: int, columns, items, *, wrap: set[str] = frozenset()) -> int:
    for c, (_, head) in enumerate(columns, 1):
        _put(ws, row, c, head, BOLD)
    for item in items:
        row += 1
        for c, (key, _) in enumerate(columns, 1):
            v = item.get(key)
            cell = _put(ws, row, c, ", ".join(map(str, v)) if isinstance(v, list) else v)
            if key in wrap:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    return row + 2


def _widths(ws, widths: dict[int, int]) -> None:
    for col, w in widths.items():
        ws.column_dimensions[get_column_letter(col)].width = w


def write(fig: dict, findings: list[dict], path: Path) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = "汇总"
    b = fig["batch"]
    _put(ws, 1, 1, f"医保住院病历审核报告 — {b['name'] or '本批次'}", TITLE)
    _put(ws, 2, 1, fig["coverage"]["statement"])
    row = 4
    _put(ws, row, 1, "批次汇总", BOLD)
    row = _table(ws, row + 1, (("name", "批次"),) + SCOPE_COLUMNS, [b])
    _put(ws, row, 1, "分医院", BOLD)
    hosp_cols = (("hospital_id", "医院编号"), ("name", "医院名称")) + SCOPE_COLUMNS + (("top_rules_text", "主要违规规则"),)
    hosp_rows = [{**h, "top_rules_text": "；".join(f"{t['rule_id']} {t['rule_name'] or ''}({t['confirmed']})" for t in h["top_rules"])}
                 for h in fig["hospitals"]]
    row = _table(ws, row + 1, hosp_cols, hosp_rows)
    _put(ws, row, 1, "主要违规规则（按确认条数）", BOLD)
    _table(ws, row + 1, (("rule_id", "规则编号"), ("rule_name", "规则名称"), ("confirmed", "确认违规条数"),
                         ("amount_wan", "涉及金额(万元)")), b["top_rules"])
    _widths(ws, {1: 16, 2: 22, **{c: 12 for c in range(3, 13)}, 13: 40})

    ws = wb.create_sheet("分规则")
    _table(ws, 1, RULE_COLUMNS, fig["rules"])
    _widths(ws, {1: 16, 2: 30})

    ws = wb.create_sheet("分规则类别")
    _table(ws, 1, CLASS_COLUMNS, [{**c, "source": "国家两库" if c["national"] else "规则目录"} for c in fig["rule_classes"]])
    _widths(ws, {1: 30, 2: 12})

    ws = wb.create_sheet("确认违规明细")
    _table(ws, 1, FINDING_COLUMNS, findings, wrap={"evidence_text", "reason", "note"})
    _widths(ws, {2: 20, 4: 10, 5: 20, 9: 24, 12: 36, 13: 60, 14: 10, 18: 24})
    ws.freeze_panes = "A2"

    ws = wb.create_sheet("处理失败与拒收")
    row = _table(ws, 1, (("hospital_id", "医院编号"), ("stage", "失败环节"), ("reason", "原因"), ("records", "病历数")),
                 fig["coverage"]["failed_reasons"])
    _table(ws, row, (("path", "拒收文件"), ("reason", "原因")), fig["coverage"]["inputs"]["rejected_list"])
    _widths(ws, {1: 24, 2: 14, 3: 60})

    casemix.excel_sheet(wb, fig.get("casemix"), _put, BOLD)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
