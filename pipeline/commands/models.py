"""`medreview models list | promote | diff`: the model registry (``pipeline.models``) at the terminal."""
from __future__ import annotations

from pathlib import Path

from rich.table import Table

from pipeline import store
from pipeline.commands import EXIT_OK, EXIT_PARTIAL, console, error
from pipeline.models import registry
from pipeline.models.compare import score_changes




def _open_db(db_path: Path | None):
    return store.connect(db_path) if db_path is not None else None


def _fmt_metric(card: dict) -> str:
    name = card.get("primary_metric") or registry.PRIMARY_METRIC.get(card["kind"])
    v = (card.get("metrics") or {}).get(name)
    return f"{name}={v:.4f}" if isinstance(v, (int, float)) else "-"


def list_versions(kind: str | None, *, root: Path | None = None, db_path: Path | None = None) -> int:
    try:
        cards = registry.list_versions(kind, root=root)
        db = _open_db(db_path)
        if db is not None:
            registry.sync_db(db, root=root)
    except (registry.RegistryError, store.StoreError) as exc:
        return error(exc)
    if not cards:
        console.print(f"没有已登记的模型版本 (no registered versions under {registry.models_root(root)})")
        return EXIT_OK
    # One line per version (no table): version names must never be truncated by a narrow terminal.
    console.print("模型版本 model versions (* = 当前 current)")
    for c in cards:
        console.print(f"{'*' if c['current'] else ' '} {c['kind']:<10} {c['version']}  {_fmt_metric(c):<12}"
                      f" parent={c.get('parent') or '-'}  {c['created_at']}")
    return EXIT_OK


def promote(kind: str, version: str, *, force: bool = False, root: Path | None = None,
                db_path: Path | None = None) -> int:
    try:
        db = _open_db(db_path)
        event = registry.promote(kind, version, force=force, root=root, db=db)
    except registry.PromotionRefused as exc:
        console.print(f"[yellow]{exc}[/yellow]")
        return EXIT_PARTIAL
    except (registry.RegistryError, store.StoreError) as exc:
        return error(exc)
    tag = "[yellow]强制发布 forced[/yellow]" if event["forced"] else "已发布 promoted"
    console.print(f"{tag} {kind}@{event['version']} (替换 replaces {event['previous'] or '-'}): {event['reason']}")
    return EXIT_OK


def diff(kind: str, a: str, b: str, *, root: Path | None = None, db_path: Path | None = None) -> int:
    try:
        d = registry.diff(kind, a, b, root=root)
        db = _open_db(db_path)
    except (registry.RegistryError, store.StoreError) as exc:
        return error(exc)
    table = Table(title=f"{d['a']} → {d['b']}")
    for col in ("metric", "a", "b", "delta"):
        table.add_column(col, justify="right" if col != "metric" else "left")
    for m in d["metrics"]:
        fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else ("-" if v is None else str(v))  # noqa: E731
        table.add_row(m["name"], fmt(m["a"]), fmt(m["b"]), "" if m["delta"] is None else f"{m['delta']:+.4f}")
    console.print(table)
    console.print(f"同一留出集 same held-out: {'是' if d['same_heldout'] else '否'};"
                  f" 同一训练数据 same data: {'是' if d['same_data'] else '否'};"
                  f" parents: {d['parents']['a'] or '-'} / {d['parents']['b'] or '-'}")
    f = d["files"]
    console.print(f"文件 files: +{len(f['added'])} -{len(f['removed'])} ~{len(f['changed'])}")
    console.print(f"发布检查 guard (b over a): {'允许' if d['guard']['allowed'] else '拒绝'} — {d['guard']['reason']}")
    if db is not None:
        c = score_changes(db, d["a"], d["b"])
        auc = c["reviewed_auc"]
        console.print(f"本批次评分 batch scores: 旧 old {c['scored_old']}, 新 new {c['scored_new']}, 两者 both {c['scored_both']};"
                      f" 平均变化 mean |Δp| {c['mean_abs_change']}; 越过 0.5 阈值 crossed ↑{c['crossed_up']} ↓{c['crossed_down']}")
        console.print(f"按审核结论的 AUC reviewed AUC: 旧 old {auc['old']} (n={auc['n_old']}) → 新 new {auc['new']} (n={auc['n_new']})")
        for x in c["largest"]:
            console.print(f"  病历 record {x['record_id']}: {x['old']:.4f} → {x['new']:.4f} ({x['delta']:+.4f})")
    return EXIT_OK
