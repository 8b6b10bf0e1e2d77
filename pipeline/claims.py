"""Claims CSV import (费用明细 as exported by the hospital's system).

Encoding is detected (UTF-8 with or without BOM, else GB18030, which covers GBK/GB2312 exports);
column names are mapped through ``data/claims_columns.yaml``; every bad row is recorded in
``claims_errors`` with its row number and reason while the good rows are imported.
Rows are linked to records by (hospital, admission no.) once segmentation has read the admission no.
"""
from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from pipeline import dates, store

DATA = Path(__file__).parent / "data" / "claims_columns.yaml"


@dataclass
class ClaimsResult:
    state: str  # imported | unchanged | rejected
    rows: int = 0
    bad_rows: int = 0
    encoding: str | None = None
    reason: str | None = None
    errors: list[tuple[int, str]] = field(default_factory=list)


@lru_cache(maxsize=1)
def column_spec() -> dict:
    spec = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    if spec.get("version") != 1 or not isinstance(spec.get("fields"), dict):
        raise ValueError(f"{DATA}: expected version 1 with a 'fields' mapping")
    for name, f in spec["fields"].items():
        if f.get("type") not in ("str", "float", "datetime") or not f.get("names"):
            raise ValueError(f"{DATA}: field {name!r} needs a type (str|float|datetime) and names")
        for value, m in (f.get("values") or {}).items():
            if not isinstance(m, dict) or not (m.get("codes") or m.get("words")):
                raise ValueError(f"{DATA}: field {name!r} value {value!r} needs codes or words")
    return spec["fields"]


def canonical_value(f: dict, raw: str) -> str:
    """A coded column's value as one of the names its ``values`` list (by code, else by a word in
    it, in the order listed), else as written."""
    values = f.get("values") or {}
    for name, m in values.items():
        if raw in (m.get("codes") or ()):
            return name
    for name, m in values.items():
        if any(w in raw for w in m.get("words") or ()):
            return name
    return raw


def decode_bytes(raw: bytes) -> tuple[str, str]:
    """Decode an export; return (text, encoding name)."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8"), "utf-8-sig"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise UnicodeDecodeError(exc.encoding, exc.object, exc.start, exc.end,
                                 "既不是UTF-8也不是GBK/GB18030编码 (neither UTF-8 nor GBK)") from exc


def _map_header(header: list[str]) -> tuple[dict[str, int], list[str]]:
    spec = column_spec()
    index: dict[str, int] = {}
    cleaned = [h.strip().lstrip("\ufeff") for h in header]
    for name, f in spec.items():
        for spelling in f["names"]:
            if spelling in cleaned:
                index[name] = cleaned.index(spelling)
                break
    missing = [n for n, f in spec.items() if f["required"] and n not in index]
    return index, missing


def _parse_row(row: list[str], index: dict[str, int]) -> tuple[dict | None, str | None]:
    spec = column_spec()
    out: dict = {}
    for name, col in index.items():
        raw = row[col].strip() if col < len(row) else ""
        f = spec[name]
        if not raw:
            if f["required"]:
                return None, f"缺少必填字段 {f['names'][0]} (missing {name})"
            out[name] = None
            continue
        if f["type"] == "float":
            try:
                value = float(dates.normalize_text(raw).replace(",", ""))
            except ValueError:
                return None, f"{f['names'][0]} 不是数字: {raw[:20]!r} (not a number)"
            if value < 0:
                return None, f"{f['names'][0]} 为负数 {value} (negative {name})"
            out[name] = value
        elif f["type"] == "datetime":
            parsed = dates.parse_datetime(raw)
            if parsed is None:
                return None, f"{f['names'][0]} 日期无法识别: {raw[:20]!r} (bad date)"
            out[name] = dates.iso(parsed)
        else:
            out[name] = canonical_value(f, dates.normalize_text(raw))
    if out.get("qty") is not None and out.get("unit_price") is not None and out.get("amount") is not None:
        if abs(out["qty"] * out["unit_price"] - out["amount"]) > max(0.011, 0.005 * out["amount"]):
            return None, f"金额≠数量×单价 ({out['qty']}×{out['unit_price']}≠{out['amount']}) (amount mismatch)"
    return out, None


def import_claims(db, path: Path, hospital_id: str) -> ClaimsResult:
    raw = path.read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    known = db.execute("SELECT sha256, state FROM claims_files WHERE path = ?", (str(path),)).fetchone()
    if known and known[0] == sha:
        row = db.execute("SELECT rows, bad_rows, encoding, reason FROM claims_files WHERE path = ?", (str(path),)).fetchone()
        return ClaimsResult("unchanged", rows=row[0] or 0, bad_rows=row[1] or 0, encoding=row[2], reason=row[3])

    def record(result: ClaimsResult, rows: list[dict]) -> ClaimsResult:
        with store.transaction(db):
            store.insert_one(db, "hospitals", {"id": hospital_id, "name": hospital_id, "level": None,
                                               "created_at": store.now()}, on_conflict="ignore")
            db.execute("DELETE FROM charges WHERE source = 'claims' AND claims_file = ?", (str(path),))
            db.execute("DELETE FROM claims_errors WHERE path = ?", (str(path),))
            store.insert_many(db, "charges", rows)
            store.insert_many(db, "claims_errors", [{"path": str(path), "row_no": n, "reason": r} for n, r in result.errors])
            store.insert_one(db, "claims_files", {
                "path": str(path), "sha256": sha, "hospital_id": hospital_id, "encoding": result.encoding,
                "rows": result.rows, "bad_rows": result.bad_rows, "state": result.state,
                "reason": result.reason, "seen_at": store.now()}, on_conflict="replace")
        return result

    if not raw.strip():
        return record(ClaimsResult("rejected", reason="空文件 (empty claims file)"), [])
    try:
        text, encoding = decode_bytes(raw)
    except UnicodeDecodeError as exc:
        return record(ClaimsResult("rejected", reason=f"编码无法识别 (undecodable at byte {exc.start})"), [])
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        return record(ClaimsResult("rejected", encoding=encoding, reason=f"无法读取表头 ({exc})"), [])
    index, missing = _map_header(header)
    if missing:
        return record(ClaimsResult("rejected", encoding=encoding,
                                   reason="缺少必需列 (missing columns): " + ", ".join(missing)), [])
    result = ClaimsResult("imported", encoding=encoding)
    rows: list[dict] = []
    row_no = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            row_no += 1
            result.errors.append((row_no, f"CSV格式错误 ({exc})"))
            continue
        row_no += 1  # header is row 1, as a spreadsheet shows it
        if not any(c.strip() for c in row):
            continue
        parsed, error = _parse_row(row, index)
        if error:
            result.errors.append((row_no, error))
            continue
        rows.append({
            "record_id": None, "source": "claims", "seq": row_no, "hospital_id": hospital_id,
            "admission_no": parsed["admission_no"], "at": parsed.get("at"), "item_code": parsed.get("item_code"),
            "item_name": parsed["item_name"], "category": parsed.get("category"), "qty": parsed["qty"],
            "unit_price": parsed["unit_price"], "amount": parsed["amount"], "claims_file": str(path),
            "page_id": None, "line_id": None, "insurance_type": parsed.get("insurance_type"),
            "visit_type": parsed.get("visit_type"),
        })
    result.rows = len(rows)
    result.bad_rows = len(result.errors)
    return record(result, rows)
