"""The scoring stage ("scored"): per-record rules and features in workers, flags + stay summary
+ risk score saved per record; cross-record rules at batch end over every stay, after which the
records whose cross-record flags changed are rescored.

Flags are upserted on their natural key (record, rule, key, rules version: the ``catalogue_version``
column, which covers the catalogue, a region override and the knowledge tables), so a re-run keeps
flag ids that reviewers' decisions point to; stale system flags are removed unless reviewed.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass

from pipeline import store
from pipeline.models import registry
from pipeline.run.options import parse_options
from pipeline.record import view as record_view
from pipeline.drg import region as region_mod
from pipeline.rules import drg_assess, ruleset
from pipeline.rules.errors import CatalogueError
from pipeline.rules.checks import cross_record
from pipeline.rules.points import UNJUDGED
from pipeline.score.classifier import RiskModel
from pipeline.score.features import base_features, flag_features, rule_risk, vector

log = logging.getLogger(__name__)
UNJUDGED_TYPE, UNJUDGED_WEIGHT = "manual_check", 0.25
FLAG_COLUMNS = ("rule_name", "category", "severity", "score", "reason", "amount", "evidence", "charge_ids",
                "knowledge", "details", "model_version", "created_at")


def current_model(root=None) -> dict | None:
    """The promoted classifier in the model registry (``models/`` or $MEDREVIEW_MODELS), or None
    when none is promoted or its card is unreadable (then records are scored by rules)."""
    try:
        card = registry.current("classifier", root=root)
    except registry.RegistryError as exc:
        log.warning("model registry unreadable, scoring by rules: %s", exc)
        return None
    return {"version": card["id"], "path": card["path"]} if card else None


def brief(violation_type: str, amount, score, knowledge: dict | None) -> dict:
    """What the score reads of a flag. A national flag that could not judge its point (无法判定,
    限定条件未解析) asks for a manual check: it is counted apart and weighs a quarter."""
    if knowledge and knowledge.get("verdict") in UNJUDGED:
        return {"violation_type": UNJUDGED_TYPE, "amount": 0.0, "score": (score or 0.0) * UNJUDGED_WEIGHT}
    return {"violation_type": violation_type, "amount": amount, "score": score}


def flag_brief(flag) -> dict:
    return brief(flag.violation_type, flag.amount, flag.score, flag.knowledge)


def score(features: dict, flags: list[dict], model_info: dict | None, violation_types: list[str],
          rules_version: str, ctx: dict) -> dict:
    """Probability of non-compliance with its explanation; rule-based until a model is trained."""
    feats = dict(features, **flag_features(flags, violation_types, math.expm1(features.get("log_total_cost", 0.0))))
    model = None
    if model_info:
        cache = ctx.setdefault("models", {})
        if model_info["version"] not in cache:
            try:
                cache[model_info["version"]] = RiskModel.load(model_info["path"])
            except (OSError, TypeError, ValueError) as exc:
                log.warning("classifier %s unusable, scoring by rules: %s", model_info["version"], exc)
                cache[model_info["version"]] = None
        model = cache[model_info["version"]]
    if model is None:
        flagged = sorted({f["violation_type"] for f in flags})
        why = f"classifier {model_info['version']} unusable" if model_info else "no promoted classifier"
        return {"model_version": f"rules@{rules_version}", "probability": round(rule_risk(flags), 4),
                "explanation": {"method": f"rules (noisy-or of rule weights): {why}",
                                "top_features": [{"feature": f"flags_{t}", "value": feats[f"flags_{t}"]} for t in flagged]}}
    x = vector(feats, model.feature_names)
    p = float(model.predict([x])[0])
    per_type = {t: round(float(v[0]), 4) for t, v in model.predict_types([x]).items()}
    return {"model_version": model_info["version"], "probability": round(p, 4),
            "explanation": {"method": "calibrated logistic regression", "top_features": model.explain(x),
                            "per_type": per_type}}


def _same_finding(db, old: dict, k: tuple, row: dict) -> tuple | None:
    """The key of an earlier rules version's flag for the same rule and key that may become
    ``row``: any such unreviewed flag, or a reviewed one whose reason and amount are unchanged
    (a reviewed flag that now says something else stays as it was decided, beside the new one)."""
    for ok, (fid, reason, amount) in old.items():
        if ok[:2] != k[:2] or ok[2] == k[2]:
            continue
        if not _reviewed(db, fid) or (reason, amount) == (row["reason"], row["amount"]):
            return ok
    return None


def _reviewed(db, flag_id: int) -> bool:
    return db.execute("SELECT 1 FROM reviews WHERE flag_id = ? LIMIT 1", (flag_id,)).fetchone() is not None


def sync_flags(db, record_id: int, rows: list[dict], rule_ids: set[str]) -> bool:
    """Make the record's system flags of ``rule_ids`` equal ``rows``; True when anything changed."""
    if not rule_ids:
        return False
    marks = ",".join("?" * len(rule_ids))
    old = {(r[1], r[2], r[3]): (r[0], r[4], r[5]) for r in db.execute(
        f"SELECT id, rule_id, key, catalogue_version, reason, amount FROM flags WHERE record_id = ?"
        f" AND source = 'system' AND rule_id IN ({marks})", (record_id, *sorted(rule_ids)))}
    new_keys = set()
    changed = False
    for row in rows:
        k = (row["rule_id"], row["key"], row["catalogue_version"])
        new_keys.add(k)
        if k not in old or old[k][1:] != (row["reason"], row["amount"]):
            changed = True
        if k not in old:   # a rules upgrade: the same finding keeps its flag id (and reviews)
            prior = _same_finding(db, old, k, row)
            if prior is not None:
                new_keys.add(prior)
                db.execute("UPDATE flags SET catalogue_version = ? WHERE id = ?", (row["catalogue_version"], old[prior][0]))
        cols = list(row)
        db.execute(
            f"INSERT INTO flags ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            " ON CONFLICT(record_id, rule_id, key, catalogue_version) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in FLAG_COLUMNS if c in row),
            [row[c] for c in cols],
        )
    for k, (fid, *_rest) in old.items():
        if k in new_keys:
            continue
        changed = True
        if not _reviewed(db, fid):
            db.execute("DELETE FROM flags WHERE id = ?", (fid,))
    return changed


@dataclass(frozen=True)
class ScoreOptions:
    rules_override: str | None = None    # a region's override YAML (parameters, enabled rules)
    catalogue_path: str | None = None    # default: the packaged catalogue
    knowledge_dir: str | None = None     # default: the packaged knowledge tables


class ScoreStage:
    name = "scored"

    def __init__(self, db_path=None, **options):
        self.db_path = db_path
        self.options = parse_options(ScoreOptions, "score", options)
        self.override = self.options.rules_override
        self.catalogue_path = self.options.catalogue_path
        self.knowledge_dir = self.options.knowledge_dir
        self._rules = None
        self._model = False   # not looked up yet: once per run, so one run scores with one version

    def check(self) -> None:
        """Load the catalogue, a region override and the knowledge tables now, so a bad file is a
        usage error before any record is scored (the DRG region file and its scheme too)."""
        self.rules()
        try:
            region_mod.load(self.drg_params()["region"])
        except region_mod.RegionError as exc:
            raise CatalogueError(str(exc)) from None

    def model(self) -> dict | None:
        if self._model is False:
            self._model = current_model()
        return self._model

    def rules(self) -> ruleset.RuleSet:
        if self._rules is None:
            self._rules = ruleset.load(self.catalogue_path, self.override, self.knowledge_dir)
        return self._rules

    def _cross_ids(self) -> set[str]:
        return {r.id for r in self.rules().catalogue.rules if r.family == "cross_record"}

    def drg_params(self) -> dict:
        """The DRG upcoding rule's parameters (its region), enabled or not: every record is grouped."""
        rule = next((r for r in self.rules().catalogue.rules if r.family == "drg" and r.check == "drg_upcoding"), None)
        params = rule.params if rule else {}
        return {"region": params.get("region", "example"), "similarity": params.get("procedure_name_similarity", 0.6)}

    def _own_ids(self) -> set[str]:
        return {r.id for r in self.rules().catalogue.rules if r.family != "cross_record"}

    def flags_of(self, db, record_id: int) -> list[dict]:
        rules = self.rules()
        by_id = {r.id: r for r in rules.catalogue.rules}
        out = []
        for rule_id, amount, sc, know in db.execute(
                "SELECT rule_id, amount, score, knowledge FROM flags WHERE record_id = ? AND source = 'system'"
                " AND catalogue_version = ?", (record_id, rules.version)):
            if rule_id in by_id:
                out.append(brief(by_id[rule_id].violation_type, amount, sc, json.loads(know) if know else None))
        return out

    # --- stage protocol -------------------------------------------------------------------
    def prepare(self, db, record):
        cross = [f for f in self.flags_of(db, record["id"])
                 if f["violation_type"] in {r.violation_type for r in self.rules().catalogue.enabled("cross_record")}]
        return {"view": record_view.load(db, record["id"]), "cross": cross, "model": self.model()}

    def work(self, task, ctx):
        rules = self.rules()
        view = task["view"]
        flags = rules.evaluate(view)
        stay = cross_record.stay_from_view(view, rules.kb)
        base = base_features(view, rules.kb)
        result = score(base, [flag_brief(f) for f in flags] + task["cross"], task["model"], rules.violation_types,
                       rules.version, ctx)
        created = store.now()
        p = self.drg_params()
        drg = drg_assess.assess(view, rules.knowledge, p["region"], p["similarity"])
        yield {
            "flags": [f.row(view.record_id, created, store.dumps) for f in flags],
            "drg": drg.to_row(view.record_id, created, store.dumps),
            "stay": dict(stay.to_row(store.dumps), features=store.dumps(base), catalogue_version=rules.version),
            "score": result,
        }

    def save(self, db, record, result):
        rid = record["id"]
        own = self._own_ids()
        sync_flags(db, rid, result["flags"], own)
        known = own | self._cross_ids()
        # Rules the catalogue no longer has: their unreviewed flags go (reviewed ones are history).
        db.execute(f"DELETE FROM flags WHERE record_id = ? AND source = 'system' AND rule_id NOT IN ({','.join('?' * len(known))})"
                   " AND NOT EXISTS (SELECT 1 FROM reviews v WHERE v.flag_id = flags.id)", (rid, *sorted(known)))
        store.insert_many(db, "stays", [result["stay"]], on_conflict="replace")
        store.insert_many(db, "drg_groups", [result["drg"]], on_conflict="replace")
        self._write_score(db, rid, result["score"])

    def finish(self, db, record):
        pass

    def after_batch(self, db):
        """Cross-record rules over every scored stay; rescore the records whose flags changed."""
        rules = self.rules()
        rows = db.execute(
            "SELECT s.* FROM stays s JOIN records r ON r.id = s.record_id WHERE r.status != 'failed'").fetchall()
        cols = [d[0] for d in db.execute("SELECT * FROM stays LIMIT 0").description]
        stays, features = [], {}
        for row in rows:
            d = dict(zip(cols, row))
            features[d["record_id"]] = json.loads(d.pop("features") or "{}")
            d.pop("catalogue_version", None)
            d["evidence"] = json.loads(d["evidence"] or "[]")
            d["workup"] = json.loads(d.get("workup") or "{}")
            stays.append(cross_record.Stay(**d))
        flags = rules.evaluate_stays(stays)
        by_record: dict[int, list] = {}
        for f in flags:
            by_record.setdefault(f.record_id, []).append(f)
        cross_ids = self._cross_ids()
        marks = ",".join("?" * len(cross_ids))
        had = {r[0] for r in db.execute(
            f"SELECT DISTINCT record_id FROM flags WHERE source = 'system' AND rule_id IN ({marks})", sorted(cross_ids))}
        model_info = self.model()
        ctx: dict = {}
        created = store.now()
        with store.transaction(db):
            for rid in sorted((set(by_record) | had) & set(features)):
                rows_ = [f.row(rid, created, store.dumps) for f in by_record.get(rid, [])]
                if sync_flags(db, rid, rows_, cross_ids):
                    self._write_score(db, rid, score(features[rid], self.flags_of(db, rid), model_info,
                                                     rules.violation_types, rules.version, ctx))

    @staticmethod
    def _write_score(db, rid, result):
        store.insert_many(db, "scores", [{
            "record_id": rid, "model_version": result["model_version"], "probability": result["probability"],
            "explanation": store.dumps(result["explanation"]), "created_at": store.now(),
        }], on_conflict="replace")
