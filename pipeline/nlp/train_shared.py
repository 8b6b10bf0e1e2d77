"""Train the NER heads on one shared encoder (multi-task), each head on its own corpus.

One ``tok2vec`` component feeds every NER head through ``spacy.Tok2VecListener.v1``, so the
text is encoded once at run time instead of once per head (the encoder is most of a head's cost).
Training alternates minibatches of the corpora; a batch of one corpus updates the encoder and
that corpus's head only, so no head learns from another corpus's missing labels (Yidu-S4K does
not annotate symptoms). The epoch is chosen by the mean dev F1 of the heads, each measured alone.
"""
from __future__ import annotations

import random
import time
from pathlib import Path

import spacy
from spacy.training import Example
from spacy.util import fix_random_seed, minibatch
from thinc.api import Adam

from pipeline.nlp import corpora
from pipeline.nlp.biluo import add_head
from pipeline.nlp.build import DEPTH, MAXOUT, WIDTH, WINDOW, add_ruler, blank_nlp, encoder_config, save_pipeline
from pipeline.nlp.components import ENCODER
from pipeline.nlp.epochs import log_epoch, predict_spans, should_stop, to_examples
from pipeline.nlp.evaluate import score_spans
from pipeline.nlp.ops import use_numpy_blas


def _listen_last(nlp, head: str) -> None:
    """spaCy's tok2vec backpropagates when its *last* listener has sent its gradient; with the
    other heads excluded from an update, the head being trained must be that last listener."""
    t2v = nlp.get_pipe(ENCODER)
    t2v.listener_map = {k: v for k, v in t2v.listener_map.items() if k != head} | {head: t2v.listener_map[head]}


def build(userdict: Path | None, heads: dict[str, list[str]], width: int = WIDTH, depth: int = DEPTH, rows: int = 8000,
          window: int = WINDOW, maxout: int = MAXOUT):
    """A blank pipeline: the shared encoder and one NER head per entry of ``heads`` (name → labels)."""
    nlp = blank_nlp(userdict)
    nlp.add_pipe("tok2vec", name=ENCODER, config={"model": encoder_config(width, depth, rows, window, maxout)})
    for name, labels in heads.items():
        add_head(nlp, name, labels, {"@architectures": "spacy.Tok2VecListener.v1", "width": width, "upstream": ENCODER})
    use_numpy_blas(nlp)
    return nlp


def train_shared(sets: dict[str, list[corpora.NerDoc]], out_dir: Path, userdict: Path | None, seed: int = 0,
                 time_budget_s: float = 1800, max_epochs: int = 30, patience: int = 4, width: int = WIDTH,
                 depth: int = DEPTH, window: int = WINDOW, maxout: int = MAXOUT, rows: int = 8000, log_path: Path | None = None,
                 encoder_weights: bytes | None = None) -> dict:
    """``sets``: head name → its training documents (10 % of their groups are its dev set).
    ``encoder_weights``: a pretrained encoder of the same shape to start from (pretrain.py).
    Saves the best-on-dev pipeline (encoder + heads) to ``out_dir``; returns per-head history.
    Same seed, same data, one thread → same model."""
    fix_random_seed(seed)
    rng = random.Random(seed)
    train_ex, dev = {}, {}
    heads = {}
    for name, docs in sets.items():
        train_docs, dev[name] = corpora.split_dev(docs, seed)
        heads[name] = sorted({lab for d in docs for _, _, lab in d.entities})
        train_ex[name] = [p for d in train_docs for p in corpora.chunk_doc(d)]
    nlp = build(userdict, heads, width, depth, rows, window, maxout)
    train_ex = {name: to_examples(nlp, pieces) for name, pieces in train_ex.items()}
    # Parameter averaging, as spaCy's own training does: the averaged weights are what is
    # evaluated and saved; they are steadier from epoch to epoch than the last update's.
    optimizer = Adam(0.001, L2=1e-6, grad_clip=1.0, use_averages=True)
    # Labels were added above; the sample only lets the layers infer their shapes.
    sample = [Example(nlp.make_doc(eg.reference.text), nlp.make_doc(eg.reference.text))
              for exs in train_ex.values() for eg in exs[:20]]
    nlp.initialize(lambda: sample, sgd=optimizer)
    if encoder_weights is not None:
        nlp.get_pipe(ENCODER).model.from_bytes(encoder_weights)
    names = list(sets)
    best, best_f, bad, history = None, -1.0, 0, []
    t0 = time.time()
    for epoch in range(max_epochs):
        schedule = []
        for name in names:
            rng.shuffle(train_ex[name])
            schedule += [(name, b) for b in minibatch(train_ex[name], size=16)]
        rng.shuffle(schedule)
        losses: dict = {}
        for name, batch in schedule:
            _listen_last(nlp, name)
            nlp.update(batch, sgd=optimizer, drop=0.15, losses=losses, exclude=[n for n in names if n != name])
        dev_f = {}
        with nlp.use_params(optimizer.averages):
            for name in names:
                with nlp.select_pipes(enable=[ENCODER, name]):
                    pred = predict_spans(nlp, [d.text for d in dev[name]])
                dev_f[name] = score_spans([d.entities for d in dev[name]], pred)["micro"]["f1"]
            mean_f = sum(dev_f.values()) / len(dev_f)
            # saved while the averaged weights are in place
            data = {n: nlp.get_pipe(n).to_bytes() for n in [ENCODER, *names]} if mean_f > best_f else None
        history.append({"epoch": epoch + 1, "dev_f1": dev_f, "mean_dev_f1": round(mean_f, 4),
                        "loss": {n: round(float(losses.get(n, 0.0)), 1) for n in names},
                        "elapsed_s": round(time.time() - t0)})
        log_epoch(f"shared epoch {epoch + 1} dev {dev_f} mean {mean_f:.4f} {time.time() - t0:.0f}s", log_path)
        if mean_f > best_f:
            best_f, best, bad = mean_f, data, 0
        else:
            bad += 1
        if should_stop(bad, patience, t0, epoch + 1, time_budget_s):
            break
    for n, data in best.items():
        nlp.get_pipe(n).from_bytes(data)
    out_dir.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(out_dir)
    best_epoch = max(history, key=lambda h: h["mean_dev_f1"])
    return {"components": {n: {"component": n, "train_docs": len(sets[n]) - len(dev[n]), "dev_docs": len(dev[n]),
                                "best_dev_f1": best_epoch["dev_f1"][n], "epochs": len(history)} for n in names},
            "best_epoch": best_epoch["epoch"], "history": history, "seed": seed, "width": width, "depth": depth,
            "window": window, "maxout": maxout}


def assemble_shared(trained: Path, out: Path, adds: dict[str, list[str] | None], may_contain: dict) -> None:
    """The shipped pipeline from a trained encoder + heads: encoder, entity_ruler, the first head,
    then for each further head stash → head → merge (keeping only the labels it adds)."""
    nlp = spacy.load(trained)
    heads = [n for n in nlp.pipe_names if n != ENCODER]
    add_ruler(nlp, before=heads[0])
    for name in heads[1:]:
        nlp.add_pipe("medreview_stash_ents", name=f"stash_{name}", before=name)
        nlp.add_pipe("medreview_merge_ents", name=f"merge_{name}", after=name,
                     config={"adds": adds.get(name) or list(nlp.get_pipe(name).entity_labels), "may_contain": may_contain})
    save_pipeline(nlp, out)
