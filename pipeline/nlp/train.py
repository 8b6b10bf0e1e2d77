"""Train the NER components and assemble the shipped zh pipeline (models/ner).

Two statistical NER components, each trained on one corpus with a consistent annotation scheme
(mixing schemes would teach a model that e.g. symptoms are not entities, as Yidu-S4K does not
annotate them): ``ner`` on Yidu-S4K (DISEASE, OPERATION, ANATOMY, DRUG, IMAGING, LAB) and
``ner_ccks2017`` on CCKS 2017 (SYMPTOM, EXAM, TREATMENT, and its own DISEASE/ANATOMY). At run
time both see the whole text; the second contributes only the labels the first lacks
(components.py). By default both heads share one encoder, trained multi-task (train_shared.py,
``fit``); ``shared=False`` trains one model per head (``train_on_docs``). An ``entity_ruler`` with
patterns from data/ner_patterns.yaml runs before them (NURSING_LEVEL etc., not in any corpus).
Only the 80 % training part of each corpus is used; 10 % of it is the dev set for picking the
best epoch, the 20 % held-out part is only measured at the end.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import spacy
from spacy.util import fix_random_seed, minibatch
from thinc.api import Adam
from threadpoolctl import threadpool_limits

from pipeline.nlp import biluo, components  # noqa: F401  (registers the NER head and merge factories)
from pipeline.nlp import corpora, modelcard
from pipeline.nlp.build import DEPTH, MAXOUT, WIDTH, WINDOW, add_ruler, blank_nlp, encoder_config, save_pipeline
from pipeline.nlp.epochs import log_epoch, predict_spans, should_stop, to_examples
from pipeline.nlp.evaluate import score_spans
from pipeline.nlp.ops import use_numpy_blas
from pipeline.nlp.pretrain import extra_texts, pretrain_encoder
from pipeline.nlp.tokenize import USERDICT_NAME, build_userdict
from pipeline.nlp.train_shared import assemble_shared, train_shared

# NER component → (training corpora, labels it adds to the first component's entities).
COMPONENTS = {
    "ner": (["yidu-s4k"], None),
    "ner_ccks2017": (["ccks2017-cner"], ["SYMPTOM", "EXAM", "TREATMENT"]),
}
# Which first-model entities an added entity may wholly contain (both are kept; components.py).
# A SYMPTOM may span a body part (胸痛 over 胸). CCKS 2017's EXAM and TREATMENT are coarser labels
# over the same mentions Yidu-S4K tags as IMAGING/LAB and DRUG/OPERATION (腰椎CT, 颠茄片, 阑尾切除术),
# and exams and treatments are named after what they look at or treat (乙肝表面抗原, 抗结核治疗), so
# they may contain any first-model entity. This raises the CCKS 2017 EXAM and TREATMENT scores
# over allowing ANATOMY only (docs/NER-EXPERIMENTS.md) and leaves the first model's entities alone.
_ANY = ["ANATOMY", "DISEASE", "DRUG", "IMAGING", "LAB", "OPERATION"]
MAY_CONTAIN = {"SYMPTOM": ["ANATOMY"], "EXAM": _ANY, "TREATMENT": _ANY}
# Epochs of masked-character pretraining of the shared encoder (pretrain.py) before NER training;
# it helps CCKS 2017 and the cross-corpus check more than Yidu-S4K (docs/NER-EXPERIMENTS.md).
PRETRAIN_EPOCHS = 10


def train_on_docs(
    name: str,
    docs: list[corpora.NerDoc],
    out_dir: Path,
    userdict: Path | None,
    seed: int = 0,
    time_budget_s: float = 900,
    max_epochs: int = 30,
    patience: int = 4,
    width: int = WIDTH,
    depth: int = DEPTH,
    window: int = WINDOW,
    maxout: int = MAXOUT,
    rows: int = 8000,
    log_path: Path | None = None,
) -> dict:
    """Train one NER component on ``docs`` (10 % of their groups are the dev set); save the
    best-on-dev pipeline to ``out_dir``; return its history. Same seed, same data → same model."""
    fix_random_seed(seed)
    rng = random.Random(seed)
    train_part, dev_docs = corpora.split_dev(docs, seed)
    train_docs = [p for d in train_part for p in corpora.chunk_doc(d)]
    nlp = blank_nlp(userdict)
    biluo.add_head(nlp, name, sorted({lab for d in docs for _, _, lab in d.entities}),
                   encoder_config(width, depth, rows, window, maxout))
    use_numpy_blas(nlp)
    train_ex = to_examples(nlp, train_docs)
    optimizer = Adam(0.001, L2=1e-6, grad_clip=1.0, use_averages=True)   # averaged weights: see train_shared.py
    nlp.initialize(lambda: train_ex, sgd=optimizer)
    best, best_f, history, bad = None, -1.0, [], 0
    t0 = time.time()
    for epoch in range(max_epochs):
        rng.shuffle(train_ex)
        losses: dict = {}
        for batch in minibatch(train_ex, size=16):
            nlp.update(batch, sgd=optimizer, drop=0.15, losses=losses)
        with nlp.use_params(optimizer.averages):
            pred = predict_spans(nlp, [d.text for d in dev_docs])
            f = score_spans([d.entities for d in dev_docs], pred)["micro"]["f1"]
            data = nlp.get_pipe(name).to_bytes() if f > best_f else None
        history.append({"epoch": epoch + 1, "loss": round(float(losses.get(name, 0.0)), 1), "dev_f1": f, "elapsed_s": round(time.time() - t0)})
        log_epoch(f"{name} epoch {epoch + 1} loss {losses.get(name, 0.0):.1f} dev_f1 {f:.4f} {time.time() - t0:.0f}s",
                  log_path)
        if f > best_f:
            best_f, best, bad = f, data, 0
        else:
            bad += 1
        if should_stop(bad, patience, t0, epoch + 1, time_budget_s):
            break
    nlp.get_pipe(name).from_bytes(best)
    out_dir.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(out_dir)
    return {"component": name, "train_docs": len(docs) - len(dev_docs), "dev_docs": len(dev_docs),
            "best_dev_f1": best_f, "history": history, "seed": seed,
            "width": width, "depth": depth, "window": window, "maxout": maxout}


def assemble(parts: dict[str, Path], out: Path, userdict: Path | None) -> spacy.Language:
    """The shipped pipeline: tokenizer, entity_ruler, the first NER, then for each further NER:
    stash → NER → merge (keeping only the labels it adds; see components.py)."""
    nlp = blank_nlp(userdict)
    add_ruler(nlp)
    for i, (name, path) in enumerate(parts.items()):
        src = spacy.load(path)
        if i == 0:
            nlp.add_pipe(name, source=src)
            continue
        adds = COMPONENTS.get(name, (None, None))[1] or list(src.get_pipe(name).entity_labels)
        nlp.add_pipe("medreview_stash_ents", name=f"stash_{name}")
        nlp.add_pipe(name, source=src)
        nlp.add_pipe("medreview_merge_ents", name=f"merge_{name}", config={"adds": adds, "may_contain": MAY_CONTAIN})
    save_pipeline(nlp, out)
    return nlp


def _train_worker(kwargs):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    name, docs, out_dir, userdict = kwargs.pop("name"), kwargs.pop("docs"), kwargs.pop("out_dir"), kwargs.pop("userdict")
    return train_on_docs(name, docs, out_dir, userdict, **kwargs)


def fit(sets: dict[str, list[corpora.NerDoc]], out: Path, work: Path, userdict: Path, *, shared: bool = True,
        seed: int = 0, time_budget_s: float = 1800, max_epochs: int = 30, workers: int = 2,
        pretrain_epochs: int = 0, unlabeled: Sequence[str] = (), **options) -> list[dict]:
    """Train the NER heads of COMPONENTS on their document sets and write the assembled pipeline
    to ``out``; returns one info dict per head (component, train/dev docs, best dev F1, history).

    shared: one encoder for all heads, trained multi-task in one process (train_shared.py; the
    time budget is for the whole training); else one model per head, in parallel processes
    (one core each; the time budget is per head).
    pretrain_epochs: first pretrain the shared encoder on the training parts' text plus
    ``unlabeled`` (pretrain.py); 0: start from random weights. Shared encoder only."""
    # One BLAS thread per process: reproducible, and the parallel heads already use one core each.
    # The variables reach the spawned per-head processes; this process's BLAS is already loaded.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    if shared:
        with threadpool_limits(limits=1, user_api="blas"):
            return _fit_shared(sets, out, work, userdict, seed=seed, time_budget_s=time_budget_s, max_epochs=max_epochs,
                               pretrain_epochs=pretrain_epochs, unlabeled=unlabeled, **options)
    jobs = [dict(name=n, docs=docs, out_dir=work / n, userdict=userdict, seed=seed, time_budget_s=time_budget_s,
                 max_epochs=max_epochs, log_path=work / f"{n}.log", **options) for n, docs in sets.items()]
    if workers > 1:
        with mp.get_context("spawn").Pool(min(workers, len(jobs))) as pool:
            infos = pool.map(_train_worker, [dict(j) for j in jobs])
    else:
        infos = [_train_worker(dict(j)) for j in jobs]
    assemble({j["name"]: j["out_dir"] for j in jobs}, out, userdict)
    return infos


def _fit_shared(sets, out: Path, work: Path, userdict: Path, *, seed: int, time_budget_s: float, max_epochs: int,
               pretrain_epochs: int, unlabeled, **options) -> list[dict]:
    """``fit`` with one shared encoder: optional pretraining, multi-task training, assembly."""
    weights, pre = None, {}
    if pretrain_epochs:
        texts = [p.text for docs in sets.values() for d in corpora.split_dev(docs, seed)[0] for p in corpora.chunk_doc(d)]
        texts += list(unlabeled)
        shape = {k: options[k] for k in ("width", "depth", "rows", "window", "maxout") if k in options}
        t0 = time.time()
        weights = pretrain_encoder(blank_nlp(userdict), encoder_config(**shape), texts, epochs=pretrain_epochs,
                                   seed=seed, log_path=work / "shared.log")
        pre = {"pretrain": {"epochs": pretrain_epochs, "texts": len(texts), "chars": sum(map(len, texts)),
                            "seconds": round(time.time() - t0)}}
    info = train_shared(sets, work / "shared", userdict, seed=seed, time_budget_s=time_budget_s,
                        max_epochs=max_epochs, log_path=work / "shared.log", encoder_weights=weights, **options)
    assemble_shared(work / "shared", out, {n: COMPONENTS[n][1] for n in sets}, MAY_CONTAIN)
    shape = {k: info[k] for k in ("width", "depth", "window", "maxout")}
    return [dict(c, encoder="shared", **shape, **pre, seed=seed,
                 history=[{"epoch": h["epoch"], "dev_f1": h["dev_f1"][n]} for h in info["history"]])
            for n, c in info["components"].items()]


def pretraining(data_dir: Path, epochs: int, shared: bool) -> dict:
    """``fit``'s pretraining arguments: ``epochs`` of it on the unlabeled text beside the corpora
    (pretrain.extra_texts) for a shared encoder; none with separate encoders."""
    epochs = epochs if shared else 0
    return {"pretrain_epochs": epochs, "unlabeled": extra_texts(data_dir) if epochs else []}


def train_ner(data_dir: Path | None = None, out: Path = Path("models/ner"), seed: int = 0,
              time_budget_s: float = 1800, max_epochs: int = 30, workers: int = 2, shared: bool = True,
              pretrain_epochs: int = PRETRAIN_EPOCHS) -> dict:
    """Reproduce models/ner: user dict, encoder pretraining, the NER heads (see ``fit``),
    assembly, held-out evaluation and the model card."""
    data_dir = Path(data_dir) if data_dir else corpora.shared_data_dir()
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="medreview-ner-") as tmp:
        work = Path(tmp)
        userdict = work / USERDICT_NAME
        build_userdict(data_dir / "icd", out=userdict)
        sets = {n: [d for c in cs for d in corpora.load_split(c, data_dir)[0]] for n, (cs, _) in COMPONENTS.items()}
        t0 = time.time()
        infos = fit(sets, out, work, userdict, shared=shared, seed=seed, time_budget_s=time_budget_s,
                    max_epochs=max_epochs, workers=workers, **pretraining(data_dir, pretrain_epochs, shared))
        train_s = time.time() - t0
    for info in infos:
        info["corpora"] = COMPONENTS[info["component"]][0]
    return modelcard.write(out, data_dir, infos, train_s, seed)
