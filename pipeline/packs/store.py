"""Knowledge packs on disk: ``<name>/<version>/pack.json`` (name, version, content hash, origin,
batches, counts by rule class) + ``points.jsonl.gz`` (one point per line, in a fixed order).

The national pack ships as package data (``pipeline/packs/data/national/``). Imported packs live
under the packs root (``$MEDREVIEW_PACKS``, else the repository's ``packs/``), one folder per
version, never overwritten; a version is named by its creation time and content hash, as model
versions are, and an import whose content equals the latest version of its name writes nothing."""
from __future__ import annotations

import datetime as dt
import functools
import gzip
import hashlib
import json
import os
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from pipeline import clock
from pipeline.packs.schema import KnowledgePoint, PackError, validate

PACK_JSON = "pack.json"
POINTS = "points.jsonl.gz"
NATIONAL = "national"
NATIONAL_DIR = Path(__file__).parent / "data" / NATIONAL
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def packs_root(root: Path | None = None) -> Path:
    if root is not None:
        return Path(root)
    env = os.environ.get("MEDREVIEW_PACKS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "packs"


@dataclass(frozen=True)
class Pack:
    """One stored pack version; its points are read on first use."""

    name: str
    version: str
    content_hash: str
    path: Path
    meta: dict = field(hash=False, compare=False, repr=False)

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def rule_classes(self) -> dict:
        """Rule class name → its metadata (tier1, tier2, gz_code, has_kp_detail, …), where the pack has them."""
        return self.meta.get("rule_classes") or {}

    @cached_property
    def points(self) -> tuple[KnowledgePoint, ...]:
        return read_points(self.path / POINTS)


def points_bytes(points) -> bytes:
    """The canonical stored form: one JSON object per line, by rule class, codes and kp_id (alike
    points side by side compress to about half the size of any other order)."""
    lines = [json.dumps(p.to_dict(), ensure_ascii=False, separators=(",", ":"))
             for p in sorted(points, key=lambda p: (p.rule_class or "", p.med_codes, p.kp_id))]
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def content_hash(points, rule_classes: dict | None = None) -> str:
    """sha256 of the stored points (and the rule-class metadata a pack carries)."""
    h = hashlib.sha256(points_bytes(points))
    if rule_classes:
        h.update(json.dumps(rule_classes, ensure_ascii=False, sort_keys=True).encode("utf-8"))
    return h.hexdigest()


def write_points(path: Path, points) -> None:
    """``points.jsonl.gz``, byte for byte the same for the same points (no time or name in the header)."""
    Path(path).write_bytes(gzip.compress(points_bytes(points), compresslevel=9, mtime=0))


def read_points(path: Path) -> tuple[KnowledgePoint, ...]:
    """A stored pack's points; a stored pack must validate whole (``PackError`` naming file and row)."""
    try:
        text = gzip.decompress(Path(path).read_bytes()).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise PackError(f"{path}: 无法读取 ({exc})") from None
    out = []
    for i, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PackError(f"{path}:{i}: JSON 格式错误 ({exc.msg})") from None
            out.append(validate(row, f"{path}:{i}"))
    return tuple(out)


def summary(points) -> dict:
    """Counts (points, in force, superseded, disabled, by rule class of those in force) and the
    batches with their publication dates where known."""
    points = list(points)
    live = [p for p in points if not p.superseded_by and not p.disabled]
    by_class = Counter(p.rule_class for p in live)
    batches: dict[str, dict] = {}
    for p in points:
        tag = p.batch_tag or (f"batch_{p.batch:02d}" if p.batch is not None else None)
        if tag is None:
            continue
        b = batches.setdefault(tag, {"batch_tag": tag, "batch": p.batch, "published_at": None, "points": 0,
                                     "announcement_url": None})
        b["points"] += 1
        b["published_at"] = b["published_at"] or p.published_at
        b["announcement_url"] = b["announcement_url"] or (p.source or {}).get("announcement_url")
    return {
        "counts": {"points": len(points), "in_force": len(live), "superseded": sum(1 for p in points if p.superseded_by),
                   "disabled": sum(1 for p in points if p.disabled),
                   "by_rule_class": dict(sorted(by_class.items(), key=lambda kv: (-kv[1], kv[0] or "")))},
        "batches": sorted(batches.values(), key=lambda b: (b["batch"] is None, b["batch"] or 0, b["batch_tag"])),
    }


def pack_meta(name: str, version: str, digest: str, created_at: str, points, origin: dict,
              rule_classes: dict | None = None) -> dict:
    meta = {"name": name, "version": version, "content_hash": digest, "created_at": created_at, "origin": origin,
            **summary(points)}
    if rule_classes:
        meta["rule_classes"] = rule_classes
    return meta


def write_pack(folder: Path, meta: dict, points) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_points(folder / POINTS, points)
    (folder / PACK_JSON).write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def read_pack(folder: Path) -> Pack:
    path = Path(folder) / PACK_JSON
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PackError(f"{path}: 不存在") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise PackError(f"{path}: 无法读取 ({exc})") from None
    missing = [k for k in ("name", "version", "content_hash") if not meta.get(k)]
    if missing:
        raise PackError(f"{path}: 缺少 {', '.join(missing)}")
    return Pack(meta["name"], meta["version"], meta["content_hash"], Path(folder), meta)


@functools.lru_cache(maxsize=4)
def national(folder: Path = NATIONAL_DIR) -> Pack:
    """The shipped national pack (package data)."""
    return read_pack(folder)


def check_name(name: str) -> str:
    if not name or not _NAME.fullmatch(name):
        raise PackError(f"知识包名称无效: {name!r} (字母、数字和 _ . -)")
    if name == NATIONAL:
        raise PackError(f"{NATIONAL} 是随产品发布的国家知识包; 导入的知识包请另起名称 (如 national-2026-08 或地区名)")
    return name


def versions(name: str, root: Path | None = None) -> list[Pack]:
    """The stored versions of one imported pack, oldest first."""
    d = packs_root(root) / name
    if not d.is_dir():
        return []
    return [read_pack(v) for v in sorted(d.iterdir()) if v.is_dir() and (v / PACK_JSON).is_file()]


def names(root: Path | None = None) -> list[str]:
    r = packs_root(root)
    if not r.is_dir():
        return []
    return sorted(d.name for d in r.iterdir() if d.is_dir() and _NAME.fullmatch(d.name) and d.name != NATIONAL)


def listing(root: Path | None = None) -> tuple[tuple[str, str], ...]:
    """(name, version folder) of every stored version: cheap to compute, and it changes whenever a
    pack is imported (versions are never overwritten)."""
    r = packs_root(root)
    return tuple((n, v.name) for n in names(root) for v in sorted((r / n).iterdir())
                 if v.is_dir() and (v / PACK_JSON).is_file())


def latest(root: Path | None = None) -> list[Pack]:
    """The newest version of every imported pack, in name order."""
    out = []
    for n in names(root):
        vs = versions(n, root)
        if vs:
            out.append(vs[-1])
    return out


@dataclass(frozen=True)
class Saved:
    pack: Pack
    written: bool          # False: the content equals the latest version, nothing was written


def save(name: str, points, *, origin: dict, root: Path | None = None, at=None) -> Saved:
    """Store ``points`` as a new version of pack ``name`` unless they equal its latest version."""
    check_name(name)
    points = list(points)
    digest = content_hash(points)
    existing = versions(name, root)
    if existing and existing[-1].content_hash == digest:
        return Saved(existing[-1], False)
    created = clock.utc(at).replace(microsecond=0)
    if existing:   # version names sort by time: a second import within the same second comes later
        last = dt.datetime.fromisoformat(existing[-1].meta["created_at"])
        created = max(created, last + dt.timedelta(seconds=1))
    version = f"{clock.stamp(created)}-{digest[:6]}"
    d = packs_root(root) / name
    dest = d / version
    if dest.exists():
        raise PackError(f"{dest}: 版本已存在")
    d.mkdir(parents=True, exist_ok=True)
    staging = d / f".staging-{clock.stamp(micro=True)}"
    try:
        write_pack(staging, pack_meta(name, version, digest, clock.iso(created), points, origin), points)
        staging.rename(dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return Saved(read_pack(dest), True)


def resolve(ref: str, root: Path | None = None) -> Pack:
    """A pack by reference: ``national``, a pack name (its latest version), ``name@version`` (or a
    unique version prefix), or a pack folder's path."""
    if ref == NATIONAL or ref == f"{NATIONAL}@{national().version}":
        return national()
    name, _, version = ref.partition("@")
    if _NAME.fullmatch(name) and (packs_root(root) / name).is_dir():
        vs = versions(name, root)
        if not vs:
            raise PackError(f"知识包 {name} 没有已存储的版本")
        if not version:
            return vs[-1]
        hits = [p for p in vs if p.version.startswith(version)]
        if len(hits) == 1:
            return hits[0]
        raise PackError(f"知识包 {name} 没有{'唯一的' if hits else ''}版本 {version}"
                        f" (有: {', '.join(p.version for p in vs)})")
    path = Path(ref)
    if (path / PACK_JSON).is_file():
        return read_pack(path)
    raise PackError(f"找不到知识包 {ref} (国家包 {NATIONAL}, 已导入: {', '.join(names(root)) or '无'})")
