"""`medreview annotations export`: reviewer decisions and entity corrections as versioned training data."""
from __future__ import annotations

from pathlib import Path

from pipeline.annotations.entities import export_entity_corrections
from pipeline.annotations.export import export_decisions
from pipeline.commands import EXIT_OK, EXIT_USAGE, console, open_existing


def export(db_path: Path, out: Path, *, mask: bool = True) -> int:
    db = open_existing(db_path)
    if db is None:
        return EXIT_USAGE
    res = export_decisions(db, out, mask=mask)
    if res["new"]:
        console.print(f"已导出审核结论 exported decisions: {res['rows']} rows → {res['path']}"
                      f" (版本 version {res['version']}, 新增 added {res['added']}, 修改 changed {res['changed']},"
                      f" 移除 removed {res['removed']}, parent {res['parent'] or '-'})")
    elif res["parent"] is None:
        console.print("没有已审核的疑点，未导出 (no decided flags; nothing exported)")
    else:
        console.print(f"无变化 unchanged: 最新版本 latest version {res['version']} ({res['rows']} rows)")
    ent = export_entity_corrections(db, out, mask=mask)
    if ent["new"]:
        console.print(f"已导出实体更正 exported entity corrections: {ent['rows']} sections → {ent['path']}"
                      f" + {ent['docbin'].name} (版本 version {ent['version']}, 新增 added {ent['added']},"
                      f" 修改 changed {ent['changed']}, 移除 removed {ent['removed']}, parent {ent['parent'] or '-'})")
    elif ent["parent"] is None:
        console.print("没有实体更正，未导出 (no entity corrections; nothing exported)")
    else:
        console.print(f"实体更正无变化 entity corrections unchanged: 最新版本 latest version {ent['version']}")
    if not mask:
        console.print("[yellow]注意[/yellow] 未脱敏导出，含患者身份信息 (unmasked export contains patient data)")
    return EXIT_OK
