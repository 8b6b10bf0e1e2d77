"""Excel workbook: a summary sheet (the headline, who audited whom and when, the pending warning,
the batch and per-hospital tables and charts), a sheet per hospital and per rule, the per-rule and
per-rule-class tables with legal basis and rule class, all confirmed findings with evidence and page
references, and the failed records / rejected inputs behind the coverage statement.

Every table has a frozen header and a filter; amounts carry number formats (元 and 万元 with two
decimals). The sheets are written by the functions in ``SHEETS``, in order. Free text comes masked
from the caller (``pipeline.report.mask``)."""
from __future__ import annotations

import re
from pathlib import Path

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from pipeline.report import casemix
from pipeline.report.settings import ReportSettings

BOLD = Font(bold=True)
TITLE = Font(bold=True, size=14)
HEADLINE = Font(bold=True, size=13)
WARN = Font(bold=True, color="9C5700")
HEAD_FILL = PatternFill("solid", fgColor="EEF2F7")
YUAN = "#,##0.00"
WAN = "#,##0.00"
COUNT = "#,##0"

# (key, heading, number format or None, width)
SCOPE_COLUMNS = (
    ("received", "收到病历数", COUNT, 10), ("processed", "已处理", COUNT, 8), ("failed", "处理失败", COUNT, 8),
    ("in_progress", "处理中", COUNT, 8), ("flagged", "疑点病历数", COUNT, 10), ("reviewed", "已审核病历数", COUNT, 11),
    ("pending_flags", "待审核疑点", COUNT, 10), ("confirmed_records", "违规病例数", COUNT, 10),
    ("confirmed_findings", "确认违规条数", COUNT, 11), ("amount_yuan", "涉及违规费用(元)", YUAN, 15),
    ("amount_wan", "涉及违规费用(万元)", WAN, 15), ("overlap_yuan", "重叠未重复计入(元)", YUAN, 15),
)
RULE_COLUMNS = (
    ("rule_name", "规则名称", None, 26), ("rule_id", "规则编号", None, 22), ("rule_class", "规则类别", None, 18),
    ("legal_basis", "法规依据", None, 44), ("flags", "疑点条数", COUNT, 9), ("records_flagged", "疑点病历数", COUNT, 10),
    ("confirmed", "确认违规", COUNT, 9), ("rejected", "驳回", COUNT, 7), ("appeal_upheld", "申诉成立", COUNT, 9),
    ("pending", "待审核", COUNT, 8),
    ("amount_flagged_yuan", "疑点金额(元)", YUAN, 13), ("amount_gross_yuan", "确认金额(元)", YUAN, 13),
    ("overlap_yuan", "与其他规则重叠(元)", YUAN, 15), ("amount_yuan", "计入合计(元)", YUAN, 13),
    ("amount_wan", "计入合计(万元)", WAN, 13),
)
CLASS_COLUMNS = (
    ("rule_class", "规则类别", None, 28), ("source", "来源", None, 10), ("flags", "疑点条数", COUNT, 9),
    ("records_flagged", "疑点病历数", COUNT, 10), ("amount_flagged_yuan", "疑点金额(元)", YUAN, 13),
    ("confirmed", "确认违规", COUNT, 9), ("amount_yuan", "确认金额(元)", YUAN, 13), ("amount_wan", "确认金额(万元)", WAN, 13),
)
FINDING_COLUMNS = (
    ("hospital_name", "医院", None, 18), ("admission_no", "住院号", None, 12), ("patient_name", "患者姓名", None, 9),
    ("id_number", "身份证号", None, 20), ("rule_name", "规则名称", None, 24), ("rule_class", "规则类别", None, 16),
    ("legal_basis", "法规依据", None, 36), ("severity", "性质", None, 9), ("amount", "涉及金额(元)", YUAN, 12),
    ("amount_counted", "计入合计(元)", YUAN, 12), ("reason", "疑点说明", None, 40), ("evidence_text", "证据原文", None, 50),
    ("evidence_pages", "证据页码", None, 9), ("appeal", "申诉", None, 10), ("confirmed_by", "确认人", None, 10),
    ("confirmed_at", "确认时间", None, 20), ("note", "审核备注", None, 24), ("rule_id", "规则编号", None, 20),
    ("hospital_id", "医院编号", None, 10), ("record_id", "病历ID", None, 8), ("flag_id", "疑点ID", None, 8),
)
WRAP = {"evidence_text", "reason", "note", "legal_basis"}
BAD_TITLE = re.compile(r"[\\/*?:\[\]]")


def _put(ws, row: int, col: int, value, font=None, fmt: str | None = None):
    cell = ws.cell(row=row, column=col, value=value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        cell.data_type = "s"   # record text must never become a formula in Excel
    if font:
        cell.font = font
    if fmt and isinstance(value, (int, float)):
        cell.number_format = fmt
    return cell


def _table(ws, row: int, columns, items, *, freeze: bool = False, widths: bool = True) -> tuple[int, int]:
    """Write a table with its header at ``row``; returns (header row, last row). The header gets a
    filter (one per sheet, Excel's rule) when ``freeze`` and is frozen with it."""
    for c, (_, head, _, width) in enumerate(columns, 1):
        cell = _put(ws, row, c, head, BOLD)
        cell.fill = HEAD_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
        if widths:
            ws.column_dimensions[get_column_letter(c)].width = max(width, ws.column_dimensions[get_column_letter(c)].width or 0)
    last = row
    for item in items:
        last += 1
        for c, (key, _, fmt, _) in enumerate(columns, 1):
            v = item.get(key)
            cell = _put(ws, last, c, ", ".join(map(str, v)) if isinstance(v, list) else v, fmt=fmt)
            if key in WRAP:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    if freeze:
        ws.freeze_panes = ws.cell(row=row + 1, column=1)
        ws.auto_filter.ref = f"A{row}:{get_column_letter(len(columns))}{max(last, row + 1)}"
    return row, last


def _title(wb, text: str) -> str:
    """A sheet title Excel accepts (31 characters, none of \\/*?:[]) that the workbook does not have yet."""
    base = BAD_TITLE.sub("_", text)[:31]
    name, k = base, 2
    while name in wb.sheetnames:
        suffix = f"({k})"
        name, k = base[:31 - len(suffix)] + suffix, k + 1
    return name


def _bar(ws, title: str, cats: tuple[int, int, int], data: tuple[int, int, int], anchor: str, y_title: str):
    """A bar chart over a table already on ``ws``: ``cats`` / ``data`` = (column, first row, last row),
    the data's first row being its header."""
    chart = BarChart()
    chart.type = "bar"
    chart.title = title
    chart.y_axis.title = y_title
    chart.legend = None
    chart.height, chart.width = 7.5, 16
    chart.add_data(Reference(ws, min_col=data[0], min_row=data[1], max_row=data[2]), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=cats[0], min_row=cats[1], max_row=cats[2]))
    ws.add_chart(chart, anchor)


def _col(columns, key) -> int:
    return next(i for i, c in enumerate(columns, 1) if c[0] == key)


def summary(wb, fig, findings, settings: ReportSettings):
    ws = wb.active
    ws.title = "汇总"
    b = fig["batch"]
    _put(ws, 1, 1, settings.title, TITLE)
    small = f"（{b['amount_yuan']:,.2f} 元）" if b["amount_yuan"] < 10000 else ""
    _put(ws, 2, 1, f"{fig['headline']}{small}。", HEADLINE)
    row = 3
    if fig["pending_warning"]:
        _put(ws, row, 1, "注意：" + fig["pending_warning"], WARN)
        row += 1
    for label, value in (("审核机构", settings.firm), ("委托方", settings.bureau), ("审核期间", settings.period),
                         ("被审核医院", "、".join(h["name"] or str(h["hospital_id"] or "（未知）") for h in fig["hospitals"])),
                         ("批次", b["name"])):
        _put(ws, row, 1, label, BOLD)
        _put(ws, row, 2, value or "（未填写）")
        row += 1
    _put(ws, row, 1, fig["coverage"]["statement"])
    row += 2
    _put(ws, row, 1, "批次汇总", BOLD)
    _, row = _table(ws, row + 1, (("name", "批次", None, 18),) + SCOPE_COLUMNS, [b])
    row += 2
    _put(ws, row, 1, "分医院", BOLD)
    hosp_cols = (("name", "医院", None, 18),) + SCOPE_COLUMNS
    hosp = [{**h, "name": h["name"] or h["hospital_id"] or "（未知）"} for h in fig["hospitals"]]
    head, last = _table(ws, row + 1, hosp_cols, hosp)
    ws.freeze_panes = "A3"
    if hosp:
        _bar(ws, "各医院涉及违规费用（元）", (1, head + 1, last), (_col(hosp_cols, "amount_yuan"), head, last),
             f"B{last + 3}", "元")
        _bar(ws, "各医院违规病例数", (1, head + 1, last), (_col(hosp_cols, "confirmed_records"), head, last),
             f"J{last + 3}", "份")


def rules_sheet(wb, fig, findings, settings):
    ws = wb.create_sheet("分规则")
    head, last = _table(ws, 1, RULE_COLUMNS, fig["rules"], freeze=True)
    shown = [r for r in fig["rules"] if r["amount_yuan"] > 0]
    if shown:   # rules are sorted by confirmed count then amount: those with money come first
        n = head + len(shown)
        _bar(ws, "各规则计入合计的违规费用（元）", (1, head + 1, n), (_col(RULE_COLUMNS, "amount_yuan"), head, n),
             f"B{last + 3}", "元")


def classes_sheet(wb, fig, findings, settings):
    ws = wb.create_sheet("分规则类别")
    _table(ws, 1, CLASS_COLUMNS, [{**c, "source": "国家两库" if c["national"] else "规则目录"} for c in fig["rule_classes"]],
           freeze=True)


def findings_sheet(wb, fig, findings, settings):
    ws = wb.create_sheet("确认违规明细")
    _table(ws, 1, FINDING_COLUMNS, findings, freeze=True)


def hospital_sheets(wb, fig, findings, settings):
    for h in fig["hospitals"]:
        name = h["name"] or h["hospital_id"] or "未知医院"
        ws = wb.create_sheet(_title(wb, f"医院-{name}"))
        _put(ws, 1, 1, f"{name}：审核病历 {h['processed']} 份，违规病例 {h['confirmed_records']} 份，"
                       f"涉及违规费用 {h['amount_yuan']:,.2f} 元（{h['amount_wan']:,.2f} 万元）", HEADLINE)
        _put(ws, 2, 1, "确认违规明细", BOLD)
        mine = [f for f in findings if f["hospital_id"] == h["hospital_id"]]
        head, last = _table(ws, 3, FINDING_COLUMNS, mine, freeze=True)
        _put(ws, last + 2, 1, "分规则", BOLD)
        _table(ws, last + 3, RULE_COLUMNS, h["rules"], widths=False)


def rule_sheets(wb, fig, findings, settings):
    for r in fig["rules"]:
        mine = [f for f in findings if f["rule_id"] == r["rule_id"]]
        if not mine:
            continue
        ws = wb.create_sheet(_title(wb, f"规则-{r['rule_name'] or r['rule_id']}"))
        _put(ws, 1, 1, f"{r['rule_name'] or r['rule_id']}（{r['rule_id']}）：确认违规 {r['confirmed']} 条，"
                       f"计入合计 {r['amount_yuan']:,.2f} 元", HEADLINE)
        _put(ws, 2, 1, f"规则类别：{r['rule_class'] or '—'}；法规依据：{r['legal_basis'] or '—'}")
        _table(ws, 3, FINDING_COLUMNS, mine, freeze=True)


def failures_sheet(wb, fig, findings, settings):
    ws = wb.create_sheet("处理失败与拒收")
    _, last = _table(ws, 1, (("hospital_id", "医院编号", None, 12), ("stage", "失败环节", None, 12),
                             ("reason", "原因", None, 60), ("records", "病历数", COUNT, 8)),
                     fig["coverage"]["failed_reasons"], freeze=True)
    _table(ws, last + 2, (("path", "拒收文件", None, 12), ("reason", "原因", None, 12)),
           fig["coverage"]["inputs"]["rejected_list"], widths=False)


def casemix_sheet(wb, fig, findings, settings):
    casemix.excel_sheet(wb, fig.get("casemix"), _put, BOLD)


SHEETS = [summary, rules_sheet, classes_sheet, findings_sheet, hospital_sheets, rule_sheets, casemix_sheet, failures_sheet]


def write(fig: dict, findings: list[dict], path: Path, settings: ReportSettings | None = None) -> Path:
    wb = Workbook()
    settings = settings or ReportSettings()
    for sheet in SHEETS:
        sheet(wb, fig, findings, settings)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
