"""A knowledge point: one published restriction of one rule class on one or more 医保 items, and
the validation every row of a pack passes (messages name the file and row, so whoever edits the
file can fix it)."""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from pipeline.packs import codes

LEVEL1 = ("政策类", "管理类", "医疗类")
SOURCE_KEYS = ("announcement_url", "attachment_file", "row", "pdf_page")
# Written by the shared structured files; derived from med_codes, so read and dropped.
DERIVED = ("med_code", "med_code_count")
_KP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
_GZ = re.compile(r"[A-Z]{2}\d{14}")
_DATE = re.compile(r"(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})(?:[ T][0-9:.+Z-]*)?")
_TRUE = {"true", "1", "yes", "y", "是", "t"}
_FALSE = {"false", "0", "no", "n", "否", "f", ""}


class PackError(ValueError):
    """A row, file or pack that does not validate; the message names the file and row."""


@dataclass(frozen=True)
class KnowledgePoint:
    """One knowledge point. ``disabled``: a region pack switching the point of that id off;
    ``conditions``: the parsed restriction (None: not parsed), carried as given;
    ``superseded_by``: set on a point a newer one replaced (kept as history)."""

    kp_id: str
    rule_class: str | None = None
    gz_code: str | None = None
    level1: str | None = None
    level2: str | None = None
    med_codes: tuple[str, ...] = ()
    item_name: str | None = None
    constraint: str | None = None
    detect_logic: str | None = None
    batch: int | None = None
    batch_tag: str | None = None
    published_at: str | None = None
    supersedes: str | None = None
    source: dict = field(default_factory=dict, hash=False)
    disabled: bool = False
    conditions: Any = field(default=None, hash=False)
    superseded_by: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready, every field in declaration order (the stored form)."""
        d = asdict(self)
        d["med_codes"] = list(self.med_codes)
        return d


FIELDS = tuple(f.name for f in fields(KnowledgePoint))
KNOWN_KEYS = set(FIELDS) | set(DERIVED)


def _text(v: Any, name: str) -> str | None:
    if v is None:
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = str(int(v)) if float(v).is_integer() else str(v)
    if not isinstance(v, str):
        raise PackError(f"{name}: 应为文本 (got {type(v).__name__})")
    v = v.strip()
    return v or None


def _int(v: Any, name: str) -> int | None:
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, bool):
        raise PackError(f"{name}: 应为整数")
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.strip().isdigit():
        return int(v.strip())
    raise PackError(f"{name}: 应为整数 (got {v!r})")


def _bool(v: Any, name: str) -> bool:
    if v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)) and v in (0, 1):
        return bool(v)
    s = str(v).strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise PackError(f"{name}: 应为 true/false (got {v!r})")


def _date(v: Any, name: str) -> str | None:
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, dt.datetime):
        return v.date().isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    m = _DATE.fullmatch(str(v).strip())
    if m:
        try:
            return dt.date(int(m["y"]), int(m["m"]), int(m["d"])).isoformat()
        except ValueError:
            pass
    raise PackError(f"{name}: 应为日期 YYYY-MM-DD (got {v!r})")


def _codes(v: Any) -> tuple[str, ...]:
    if v is None or v == "":
        return ()
    if isinstance(v, str):
        v = v.split("|")
    if not isinstance(v, (list, tuple)):
        raise PackError("med_codes: 应为编码列表")
    out: list[str] = []
    for c in v:
        if not isinstance(c, str):
            raise PackError(f"med_codes: 编码应为文本 (got {c!r})")
        n = codes.normalize(c)
        if not n:
            continue
        if codes.family(n) is None:
            raise PackError(f"med_codes: {c!r} 不是国家医保编码 (西药 X+22 位, 中成药 Z+19 位, 中药饮片 T+9 位数字, 医疗服务项目 15 位数字)")
        if n not in out:
            out.append(n)
    return tuple(out)


def _source(v: Any) -> dict:
    if v is None or v == "":
        return {}
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except json.JSONDecodeError:
            raise PackError("source: 应为 JSON 对象") from None
    if not isinstance(v, dict):
        raise PackError("source: 应为对象 {announcement_url, attachment_file, row, pdf_page}")
    extra = set(v) - set(SOURCE_KEYS)
    if extra:
        raise PackError(f"source: 未知字段 {', '.join(sorted(extra))} (可用: {', '.join(SOURCE_KEYS)})")
    out = {"announcement_url": _text(v.get("announcement_url"), "source.announcement_url"),
           "attachment_file": _text(v.get("attachment_file"), "source.attachment_file"),
           "row": _int(v.get("row"), "source.row"),
           "pdf_page": _int(v.get("pdf_page"), "source.pdf_page")}
    return out


def _conditions(v: Any) -> Any:
    if isinstance(v, str):
        if not v.strip():
            return None
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            raise PackError("conditions: 应为 JSON") from None
    return v


def validate(row: dict, where: str, rule_classes=None) -> KnowledgePoint:
    """The point a row describes; ``PackError`` naming ``where`` (file:row) and the field when it
    does not validate. ``rule_classes``: the known class names (unchecked when None). A row with
    ``disabled`` needs only its ``kp_id``."""
    try:
        return _validate(row, rule_classes)
    except PackError as exc:
        raise PackError(f"{where}: {exc}") from None


def _validate(row: dict, rule_classes) -> KnowledgePoint:
    if not isinstance(row, dict):
        raise PackError("应为对象 (一行一个知识点)")
    unknown = set(row) - KNOWN_KEYS
    if unknown:
        raise PackError(f"未知字段 {', '.join(sorted(unknown))}")
    kp_id = _text(row.get("kp_id"), "kp_id")
    if not kp_id:
        raise PackError("缺少 kp_id")
    if not _KP_ID.fullmatch(kp_id):
        raise PackError(f"kp_id: {kp_id!r} 只能含字母、数字和 _ . : -")
    disabled = _bool(row.get("disabled"), "disabled")
    med_codes = _codes(row.get("med_codes") if row.get("med_codes") not in (None, "") else row.get("med_code"))
    count = _int(row.get("med_code_count"), "med_code_count")
    if count is not None and row.get("med_codes") not in (None, "") and count != len(med_codes):
        raise PackError(f"med_code_count: {count} 与 med_codes 的 {len(med_codes)} 个编码不符")
    point = KnowledgePoint(
        kp_id=kp_id,
        rule_class=_text(row.get("rule_class"), "rule_class"),
        gz_code=_text(row.get("gz_code"), "gz_code"),
        level1=_text(row.get("level1"), "level1"),
        level2=_text(row.get("level2"), "level2"),
        med_codes=med_codes,
        item_name=_text(row.get("item_name"), "item_name"),
        constraint=_text(row.get("constraint"), "constraint"),
        detect_logic=_text(row.get("detect_logic"), "detect_logic"),
        batch=_int(row.get("batch"), "batch"),
        batch_tag=_text(row.get("batch_tag"), "batch_tag"),
        published_at=_date(row.get("published_at"), "published_at"),
        supersedes=_text(row.get("supersedes"), "supersedes"),
        source=_source(row.get("source")),
        disabled=disabled,
        conditions=_conditions(row.get("conditions")),
        superseded_by=_text(row.get("superseded_by"), "superseded_by"),
    )
    if point.gz_code and not _GZ.fullmatch(point.gz_code):
        raise PackError(f"gz_code: {point.gz_code!r} 应为规则编码 (如 GZ10000301004000)")
    if point.level1 and point.level1 not in LEVEL1:
        raise PackError(f"level1: {point.level1!r} 应为 {'/'.join(LEVEL1)}")
    if point.supersedes == kp_id:
        raise PackError("supersedes: 不能替代自身")
    if disabled:
        return point
    if not point.rule_class:
        raise PackError("缺少 rule_class")
    if rule_classes is not None and point.rule_class not in rule_classes:
        raise PackError(f"rule_class: 未知规则类别 {point.rule_class!r} (应为两库规则名称, 见 `medreview knowledge coverage`)")
    if not point.med_codes and not point.item_name:
        raise PackError("缺少 med_codes 和 item_name (至少要有一个)")
    return point
