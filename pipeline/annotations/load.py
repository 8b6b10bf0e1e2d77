"""Read and validate exported flag decisions; a bad row is reported by file and line."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pipeline.annotations.schema import DECISIONS, FIELDS, KIND, SCHEMA


class AnnotationError(ValueError):
    """An annotation file that does not follow annotations/SCHEMA.md."""


def read_manifest(kind_dir: Path) -> dict:
    path = Path(kind_dir) / "manifest.json"
    if not path.exists():
        return {"kind": KIND, "latest": None, "versions": []}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise AnnotationError(f"{path}: 不是有效的 JSON ({exc})") from exc


def latest_version(kind_dir: Path) -> str | None:
    return read_manifest(kind_dir).get("latest")


def resolve(path: Path) -> Path:
    """A version file, a flag_decisions/ folder (its latest version) or the annotations/ root."""
    path = Path(path)
    if path.is_dir() and (path / KIND).is_dir():
        path = path / KIND
    if path.is_dir():
        latest = latest_version(path)
        if not latest:
            raise AnnotationError(f"{path}: 没有已导出的版本 (no exported version)")
        path = path / f"{latest}.jsonl"
    if not path.exists():
        raise AnnotationError(f"{path}: 文件不存在")
    return path


def validate(row, where: str) -> dict:
    if not isinstance(row, dict):
        raise AnnotationError(f"{where}: 不是 JSON 对象")
    if row.get("schema") != SCHEMA:
        raise AnnotationError(f"{where}: schema 应为 {SCHEMA}，实为 {row.get('schema')!r}")
    for name, types in FIELDS.items():
        if name not in row:
            raise AnnotationError(f"{where}: 缺少字段 {name}")
        if not isinstance(row[name], types) or (isinstance(row[name], bool) and bool not in types):
            raise AnnotationError(f"{where}: 字段 {name} 类型错误 ({type(row[name]).__name__})")
    if row["decision"] not in DECISIONS:
        raise AnnotationError(f"{where}: decision 应为 confirmed/rejected，实为 {row['decision']!r}")
    return row


def load_decisions(path: Path, *, verify: bool = True) -> list[dict]:
    """Rows of one version (``verify``: its content must still match the hash in its name)."""
    path = resolve(path)
    data = path.read_bytes()
    if verify and hashlib.sha256(data).hexdigest()[:len(path.stem)] != path.stem:
        raise AnnotationError(f"{path}: 内容与版本哈希不符，文件被修改过 (content does not match its hash)")
    rows, keys = [], set()
    for n, line in enumerate(data.decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise AnnotationError(f"{where}: 不是有效的 JSON ({exc.msg})") from exc
        validate(row, where)
        if row["key"] in keys:
            raise AnnotationError(f"{where}: key 重复 {row['key'][:12]}")
        keys.add(row["key"])
        rows.append(row)
    return rows
