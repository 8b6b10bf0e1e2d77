"""The record's charge lines matched to knowledge points, once per record, and the flag a point
raises: its severity (the point's tier, lowered to 可疑 where the match, the parse or a value of
the record is not certain) and its ``knowledge`` (``flags.knowledge``: the point, its source and
pack, how each line matched, the facts and conditions found or not)."""
from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

from pipeline.packs.index import PointMatch, name_key, strip_spec
from pipeline.packs.schema import KnowledgePoint
from pipeline.record.view import Charge, Evidence, RecordView
from pipeline.rules import demands
from pipeline.rules.facts import LEVEL_NAMES, Age, Fact
from pipeline.rules.flags import Flag

HOW_RANK = {"code": 0, "prefix": 1, "name": 2}
VERDICTS = ("违规", "无法判定", "限定条件未解析")
UNJUDGED = VERDICTS[1:]   # a prompt to check by hand, not a finding


@dataclass(frozen=True)
class LineMatch:
    """A billed line under a point: how it matched (``match.how``), and whether the line's own name
    agrees with the point's item (a code match whose names share nothing is a coding doubt)."""

    charge: Charge
    match: PointMatch
    name_agrees: bool


def names_agree(billed: str | None, listed: str | None) -> bool:
    """The billed name and the point's item name share two characters in a row (or one holds the other)."""
    a, b = strip_spec(name_key(billed)), strip_spec(name_key(listed))
    if not a or not b:
        return True
    if a in b or b in a:
        return True
    m = SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
    return m.size >= 2


def listed_name(point: KnowledgePoint, code: str | None) -> str | None:
    """The point's name for the item ``code`` stands for (one side of a pair ``A×B``)."""
    sides = (point.item_name or "").split("×")
    if len(sides) == len(point.med_codes) > 1 and code in point.med_codes:
        return sides[point.med_codes.index(code)]
    return point.item_name


def lines_by_point(view: RecordView, packs) -> dict[str, list[LineMatch]]:
    """kp_id → the billed lines under the point, matched once per record through the pack set's
    index (by code, product prefix, else name) and kept on the view for every national check."""
    index = packs.index
    cached = view.__dict__.get("_kp_lines")
    if cached is not None and cached[0] is index and cached[1] == len(view.charges):
        return cached[2]
    out: dict[str, list[LineMatch]] = {}
    for c in view.billed():
        for m in index.match(c.item_code, c.item_name):
            agrees = m.how == "name" or names_agree(c.item_name, listed_name(m.point, m.code))
            out.setdefault(m.point.kp_id, []).append(LineMatch(c, m, agrees))
    view.__dict__["_kp_lines"] = (index, len(view.charges), out)
    return out


def points_of(view: RecordView, packs, rule_class: str) -> list[tuple[KnowledgePoint, list[LineMatch]]]:
    """The points of ``rule_class`` the record's lines fall under, with their lines, by kp_id."""
    lines = lines_by_point(view, packs)
    pts = packs.points
    return [(pts[k], ls) for k, ls in sorted(lines.items()) if pts[k].rule_class == rule_class]


def tier(point: KnowledgePoint, packs) -> str | None:
    return point.level1 or (packs.rule_classes.get(point.rule_class) or {}).get("tier1")


def uncertain_match(lines: list[LineMatch]) -> str | None:
    """Why the lines' match to the point is not certain (a near name, a code whose names disagree), or None."""
    for ln in lines:
        if ln.match.how == "name" and ln.match.score < 1:
            return f"名称近似匹配(“{ln.charge.item_name}”≈“{ln.match.name}”, 相似度{ln.match.score:.2f})"
        if not ln.name_agrees:
            return (f"医保编码{ln.charge.item_code}对应“{listed_name(ln.match.point, ln.match.code)}”，"
                    f"明细名称为“{ln.charge.item_name}”，编码与名称不一致")
    return None


def severity(point: KnowledgePoint, packs, lines: list[LineMatch], verdict: str, parsed: bool = True) -> str:
    """政策类 → 明确违规; 医疗类 / 管理类, a verdict that is not 违规, a restriction only partly
    parsed or an uncertain match → 可疑."""
    if verdict != "违规" or not parsed or uncertain_match(lines):
        return "可疑"
    return "明确违规" if tier(point, packs) == "政策类" else "可疑"


def _fact_dict(f: Fact) -> dict:
    v, text = f.value, f.value
    if isinstance(v, Age):
        v = {"years": v.years, "days": v.days}
        text = f"{f.value.years}岁" if f.value.years or f.value.days is None else f"出生{f.value.days}天"
    elif f.name == "医疗机构级别" and v is not None:
        text = LEVEL_NAMES.get(v, v)
    return {"name": f.name, "value": v, "text": "未知" if v is None else str(text), "source": f.source}


def best_rank(lines: list[LineMatch]) -> tuple:
    """How well the lines match (code before prefix before name, higher similarity first)."""
    return min((HOW_RANK[ln.match.how], -ln.match.score) for ln in lines) if lines else (9, 0)


def flag(view: RecordView, packs, point: KnowledgePoint, lines: list[LineMatch], reason: str, *,
         verdict: str = "违规", parsed: bool = True, key: str | None = None, amount: float | None = None,
         charges: list[Charge] | None = None, findings=(), facts=(), evidence: list[Evidence] = ()) -> Flag:
    """The flag of ``point`` on the record: ``charges`` (default: the lines') are its charge lines
    and amount at risk; ``findings`` (``conditions.Finding``) and ``facts`` become evidence and
    ``knowledge``."""
    if verdict not in VERDICTS:
        raise ValueError(verdict)
    charges = charges if charges is not None else [ln.charge for ln in lines]
    doubt = uncertain_match(lines)
    if doubt:
        reason = f"{reason}；{doubt}"
    ev = [view.charge_evidence(c) for c in charges[:2]] + [f.evidence for f in facts if f.evidence] \
        + [f.evidence for f in findings if f.evidence][:3] + list(evidence)
    origin = packs.merged.origin.get(point.kp_id, "")
    name, _, version = origin.partition("@")
    src = point.source or {}
    knowledge = {
        "kp_id": point.kp_id, "rule_class": point.rule_class, "gz_code": point.gz_code, "level1": tier(point, packs),
        "item_name": point.item_name, "constraint": point.constraint, "detect_logic": point.detect_logic,
        "source": {"batch": point.batch, "batch_tag": point.batch_tag, "published_at": point.published_at,
                   "announcement_url": src.get("announcement_url"), "attachment_file": src.get("attachment_file"),
                   "row": src.get("row")},
        "pack": {"name": name, "version": version},
        "verdict": verdict,
        "facts": [_fact_dict(f) for f in facts],
        "lines": [{"charge_id": ln.charge.id, "how": ln.match.how, "code": ln.match.code, "score": ln.match.score,
                   "name_agrees": ln.name_agrees} for ln in lines],
        "conditions": [f.to_dict() for f in findings],
    }
    return Flag(rule_id="", key=key or point.kp_id, reason=reason, evidence=ev, charge_ids=[c.id for c in charges],
                amount=sum(c.amount for c in charges) if amount is None else amount,
                knowledge=knowledge, point_severity=severity(point, packs, lines, verdict, parsed))


def one_per_lines(found: list[tuple[tuple, Flag]]) -> list[Flag]:
    """One flag per set of charge lines: several points of a class over the same lines (a
    product's packages listed by several points) report it once, the best matched point's."""
    best: dict[frozenset, tuple[tuple, Flag]] = {}
    for rank, f in found:
        k = frozenset(f.charge_ids)
        if k not in best or rank < best[k][0]:
            best[k] = (rank, f)
    return [f for _, f in sorted(best.values(), key=lambda rf: (rf[1].key, rf[0]))]


def describe_point(point: KnowledgePoint, limit: int = 60) -> str:
    """The point's constraint, cut for a reason (the case page shows it whole)."""
    t = demands.text(point).strip()
    return t if len(t) <= limit else t[:limit] + "…"
