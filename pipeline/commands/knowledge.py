"""`medreview knowledge import | list | show | diff | coverage`: knowledge packs (``pipeline.packs``)
at the terminal."""
from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from pathlib import Path

from pipeline.commands import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, console, err, error
from pipeline.packs import active, coverage as coverage_mod, indications, io as pack_io, store
from pipeline.packs.schema import FIELDS, KnowledgePoint, PackError
from pipeline.rules import demands, ruleset
from pipeline.rules.checks import national
from pipeline.rules.errors import CatalogueError


def _width(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)


def _pad(s: str, width: int) -> str:
    return s + " " * max(0, width - _width(s))


def _rjust(s, width: int) -> str:
    s = str(s)
    return " " * max(0, width - _width(s)) + s


def _default_name(path: Path) -> str:
    stem = path.stem if path.is_file() else path.name
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-.")
    if not name or name == store.NATIONAL:
        raise PackError(f"{path}: 无法从文件名得到知识包名称, 请用 --name 指定 (字母、数字和 _ . -)")
    return name


def import_pack(path: Path, name: str | None = None, root: Path | None = None) -> int:
    """Validate and store a pack; 1 when some rows were bad but the rest was stored, 2 when nothing
    could be used."""
    path = Path(path)
    try:
        name = store.check_name(name) if name else _default_name(path)
        result = pack_io.read(path, set(store.national().rule_classes))
    except PackError as exc:
        return error(exc)
    for e in result.errors:
        err.print(f"[red]错误[/red] {e}", markup=True, highlight=False)
    if not result.points:
        err.print(f"[red]无可用知识点[/red] {path}: {result.rows} 行, {len(result.errors)} 个错误; 未导入 (nothing imported)")
        return EXIT_USAGE
    result.points = indications.with_conditions(result.points)
    try:
        saved = store.save(name, result.points, root=root,
                           origin={"files": result.files, "rows": result.rows, "errors": len(result.errors)})
    except (PackError, OSError) as exc:
        return error(exc)
    pts = result.points
    live = [p for p in pts if not p.superseded_by and not p.disabled]
    console.print(f"读取 {result.rows} 行: {len(pts)} 个知识点有效, {len(result.errors)} 行有错误"
                  f" (read {result.rows} rows: {len(pts)} valid, {len(result.errors)} bad)", markup=False)
    console.print(f"  在用 {len(live)}, 被替代 {sum(1 for p in pts if p.superseded_by)},"
                  f" 停用其他包的知识点 {sum(1 for p in pts if p.disabled)}", markup=False)
    for rc, n in Counter(p.rule_class for p in live).most_common():
        console.print(f"  {_pad(rc, 28)} {n}", markup=False)
    if result.external_supersedes:
        console.print(f"  {len(result.external_supersedes)} 个 supersedes 指向其他知识包的知识点 (生效时替代)", markup=False)
    pack = saved.pack
    if saved.written:
        console.print(f"已存储 stored {pack.id}  ({pack.path})", markup=False)
    else:
        console.print(f"内容与最新版本 {pack.id} 相同, 未写入 (identical to the latest version; nothing written)",
                      markup=False)
    console.print(f"生效的知识包版本 packs in force: kp.{active.load_active(root).version}", markup=False)
    return EXIT_PARTIAL if result.errors else EXIT_OK


def list_packs(root: Path | None = None) -> int:
    try:
        nat = store.national()
        imported = {n: store.versions(n, root) for n in store.names(root)}
        ps = active.load_active(root)
    except PackError as exc:
        return error(exc)
    console.print("知识包 knowledge packs (* = 生效 in force, applied in this order)", markup=False)
    console.print(f"* {_pad(nat.name, 24)} {nat.version}  {nat.meta['counts']['in_force']:>5} 个知识点"
                  f"  {nat.meta.get('created_at', '')}  (随产品发布 shipped)", markup=False)
    for name, vs in imported.items():
        for v in vs:
            mark = "*" if v is vs[-1] else " "
            console.print(f"{mark} {_pad(name, 24)} {v.version}  {v.meta['counts']['in_force']:>5} 个知识点"
                          f"  {v.meta.get('created_at', '')}", markup=False)
    if not imported:
        console.print(f"  (没有导入的知识包 no imported packs under {store.packs_root(root)})", markup=False)
    console.print(f"生效的知识包版本 packs in force: kp.{ps.version}, {len(ps)} 个知识点在用", markup=False)
    return EXIT_OK


def _print_point(p: KnowledgePoint) -> None:
    lines = [("kp_id", p.kp_id), ("规则类别", f"{p.rule_class or '-'}  {p.gz_code or ''}  {p.level1 or ''}/{p.level2 or ''}"),
             ("项目名称", p.item_name), ("医保编码", f"({len(p.med_codes)}) {' '.join(p.med_codes)}" if p.med_codes else None),
             ("限定", p.constraint), ("判断逻辑", p.detect_logic),
             ("批次", " ".join(str(x) for x in (p.batch_tag, p.published_at) if x) or None),
             ("来源", " ".join(str(x) for x in ((p.source or {}).get("announcement_url"), (p.source or {}).get("attachment_file"),
                                                 f"第 {p.source['row']} 行" if (p.source or {}).get("row") else None) if x) or None),
             ("替代", p.supersedes), ("被替代于", p.superseded_by), ("停用", "是" if p.disabled else None),
             ("条件", json.dumps(p.conditions, ensure_ascii=False) if p.conditions is not None else None)]
    for label, value in lines:
        if value:
            console.print(f"  {_pad(label, 10)} {value}", markup=False)


def _changed(a: KnowledgePoint, b: KnowledgePoint) -> list[str]:
    da, db = a.to_dict(), b.to_dict()
    return [f for f in FIELDS if da[f] != db[f]]


def show(kp_id: str, root: Path | None = None) -> int:
    try:
        merged = active.load_active(root).merged
    except PackError as exc:
        return error(exc)
    if kp_id in merged.points:
        p = merged.points[kp_id]
        console.print(f"{kp_id}: 生效 in force, 来自 from {merged.origin[kp_id]}", markup=False)
        _print_point(p)
        for old, pack in merged.overridden.get(kp_id, []):
            console.print(f"  覆盖 overrides {pack} 的同一知识点 (改动: {', '.join(_changed(old, p)) or '无'})", markup=False)
        if p.supersedes:
            old = merged.history.get(p.supersedes)
            where = f"{old[1]}, {old[0].batch_tag or ''}" if old else "未载入"
            console.print(f"  替代 supersedes {p.supersedes} ({where})", markup=False)
        return EXIT_OK
    if kp_id in merged.disabled:
        old, pack = merged.disabled[kp_id]
        console.print(f"{kp_id}: 已停用 disabled by {pack}", markup=False)
        if old is not None:
            _print_point(old)
        return EXIT_OK
    if kp_id in merged.history:
        old, pack = merged.history[kp_id]
        console.print(f"{kp_id}: 已被 {old.superseded_by} 替代 (superseded; kept as history), 来自 from {pack}", markup=False)
        _print_point(old)
        return EXIT_OK
    return error(f"没有知识点 {kp_id} (no such knowledge point in the packs in force)")


def diff(a: str, b: str, root: Path | None = None, limit: int = 20) -> int:
    try:
        pa, pb = store.resolve(a, root), store.resolve(b, root)
        left, right = {p.kp_id: p for p in pa.points}, {p.kp_id: p for p in pb.points}
    except PackError as exc:
        return error(exc)
    added = sorted(set(right) - set(left))
    removed = sorted(set(left) - set(right))
    changed = [(k, _changed(left[k], right[k])) for k in sorted(set(left) & set(right))]
    changed = [(k, f) for k, f in changed if f]
    console.print(f"{pa.id} → {pb.id}: 新增 +{len(added)}, 删除 -{len(removed)}, 改动 ~{len(changed)}", markup=False)
    fields = Counter(f for _, fs in changed for f in fs)
    if fields:
        console.print(f"  改动的字段 fields changed: {', '.join(f'{f} {n}' for f, n in fields.most_common())}", markup=False)

    def head(items):
        return items if limit <= 0 else items[:limit]
    for k in head(added):
        p = right[k]
        console.print(f"+ {k}  {p.rule_class or '-'}  {p.item_name or ''}{'  (停用)' if p.disabled else ''}", markup=False)
    for k in head(removed):
        p = left[k]
        console.print(f"- {k}  {p.rule_class or '-'}  {p.item_name or ''}", markup=False)
    for k, fs in head(changed):
        console.print(f"~ {k}  {right[k].rule_class or '-'}  {right[k].item_name or ''}: {', '.join(fs)}", markup=False)
    hidden = sum(max(0, len(x) - limit) for x in (added, removed, changed)) if limit > 0 else 0
    if hidden:
        console.print(f"  … 另有 {hidden} 条未列出 (use --limit 0 to list all)", markup=False)
    return EXIT_OK


def coverage(root: Path | None = None, executable: coverage_mod.Verdict | None = None) -> int:
    """Points per rule class; executable / text-only as the packaged catalogue's national rules
    judge them (``executable`` replaces that verdict)."""
    try:
        ps = active.load_active(root)
        executable = executable or national.coverage_verdict(ruleset.load_catalogue())
        rows = coverage_mod.by_class(ps, executable)
    except (PackError, CatalogueError) as exc:
        return error(exc)
    fmt = lambda v: "-" if v is None else str(v)  # noqa: E731
    console.print(f"知识点覆盖 coverage (kp.{ps.version}; 可执行/仅文本: 由国家两库规则判定)",
                  markup=False)
    console.print(f"{_pad('规则类别 rule class', 30)} {_pad('层级', 8)}{_rjust('已载入', 8)}{_rjust('可执行', 8)}"
                  f"{_rjust('仅文本', 8)}  原因", markup=False)
    loaded = [r for r in rows if r.loaded]
    for r in loaded:
        reasons = "; ".join(f"{k} {n}" for k, n in r.reasons.items())
        console.print(f"{_pad(r.rule_class, 30)} {_pad(r.tier1 or '-', 8)}{_rjust(r.loaded, 8)}{_rjust(fmt(r.executable), 8)}"
                      f"{_rjust(fmt(r.text_only), 8)}  {reasons}", markup=False)
    total_ex = None if executable is None else sum(r.executable or 0 for r in loaded)
    total_text = None if executable is None else sum(r.text_only or 0 for r in loaded)
    console.print(f"{_pad('合计 total', 30)} {_pad('', 8)}{_rjust(sum(r.loaded for r in loaded), 8)}"
                  f"{_rjust(fmt(total_ex), 8)}{_rjust(fmt(total_text), 8)}", markup=False)
    empty = [r.rule_class for r in rows if not r.loaded]
    if empty:
        console.print(f"规则库标明有知识点、但未载入知识点的类别 ({len(empty)}): {', '.join(empty)}", markup=False)
    parsed = Counter()   # rule class → points with a parsed restriction, with conditions, wholly parsed
    for p in ps.points.values():
        if isinstance(p.conditions, dict):
            parsed[(p.rule_class, 0)] += 1
            parsed[(p.rule_class, 1)] += bool(demands.parsed_alternatives(p))
            parsed[(p.rule_class, 2)] += demands.fully_parsed(p)
    if parsed:
        console.print("限定条件解析 parsed restrictions (有可核查条件 / 全部解析; 其余部分以原文可疑提示):", markup=False)
        for r in loaded:
            if parsed[(r.rule_class, 0)]:
                n, with_conds, whole = (parsed[(r.rule_class, k)] for k in range(3))
                console.print(f"  {_pad(r.rule_class, 28)} {with_conds}/{r.loaded} 有条件 ({with_conds / r.loaded:.1%}),"
                              f" {whole} 全部解析", markup=False)
    return EXIT_OK
