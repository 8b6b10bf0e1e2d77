"""Model versions: the one place that registers and promotes models.

Each version lives in ``models/<kind>/<version>/`` with a ``version.json`` card (metrics on the
held-out part, held-out and training data hashes, parent version, file hashes);
``models/<kind>/CURRENT`` names the promoted version and ``models/<kind>/promotions.jsonl``
keeps every promotion. The folders are the source of truth (models travel between batches);
a batch database mirrors them in ``model_versions`` / ``model_promotions`` so scores can be
traced to the version that produced them.

A model that already lives directly in ``models/<kind>/`` (the shipped NER model, which its loader
reads from there) is described in place by a card beside it (``describe_in_place``); its path is
the kind folder itself.

Promotion guard: a version is not promoted when its primary held-out metric is worse than the
current version's (preferably the current version re-measured by the trainer on the candidate's
held-out part: ``baseline``), when it was measured on a different held-out part, or when it has
no such metric — unless forced.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from pipeline import clock, store

# Primary held-out metric per model kind (higher is better for all of them).
PRIMARY_METRIC = {"classifier": "auc", "ner": "f1", "normalizer": "acc"}
CARD = "version.json"
CURRENT = "CURRENT"
PROMOTIONS = "promotions.jsonl"


class RegistryError(ValueError):
    """Unknown kind or version, or a model folder that cannot be registered."""


class PromotionRefused(RegistryError):
    """The guard's verdict: the candidate is not better than the current version."""


def models_root(root: Path | None = None) -> Path:
    if root is not None:
        return Path(root)
    env = os.environ.get("MEDREVIEW_MODELS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "models"


def _kind_dir(kind: str, root: Path | None) -> Path:
    if not kind or "/" in kind or kind.startswith("."):
        raise RegistryError(f"模型类别无效: {kind!r}")
    return models_root(root) / kind


def _files_hash(folder: Path, skip: tuple[str, ...] = (CARD,)) -> tuple[str, dict[str, str]]:
    files = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        # an in-place card's folder also holds the registry's own files and other versions' folders
        if p.is_file() and p.name not in skip and not any(
                (folder / part / CARD).is_file() or part.startswith(".staging") for part in rel.parts[:-1][:1]):
            files[rel.as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    total = hashlib.sha256("".join(f"{k}\0{v}\n" for k, v in files.items()).encode()).hexdigest()
    return total, files


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


def staging_dir(kind: str, *, root: Path | None = None) -> Path:
    """An empty folder inside ``models/<kind>/`` for a trainer to write a new model into."""
    d = _kind_dir(kind, root)
    d.mkdir(parents=True, exist_ok=True)
    stamp = clock.stamp(micro=True)
    path = d / f".staging-{stamp}"
    path.mkdir()
    return path


def _new_card(kind: str, content: str, files: dict[str, str], *, metrics: dict, heldout_hash: str | None,
              data_hash: str | None, parent: str | None, notes: dict | None, **extra) -> dict:
    """A version card: the version is named by its creation time and content hash."""
    created = clock.utc().replace(microsecond=0)
    version = f"{clock.stamp(created)}-{content[:6]}"
    return {"id": f"{kind}@{version}", "kind": kind, "version": version, "created_at": created.isoformat(),
            "metrics": metrics, "primary_metric": PRIMARY_METRIC.get(kind), "heldout_hash": heldout_hash,
            "data_hash": data_hash, "parent": parent, "content_hash": content, "files": files, "notes": notes or {},
            **extra}


def register(
    kind: str, model_dir: Path, *, metrics: dict, heldout_hash: str | None = None,
    data_hash: str | None = None, parent: str | None = None, notes: dict | None = None,
    baseline: dict | None = None, root: Path | None = None, db=None,
) -> dict:
    """Move (inside ``models/<kind>/``) or copy ``model_dir`` to a new version folder, write its
    card and, given a database, mirror it there. ``parent`` is the version it was trained from
    (default: the current one); ``baseline``: the current version's metrics measured by the
    trainer on this candidate's held-out part ({"version": ..., metric: value}), which the guard
    prefers. Returns the card."""
    src = Path(model_dir)
    if not src.is_dir() or not any(src.iterdir()):
        raise RegistryError(f"{src}: 模型目录不存在或为空")
    kdir = _kind_dir(kind, root)
    kdir.mkdir(parents=True, exist_ok=True)
    if parent is None:
        cur = current(kind, root=root)
        parent = cur["version"] if cur else None
    card = _new_card(kind, *_files_hash(src), metrics=metrics, heldout_hash=heldout_hash, data_hash=data_hash,
                     parent=parent, notes=notes, baseline=baseline)
    dest = kdir / card["version"]
    if dest.exists():
        raise RegistryError(f"{dest}: 版本已存在")
    if src.resolve().parent == kdir.resolve():
        src.rename(dest)
    else:
        shutil.copytree(src, dest)
    _write_json(dest / CARD, card)
    if db is not None:
        sync_db(db, root=root)
    return card


def describe_in_place(kind: str, *, metrics: dict, heldout_hash: str | None = None, data_hash: str | None = None,
                      notes: dict | None = None, root: Path | None = None) -> dict:
    """Register the model that already lives directly in ``models/<kind>/`` (e.g. the shipped NER
    model, which its loader reads from there) without moving it: the card goes beside it and the
    version's path is the kind folder itself. Returns the card."""
    kdir = _kind_dir(kind, root)
    if not kdir.is_dir() or not any(p.is_file() for p in kdir.iterdir()):
        raise RegistryError(f"{kdir}: 没有可登记的模型文件")
    if (kdir / CARD).is_file():
        raise RegistryError(f"{kdir / CARD}: 已登记")
    card = _new_card(kind, *_files_hash(kdir, skip=(CARD, CURRENT, PROMOTIONS, CURRENT + ".tmp")), metrics=metrics,
                     heldout_hash=heldout_hash, data_hash=data_hash, parent=None, notes=notes, in_place=True)
    _write_json(kdir / CARD, card)
    return card


def _card(folder: Path) -> dict | None:
    path = folder / CARD
    if not path.is_file():
        return None
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise RegistryError(f"{path}: 不是有效的 JSON ({exc})") from exc
    card["path"] = str(folder.resolve())
    return card


def current_version(kind: str, *, root: Path | None = None) -> str | None:
    path = _kind_dir(kind, root) / CURRENT
    return path.read_text(encoding="utf-8").strip() or None if path.is_file() else None


def list_versions(kind: str | None = None, *, root: Path | None = None) -> list[dict]:
    """Cards of every registered version (oldest first), each with ``current`` set."""
    base = models_root(root)
    kinds = [kind] if kind else sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    out = []
    for k in kinds:
        kdir = _kind_dir(k, root)
        if not kdir.is_dir():
            continue
        cur = current_version(k, root=root)
        folders = [kdir] + sorted(p for p in kdir.iterdir() if p.is_dir() and not p.name.startswith("."))
        for folder in folders:
            card = _card(folder)
            if card:
                card["current"] = card["version"] == cur
                out.append(card)
    out.sort(key=lambda c: (c["kind"], c["created_at"], c["version"]))
    return out


def get(kind: str, version: str, *, root: Path | None = None) -> dict:
    """A version by its name or a unique prefix of it."""
    matches = [c for c in list_versions(kind, root=root) if c["version"].startswith(version)]
    if not matches:
        raise RegistryError(f"{kind} 没有版本 {version!r}")
    exact = [c for c in matches if c["version"] == version]
    if len(matches) > 1 and not exact:
        raise RegistryError(f"版本前缀 {version!r} 不唯一: " + ", ".join(c["version"] for c in matches))
    return (exact or matches)[0]


def current(kind: str, *, root: Path | None = None) -> dict | None:
    v = current_version(kind, root=root)
    return get(kind, v, root=root) if v else None


def current_path(kind: str, *, root: Path | None = None) -> Path | None:
    """Folder of the promoted version: what the pipeline loads."""
    c = current(kind, root=root)
    return Path(c["path"]) if c else None


def guard(candidate: dict, incumbent: dict | None) -> tuple[bool, str]:
    """(allowed, reason in Chinese) for promoting ``candidate`` over ``incumbent``."""
    if incumbent is None:
        return True, "当前无已发布版本"
    if incumbent["version"] == candidate["version"]:
        return True, "已是当前版本"
    name = candidate.get("primary_metric") or PRIMARY_METRIC.get(candidate["kind"])
    new = (candidate.get("metrics") or {}).get(name)
    old = (incumbent.get("metrics") or {}).get(name)
    if not isinstance(new, (int, float)):
        return False, f"候选版本没有留出集指标 {name}"
    base = candidate.get("baseline") or {}
    if base.get("version") == incumbent["version"] and isinstance(base.get(name), (int, float)):
        # both measured by the trainer on the candidate's held-out part, with the same labels
        if new < base[name]:
            return False, f"{name} 下降：{new:.4f} < 当前 {base[name]:.4f}（同一留出集）"
        return True, f"{name} {new:.4f} ≥ 当前 {base[name]:.4f}（同一留出集）"
    if not isinstance(old, (int, float)):
        return True, f"当前版本没有指标 {name}，候选 {name}={new:.4f}"
    a, b = candidate.get("heldout_hash"), incumbent.get("heldout_hash")
    if a and b and a != b:
        return False, f"两个版本的留出集不同（{a[:8]} ≠ {b[:8]}），{name} 不可比"
    if new < old:
        return False, f"{name} 下降：{new:.4f} < 当前 {old:.4f}"
    return True, f"{name} {new:.4f} ≥ 当前 {old:.4f}"


def promote(kind: str, version: str, *, force: bool = False, root: Path | None = None, db=None) -> dict:
    """Make ``version`` the current one if the guard allows it (or ``force``); raises
    PromotionRefused otherwise. Returns {version, previous, forced, reason}."""
    cand = get(kind, version, root=root)
    inc = current(kind, root=root)
    ok, reason = guard(cand, inc)
    if not ok and not force:
        raise PromotionRefused(f"拒绝发布 {cand['id']}：{reason}（如确需发布请使用 --force）")
    event = {"kind": kind, "version": cand["version"], "previous": inc["version"] if inc else None,
             "forced": bool(force and not ok), "reason": reason, "at": clock.now()}
    kdir = _kind_dir(kind, root)
    tmp = kdir / (CURRENT + ".tmp")
    tmp.write_text(cand["version"] + "\n", encoding="utf-8")
    tmp.replace(kdir / CURRENT)
    with open(kdir / PROMOTIONS, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(event, ensure_ascii=False, sort_keys=True) + "\n")
    if db is not None:
        sync_db(db, root=root)
    return event


def register_and_promote(kind: str, model_dir: Path, *, force: bool = False, root: Path | None = None, db=None,
                         **card) -> dict:
    """``register`` then ``promote`` as the guard allows: {card (with its path), promoted, reason}."""
    registered = register(kind, model_dir, root=root, db=db, **card)
    registered = get(kind, registered["version"], root=root)   # with its folder
    try:
        event = promote(kind, registered["version"], force=force, root=root, db=db)
        promoted, reason = True, event["reason"] + ("（强制 forced）" if event["forced"] else "")
    except PromotionRefused as exc:
        promoted, reason = False, str(exc)
    return {"card": registered, "promoted": promoted, "reason": reason}


def promotions(kind: str, *, root: Path | None = None) -> list[dict]:
    path = _kind_dir(kind, root) / PROMOTIONS
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def diff(kind: str, a: str, b: str, *, root: Path | None = None) -> dict:
    """What changed from version ``a`` to ``b``: metrics (with deltas), data, lineage, files."""
    ca, cb = get(kind, a, root=root), get(kind, b, root=root)
    ma, mb = ca.get("metrics") or {}, cb.get("metrics") or {}
    metrics = []
    for name in sorted(set(ma) | set(mb)):
        va, vb = ma.get(name), mb.get(name)
        num = isinstance(va, (int, float)) and isinstance(vb, (int, float))
        metrics.append({"name": name, "a": va, "b": vb, "delta": round(vb - va, 6) if num else None})
    fa, fb = ca.get("files") or {}, cb.get("files") or {}
    return {
        "a": ca["id"], "b": cb["id"], "metrics": metrics,
        "same_heldout": ca.get("heldout_hash") == cb.get("heldout_hash"),
        "same_data": ca.get("data_hash") == cb.get("data_hash"),
        "parents": {"a": ca.get("parent"), "b": cb.get("parent")},
        "files": {"added": sorted(set(fb) - set(fa)), "removed": sorted(set(fa) - set(fb)),
                  "changed": sorted(k for k in set(fa) & set(fb) if fa[k] != fb[k])},
        "guard": dict(zip(("allowed", "reason"), guard(cb, ca))),
    }


def sync_db(db, *, root: Path | None = None) -> int:
    """Mirror every version card, the promoted flags and the promotion history into the
    database; returns the number of versions."""
    cards = list_versions(root=root)
    with store.transaction(db):
        store.insert_many(db, "model_versions", [
            {"id": c["id"], "kind": c["kind"], "path": c["path"], "metrics": c.get("metrics") or {},
             "data_hash": c.get("data_hash"), "parent": f"{c['kind']}@{c['parent']}" if c.get("parent") else None,
             "promoted": int(c["current"]), "created_at": c["created_at"], "heldout_hash": c.get("heldout_hash")}
            for c in cards], on_conflict="replace")
        for kind in sorted({c["kind"] for c in cards}):
            cur = next((c["id"] for c in cards if c["kind"] == kind and c["current"]), None)
            if cur:   # the registry decides what is current, whoever else wrote rows here
                db.conn.execute("UPDATE model_versions SET promoted = 0 WHERE kind = ? AND id != ?", (kind, cur))
            db.conn.execute("DELETE FROM model_promotions WHERE kind = ?", (kind,))
            store.insert_many(db, "model_promotions", [
                {"kind": kind, "model_version": f"{kind}@{e['version']}",
                 "previous": f"{kind}@{e['previous']}" if e.get("previous") else None,
                 "forced": int(e.get("forced", False)), "reason": e.get("reason"), "at": e["at"]}
                for e in promotions(kind, root=root)])
    return len(cards)
