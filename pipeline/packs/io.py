"""Reading knowledge points from JSONL, CSV and XLSX files (one point per row, the same field names
in all three; list fields written ``a|b|c`` in CSV and XLSX, ``source`` as ``source.<key>``
columns or a JSON cell), and resolving ``supersedes``. Every bad row is an error naming the file
and row, and the other rows go on."""
from __future__ import annotations

import csv
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from pipeline.packs.schema import FIELDS, KNOWN_KEYS, SOURCE_KEYS, KnowledgePoint, PackError, validate

SUFFIXES = (".jsonl", ".csv", ".xlsx")
SOURCE_COLUMNS = {f"source.{k}": k for k in SOURCE_KEYS}
# A 15-digit service code typed into a spreadsheet as a number loses its leading zeros.
SERVICE_CODE_LEN = 15


@dataclass
class ReadResult:
    """What an import read: the valid points (replaced ones kept with ``superseded_by``), every
    error as ``file:row: message``, the rows seen, and the ``supersedes`` that point outside."""

    points: list[KnowledgePoint] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    rows: int = 0
    files: list[str] = field(default_factory=list)
    external_supersedes: list[str] = field(default_factory=list)


def files_of(path: Path) -> list[Path]:
    """The pack files at ``path``: the file itself, or a folder's JSONL/CSV/XLSX files in name order."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES
                      and not p.name.startswith(("~$", ".")))
    return [path]


def read(path: Path, rule_classes=None) -> ReadResult:
    """Every point in the file or folder at ``path``, validated and with ``supersedes`` resolved.
    ``PackError`` when nothing there can be read at all (no such file, unknown format)."""
    path = Path(path)
    if not path.exists():
        raise PackError(f"{path}: 文件不存在")
    files = files_of(path)
    if not files:
        raise PackError(f"{path}: 没有 .jsonl / .csv / .xlsx 文件")
    result = ReadResult(files=[str(f) for f in files])
    where_of: dict[str, str] = {}
    for f in files:
        if f.suffix.lower() not in SUFFIXES:
            raise PackError(f"{f}: 不支持的格式 (应为 {' / '.join(SUFFIXES)})")
        try:
            for row_no, row in _rows(f):
                result.rows += 1
                where = f"{f}:{row_no}"
                try:
                    if isinstance(row, PackError):
                        raise row
                    p = validate(row, where, rule_classes)
                except PackError as exc:
                    result.errors.append(str(exc))
                    continue
                if p.kp_id in where_of:
                    result.errors.append(f"{where}: kp_id {p.kp_id} 重复 (已见于 {where_of[p.kp_id]})")
                    continue
                if not p.source:
                    p = dataclasses.replace(p, source={"announcement_url": None, "attachment_file": f.name,
                                                       "row": row_no, "pdf_page": None})
                where_of[p.kp_id] = where
                result.points.append(p)
        except PackError as exc:
            result.errors.append(str(exc))
    result.points, errors, result.external_supersedes = resolve_supersedes(result.points, where_of)
    result.errors += errors
    return result


def _rows(path: Path) -> Iterator[tuple[int, dict | PackError]]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        yield from _jsonl_rows(path)
    elif suffix == ".csv":
        yield from _csv_rows(path)
    else:
        yield from _xlsx_rows(path)


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict | PackError]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PackError(f"{path}: 无法读取 ({exc})") from None
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield i, json.loads(line)
        except json.JSONDecodeError as exc:
            yield i, PackError(f"{path}:{i}: JSON 格式错误 ({exc.msg})")


def _check_header(path: Path, header: list) -> list[str]:
    names = [str(h).strip() if h is not None else "" for h in header]
    unknown = [h for h in names if h and h not in KNOWN_KEYS and h not in SOURCE_COLUMNS and h != "source"]
    if unknown:
        raise PackError(f"{path}:1: 未知列 {', '.join(unknown)} (可用: {', '.join(FIELDS)}, source.<{'|'.join(SOURCE_KEYS)}>)")
    if "source" in names and any(h in SOURCE_COLUMNS for h in names):
        raise PackError(f"{path}:1: source 列与 source.<key> 列只能用一种")
    if "kp_id" not in names:
        raise PackError(f"{path}:1: 表头缺少 kp_id 列")
    return names


def _table_row(names: list[str], values: list) -> dict | None:
    """A spreadsheet row as the fields ``validate`` reads, None when the row is empty."""
    row: dict[str, Any] = {}
    source: dict[str, Any] = {}
    for name, v in zip(names, values):
        if not name:
            continue
        if isinstance(v, str):
            v = v.strip()
        if v is None or v == "":
            continue
        if name in SOURCE_COLUMNS:
            source[SOURCE_COLUMNS[name]] = v
        elif name == "med_codes":
            row[name] = _code_cell(v)
        else:
            row[name] = v
    if not row and not source:
        return None
    if source:
        row["source"] = source
    return row


def _code_cell(v) -> list[str]:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return [str(int(v)).zfill(SERVICE_CODE_LEN)]
    return [c.strip() for c in str(v).split("|") if c.strip()]


def _csv_rows(path: Path) -> Iterator[tuple[int, dict | PackError]]:
    try:
        fh = open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise PackError(f"{path}: 无法读取 ({exc})") from None
    with fh:
        try:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise PackError(f"{path}: 空文件")
            names = _check_header(path, header)
            for i, values in enumerate(reader, 2):   # rows numbered as a spreadsheet shows them
                row = _table_row(names, values)
                if row is not None:
                    yield i, row
        except UnicodeDecodeError:
            raise PackError(f"{path}: 不是 UTF-8 编码的 CSV") from None


def _xlsx_rows(path: Path) -> Iterator[tuple[int, dict | PackError]]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        raise PackError(f"{path}: 不是可读的 XLSX 文件 ({type(exc).__name__})") from None
    try:
        rows = wb.worksheets[0].iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise PackError(f"{path}: 空表")
        names = _check_header(path, list(header))
        for i, values in enumerate(rows, 2):
            row = _table_row(names, list(values))
            if row is not None:
                yield i, row
    finally:
        wb.close()


def resolve_supersedes(points: list[KnowledgePoint], where_of: dict[str, str]
                       ) -> tuple[list[KnowledgePoint], list[str], list[str]]:
    """Mark each point a newer one replaces with ``superseded_by`` (kept as history): the
    superseding point wins; of several superseding one point, the latest published. A point that
    claims to replace a later-published one, or a cycle, is an error and the row is dropped.
    Returns the points, the errors and the ``supersedes`` targets outside these points."""
    by_id = {p.kp_id: p for p in points}
    errors: list[str] = []
    bad: set[str] = set()
    for p in points:
        t = by_id.get(p.supersedes) if p.supersedes else None
        if t is not None and p.published_at and t.published_at and p.published_at < t.published_at:
            errors.append(f"{where_of.get(p.kp_id, p.kp_id)}: supersedes {t.kp_id} 发布于 {t.published_at}, "
                          f"晚于本知识点 ({p.published_at})")
            bad.add(p.kp_id)
    for p in points:   # in a cycle of supersedes no point is the newest
        chain, cur = [p.kp_id], p
        while cur.supersedes in by_id and len(chain) <= len(points):
            cur = by_id[cur.supersedes]
            chain.append(cur.kp_id)
            if cur.kp_id == p.kp_id:
                errors.append(f"{where_of.get(p.kp_id, p.kp_id)}: supersedes 形成循环 ({' → '.join(chain)})")
                bad.add(p.kp_id)
                break
    kept = [p for p in points if p.kp_id not in bad]
    winner: dict[str, KnowledgePoint] = {}
    external: list[str] = []
    order = {p.kp_id: i for i, p in enumerate(kept)}
    ids = set(order)
    for p in kept:
        if not p.supersedes or p.disabled:
            continue
        if p.supersedes not in ids:
            external.append(p.supersedes)
            continue
        w = winner.get(p.supersedes)
        if w is None or _newer(p, w, order):
            winner[p.supersedes] = p
    out = [dataclasses.replace(p, superseded_by=winner[p.kp_id].kp_id if p.kp_id in winner else None) for p in kept]
    return out, errors, external


def _newer(a: KnowledgePoint, b: KnowledgePoint, order: dict[str, int]) -> bool:
    return (a.published_at or "", a.batch or 0, order[a.kp_id]) > (b.published_at or "", b.batch or 0, order[b.kp_id])
