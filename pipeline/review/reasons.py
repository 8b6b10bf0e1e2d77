"""Data the review forms offer: reject reason codes (``data/reject_reasons.yaml``), the rules a
reviewer may name (the rule catalogue: a flag is confirmed, changed or added only under one of
its rules), each rule's Chinese name, class and legal basis, and the policy text the basis cites
(``data/legal_texts.yaml``)."""
from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path

import yaml

from pipeline.review.errors import ReviewError

log = logging.getLogger("medreview.review")
REJECT_REASONS_PATH = Path(__file__).resolve().parent.parent / "data" / "reject_reasons.yaml"


@lru_cache(maxsize=1)
def reject_reasons() -> tuple[dict, ...]:
    data = yaml.safe_load(REJECT_REASONS_PATH.read_text(encoding="utf-8"))
    reasons = data.get("reasons") if isinstance(data, dict) else None
    if not reasons:
        raise ReviewError(f"{REJECT_REASONS_PATH}: 'reasons' list missing")
    for i, r in enumerate(reasons):
        if not isinstance(r, dict) or not r.get("code") or not r.get("label"):
            raise ReviewError(f"{REJECT_REASONS_PATH}: reason #{i + 1} needs code and label")
    return tuple(reasons)


def reject_reason(code: str | None) -> dict:
    for r in reject_reasons():
        if r["code"] == code:
            return r
    raise ReviewError(f"驳回原因代码无效: {code!r}")


@lru_cache(maxsize=1)
def rule_catalogue():
    """The packaged rule catalogue (``pipeline.rules``), or None while it cannot be loaded."""
    try:
        from pipeline.rules import ruleset

        return ruleset.load_catalogue()
    except (ImportError, ValueError, OSError) as exc:
        log.warning("rule catalogue unavailable, legal basis not shown: %s", exc)
        return None


def legal_basis(rule_id: str) -> str | None:
    """The catalogue's legal basis text for a rule, or None when the catalogue lacks it."""
    info = rule_info(rule_id)
    return info["legal_basis"] if info else None


@lru_cache(maxsize=1)
def _rules() -> dict[str, dict]:
    cat = rule_catalogue()
    if cat is None:
        return {}
    return {r.id: {"rule_id": r.id, "rule_name": r.name, "category": r.category, "legal_basis": r.legal_basis,
                   "severity": r.severity, "enabled": r.enabled,
                   # a national rule's class is its 两库 rule class; other rules group by category
                   "rule_class": r.params.get("rule_class") or r.category,
                   "national": r.family == "national"}
            for r in cat.rules}


def rule_info(rule_id: str | None) -> dict | None:
    """A catalogue rule as the review pages and the report show it, or None when unknown."""
    return _rules().get(rule_id) if rule_id else None


def rule_name(rule_id: str | None, fallback: str | None = None) -> str | None:
    """The rule's Chinese name from the catalogue, else ``fallback`` (the name a flag stored)."""
    info = rule_info(rule_id)
    return info["rule_name"] if info else fallback


def rule_choices() -> list[dict]:
    """Every rule a reviewer may name, grouped by class, for the forms' choice lists."""
    return sorted(_rules().values(), key=lambda r: (r["national"], r["rule_class"], r["rule_id"]))


def check_rule(rule_id: str | None) -> str:
    """``rule_id`` when the catalogue has it; a ReviewError otherwise (never a free-text code)."""
    if not _rules():
        raise ReviewError("规则目录无法加载，暂不能按规则修改或新增疑点")
    if not rule_id or rule_id not in _rules():
        raise ReviewError(f"规则编号不在规则目录中: {str(rule_id or '')[:40]!r}，请从列表中选择")
    return rule_id


LEGAL_TEXTS_PATH = Path(__file__).resolve().parent.parent / "data" / "legal_texts.yaml"
_ITEM = re.compile(r"第([0-9]+|[一二三四五六七八九十百]+)条(?:第[(（]([一二三四五六七八九十]+)[)）]项)?")


@lru_cache(maxsize=1)
def legal_texts() -> dict:
    """The policy texts legal bases cite: source name -> {title, articles: {n: {text, items}}}."""
    data = yaml.safe_load(LEGAL_TEXTS_PATH.read_text(encoding="utf-8"))
    sources = data.get("sources") if isinstance(data, dict) else None
    if not isinstance(sources, list):
        raise ReviewError(f"{LEGAL_TEXTS_PATH}: 'sources' list missing")
    out = {}
    for i, s in enumerate(sources):
        if not isinstance(s, dict) or not s.get("title") or not isinstance(s.get("articles"), dict):
            raise ReviewError(f"{LEGAL_TEXTS_PATH}: source #{i + 1} needs title and articles")
        out[s["title"]] = s
    return out


def policy_text(basis: str | None) -> list[dict]:
    """The cited passages of a legal basis (``《条例》第38条第(一)项；…``): for each citation the
    source, the article and item and their text, so the case page shows it one click away.
    A citation whose text is not on file is returned with ``text`` None."""
    if not basis:
        return []
    out = []
    for part in re.split(r"[；;]", basis):
        title = next((t for t in legal_texts() if t in part), None)
        for m in _ITEM.finditer(part):
            n = int(m.group(1)) if m.group(1).isdigit() else m.group(1)
            art = (legal_texts()[title]["articles"].get(n) if title else None) or {}
            item = m.group(2)
            text = (art.get("items") or {}).get(item) if item else None
            out.append({"citation": m.group(0), "source": title, "article": art.get("text"),
                        "item": item, "text": text or art.get("text"), "url": art.get("url") or (
                            legal_texts()[title].get("url") if title else None)})
    return out

