"""`medreview train ner --from annotations/`: retrain the NER components on the base corpora's
training splits plus reviewers' entity corrections, compare with the current version on the same
held-out parts, register the result as a new version and promote it when the guard allows.

Training data per component: its corpus's 80 % training split (``corpora.load_split``, the same
held-out 20 % as the shipped model) plus the corrected sections, keeping only the labels that
component learns (the Yidu component does not learn SYMPTOM, see train.py). A section's
reviewer-corrected spans are its only annotation: a base document with the same text is dropped
from training. A fixed 20 % of the corrected sections, chosen by the hash of their text (so a
section stays on its side whatever else is exported), is held out and scored separately; held-out
corrections, and corrections whose text is a base held-out document, never train.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

from pipeline.models import registry
from pipeline.nlp import corpora
from pipeline.nlp.evaluate import score_spans
from pipeline.nlp.tokenize import USERDICT_NAME, build_userdict

log = logging.getLogger(__name__)

CORRECTIONS = "corrections"
HELDOUT_MOD = 5          # text hash % 5 == 0 → held out: a fixed 20 %
HELDOUT_SALT = "medreview-ner-heldout:"
# Held-out parts scored for every version, and the metric name each one reports under.
METRIC_NAMES = {"yidu-s4k": "f1", "ccks2017-cner": "f1_ccks2017", CORRECTIONS: "f1_corrections"}


class RetrainError(RuntimeError):
    """Unusable input: no corrections, corpora missing, or no model to compare with."""


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_heldout(text: str) -> bool:
    return int(hashlib.sha256((HELDOUT_SALT + text_hash(text)).encode()).hexdigest(), 16) % HELDOUT_MOD == 0


def correction_docs(rows: list[dict]) -> list[corpora.NerDoc]:
    """One NerDoc per distinct corrected text (the latest correction wins when a text was
    corrected in several records); group = the text hash, so copies never straddle a split.
    Its entities include the row's nested ones, so they may overlap (see ``training_sets``)."""
    latest: dict[str, dict] = {}
    for r in sorted(rows, key=lambda r: (r.get("corrected_at") or "", r["key"])):
        latest[text_hash(r["text"])] = r
    return [corpora.NerDoc(f"{CORRECTIONS}:{h[:16]}", r["text"],
                           sorted((e["start"], e["end"], e["label"]) for e in r["entities"] + r.get("nested", [])),
                           h, CORRECTIONS)
            for h, r in sorted(latest.items())]


def split_corrections(docs: list[corpora.NerDoc]) -> tuple[list[corpora.NerDoc], list[corpora.NerDoc]]:
    return [d for d in docs if not is_heldout(d.text)], [d for d in docs if is_heldout(d.text)]


def training_sets(base_train: dict[str, list[corpora.NerDoc]], base_held: dict[str, list[corpora.NerDoc]],
                  corr_train: list[corpora.NerDoc], components: dict) -> tuple[dict[str, list[corpora.NerDoc]], dict]:
    """component → training docs (base training split + corrections restricted to the
    component's labels), and counts of what was replaced or left out."""
    held_texts = {d.text for docs in base_held.values() for d in docs}
    usable = [d for d in corr_train if d.text not in held_texts]
    corrected = {d.text for d in usable}
    out, stats = {}, {"corrections_overlapping_heldout": len(corr_train) - len(usable)}
    for name, (corpus_names, _) in components.items():
        base = [d for c in corpus_names for d in base_train[c]]
        labels = {l for d in base for _, _, l in d.entities}
        kept = [d for d in base if d.text not in corrected]   # the reviewer's spans win for these texts
        stats[f"{name}_base_replaced"] = len(base) - len(kept)
        out[name] = kept + [corpora.NerDoc(d.id, d.text, one_layer([e for e in d.entities if e[2] in labels]), d.group,
                                           d.corpus) for d in usable]
    stats["corrections_train"] = len(usable)
    return out, stats


def one_layer(ents: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Spans a tagger can learn: the longer of two overlapping spans wins (the CCKS 2017 head learns
    the SYMPTOM 胸痛, not the ANATOMY 胸 that the Yidu-S4K head learns inside it)."""
    kept: list[tuple[int, int, str]] = []
    for e in sorted(ents, key=lambda e: (e[0] - e[1], e[0], e[2])):
        if all(e[1] <= k[0] or k[1] <= e[0] for k in kept):
            kept.append(e)
    return sorted(kept)


def _docs_hash(docs) -> str:
    h = hashlib.sha256()
    for d in docs:
        h.update(json.dumps([d.text, d.entities], ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()


def evaluate(model_path: Path, heldout: dict[str, list[corpora.NerDoc]]) -> dict:
    """Metrics named as in METRIC_NAMES (micro-F1 of the full pipeline per held-out part),
    plus per-part details; a part with no documents gets no metric."""
    from pipeline.nlp.pipeline import NlpPipeline

    nlp = NlpPipeline(model_path)
    metrics, detail = {}, {}
    for part, docs in heldout.items():
        if not docs:
            continue
        pred = nlp.extract_many([(d.text, None) for d in docs], normalize=False)
        res = score_spans([d.entities for d in docs], [[(e.start, e.end, e.label) for e in p] for p in pred])
        metrics[METRIC_NAMES[part]] = res["micro"]["f1"]
        detail[part] = {"documents": len(docs), **res["micro"]}
    if "yidu-s4k" in detail:
        metrics.update(precision=detail["yidu-s4k"]["precision"], recall=detail["yidu-s4k"]["recall"])
    return {"metrics": metrics, "detail": detail, "version": nlp.version}


def _baseline(incumbent: dict | None, heldout: dict) -> dict | None:
    """The current version measured on the candidate's held-out parts, which the guard prefers
    (an unloadable current version gets no numbers: the guard then falls back to its card)."""
    from pipeline.nlp.pipeline import ModelMissing

    if incumbent is None:
        return None
    try:
        return {"version": incumbent["version"], **evaluate(Path(incumbent["path"]), heldout)["metrics"]}
    except (ModelMissing, OSError, ValueError) as exc:
        log.warning("current NER version %s could not be measured: %s", incumbent["version"], type(exc).__name__)
        return {"version": incumbent["version"], "error": type(exc).__name__}


def _userdict(incumbent_path: Path | None, data_dir: Path, out: Path) -> Path:
    """The current model's tokenizer dictionary (same tokenization as the model it replaces),
    else one built from the ICD tables."""
    src = incumbent_path / "tokenizer" / USERDICT_NAME if incumbent_path else None
    if src and src.is_file():
        shutil.copyfile(src, out)
    else:
        build_userdict(data_dir / "icd", out=out)
    return out


def retrain_ner(annotations: Path, *, data_dir: Path | None = None, models_dir: Path | None = None,
                force: bool = False, seed: int = 0, time_budget_s: float = 1800, max_epochs: int = 30,
                workers: int = 2, train_options: dict | None = None, shared: bool = True) -> dict:
    """Train, evaluate against the current version, register and (guard permitting, or
    ``force``) promote. ``train_options``: extra training parameters (width, depth…, pretrain_epochs,
    default PRETRAIN_EPOCHS); ``shared``: one encoder for all heads (see ``pipeline.nlp.train.fit``).
    Returns {card, metrics, baseline, promoted, reason, stats}."""
    from pipeline.annotations.entities import load_corrections
    from pipeline.annotations.load import AnnotationError, read_manifest
    from pipeline.nlp.pipeline import DEFAULT_MODEL, sha256_dir
    from pipeline.nlp.train import COMPONENTS, PRETRAIN_EPOCHS, fit, pretraining

    root = Path(models_dir) if models_dir else None
    data_dir = Path(data_dir) if data_dir else corpora.shared_data_dir()
    try:
        rows = load_corrections(Path(annotations))
    except AnnotationError as exc:
        raise RetrainError(str(exc)) from exc
    if not rows:
        raise RetrainError(f"{annotations}: 没有实体修正 (no entity corrections)")
    ann_path = Path(annotations)
    kind_dir = ann_path / "entity_corrections" if (ann_path / "entity_corrections").is_dir() else ann_path
    ann_version = read_manifest(kind_dir).get("latest") if kind_dir.is_dir() else ann_path.stem

    corpus_names = sorted({c for cs, _ in COMPONENTS.values() for c in cs})
    missing = [c for c in corpus_names if not (data_dir / corpora.CORPORA[c]).is_file()]
    if missing:
        raise RetrainError(f"{data_dir}: corpora not found: {', '.join(missing)} (use --data-dir or MEDREVIEW_SHARED_DATA)")
    base_train, base_held = {}, {}
    for c in corpus_names:
        base_train[c], base_held[c] = corpora.load_split(c, data_dir)
    corr_train, corr_held = split_corrections(correction_docs(rows))
    sets, stats = training_sets(base_train, base_held, corr_train, COMPONENTS)
    stats.update(corrections_rows=len(rows), corrections_heldout=len(corr_held), annotations_version=ann_version)
    heldout = {**base_held, CORRECTIONS: corr_held}
    heldout_hash = hashlib.sha256("".join(
        f"{part}\0{text_hash(d.text)}\n" for part, docs in sorted(heldout.items()) for d in docs).encode()).hexdigest()
    data_hash = hashlib.sha256(
        (f"annotations:{ann_version}\n" + "".join(f"{n}:{_docs_hash(sets[n])}\n" for n in sorted(sets))).encode()).hexdigest()

    incumbent = registry.current("ner", root=root)
    inc_path = Path(incumbent["path"]) if incumbent else (DEFAULT_MODEL if (DEFAULT_MODEL / "config.cfg").is_file() else None)
    staging = registry.staging_dir("ner", root=root)
    t0 = time.time()
    try:
        with tempfile.TemporaryDirectory(prefix="medreview-ner-retrain-") as tmp:
            work = Path(tmp)
            userdict = _userdict(inc_path, data_dir, work / USERDICT_NAME)
            options = dict(train_options or {})
            pre = pretraining(data_dir, options.pop("pretrain_epochs", PRETRAIN_EPOCHS), shared)
            infos = fit(sets, staging, work, userdict, shared=shared, seed=seed, time_budget_s=time_budget_s,
                        max_epochs=max_epochs, workers=workers, **pre, **options)
        train_s = round(time.time() - t0)
        (staging / "model.sha256").write_text(f"{sha256_dir(staging)}  ner\n", encoding="utf-8")
        (staging / "train_info.json").write_text(json.dumps(
            {"components": infos, "stats": stats, "train_s": train_s, "annotations_version": ann_version},
            ensure_ascii=False, indent=1), encoding="utf-8")
        new = evaluate(staging, heldout)
        baseline = _baseline(incumbent, heldout)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    metrics = {**new["metrics"], "n_corrections_train": stats["corrections_train"],
               "n_corrections_heldout": len(corr_held), "train_s": train_s}
    res = registry.register_and_promote(
        "ner", staging, force=force, root=root, metrics=metrics, heldout_hash=heldout_hash, data_hash=data_hash,
        parent=incumbent["version"] if incumbent else None, baseline=baseline,
        notes={"annotations_version": ann_version, "heldout_detail": new["detail"], "stats": stats,
               "heldout": "Yidu-S4K/CCKS 2017 fixed 20 % + corrections with text hash % 5 == 0"})
    card = res["card"]
    return {"card": card, "id": card["id"], "path": card["path"], "metrics": metrics, "baseline": baseline,
            "promoted": res["promoted"], "reason": res["reason"], "stats": stats}
