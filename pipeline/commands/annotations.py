"""`medreview annotations export`: reviewer decisions and entity corrections as versioned training data."""
from __future__ import annotations

from pathlib import Path

from pipeline.annotations.entities import export_entity_corrections
from pipeline.annotations.export import export_decisions
from pipeline.commands import EXIT_OK, EXIT_USAGE, console, open_existing
from pipeline.review import audit


def _report(res: dict, what: str, unit: str, nothing: str, extra: str = "") -> None:
    """One line on an export: what it wrote as a new version, or why it wrote nothing."""
    if res["new"]:
        console.print(f"已导出{what}: {res['rows']} {unit} → {res['path']}{extra}"
                      f" (版本 version {res['version']}, 新增 added {res['added']}, 修改 changed {res['changed']},"
                      f" 移除 removed {res['removed']}, parent {res['parent'] or '-'})", markup=False)
    elif res["parent"] is None:
        console.print(nothing, markup=False)
    else:
        console.print(f"{what}无变化 unchanged: 最新版本 latest version {res['version']} ({res['rows']} {unit})",
                      markup=False)


def export(db_path: Path, out: Path, *, mask: bool = True) -> int:
    db = open_existing(db_path)
    if db is None:
        return EXIT_USAGE
    _report(export_decisions(db, out, mask=mask), "审核结论 decisions", "rows",
            "没有已审核的疑点，未导出 (no decided flags; nothing exported)")
    ent = export_entity_corrections(db, out, mask=mask)
    _report(ent, "实体更正 entity corrections", "sections", "没有实体更正，未导出 (no entity corrections; nothing exported)",
            f" + {ent['docbin'].name}" if ent["new"] else "")
    if not mask:
        audit.record_now(db, audit.cli_actor(), "annotations-unmasked", str(Path(out).resolve())[:200])
        console.print("[yellow]注意[/yellow] 未脱敏导出，含患者身份信息 (unmasked export contains patient data)")
    return EXIT_OK
