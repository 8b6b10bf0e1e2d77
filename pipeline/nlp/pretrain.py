"""Masked-character pretraining of the shared encoder on unlabeled text, before NER training.

The encoder reads 15 % of the characters masked (80 % a mask character, 10 % a random one, 10 %
unchanged, as BERT does) and a softmax on top learns to restore them; only the encoder is kept and
the NER training starts from it. The text: the NER training parts (without their dev sets),
the CHIP-CDN training mentions and the names of the ICD code tables — never a held-out part.
The mask goes into the text itself, so the bigram and jieba-word features see it too and cannot
give the character away.
"""
from __future__ import annotations

import csv
import random
import time
from collections import Counter
from pathlib import Path

import numpy as np
import spacy
from spacy.util import fix_random_seed
from thinc.api import Adam, Softmax, chain, with_array
from threadpoolctl import threadpool_limits

from pipeline.nlp import corpora
from pipeline.nlp.epochs import log_epoch
from pipeline.nlp.ops import NUMPY_BLAS


MASK = "\ue000"        # a private-use character: never in real text
MASK_RATE = 0.15
CLASSES = 4000         # the most frequent characters are predicted; the rest share one class
ICD_TABLES = ("icd10_national_clinical_v1.1.csv", "icd9cm3_procedures_national_clinical_v1.1.csv")


def extra_texts(data_dir: Path) -> list[str]:
    """Unlabeled text beside the NER corpora: CHIP-CDN training mentions (its held-out 20 % left
    out) and the ICD table names, eight to a line. Missing files are skipped."""
    out: list[str] = []
    if (data_dir / corpora.CDN_PATH).is_file():
        train, _ = corpora.split_cdn(corpora.read_cdn(data_dir / corpora.CDN_PATH))
        out += [x.text for x in train]
    for name in ICD_TABLES:
        path = data_dir / "icd" / name
        if path.is_file():
            with open(path, encoding="utf-8") as fh:
                names = [row["name"] for row in csv.DictReader(fh)]
            out += ["，".join(names[i:i + 8]) for i in range(0, len(names), 8)]
    return out


class Masker:
    """Masks a text's characters for one pretraining step; the classes are the CLASSES − 1 most
    frequent characters of the pretraining text (ties in character order, so runs agree)."""

    def __init__(self, texts: list[str], rng: random.Random):
        counts = Counter(ch for t in texts for ch in t if not ch.isspace())
        ranked = [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][: CLASSES - 1]
        self.class_of = {c: i + 1 for i, c in enumerate(ranked)}   # 0: any other character
        self.alphabet = ranked[:3000]
        self.rng = rng

    def __call__(self, text: str) -> tuple[str, list[tuple[int, int]]]:
        """The masked text and (position, class of the original character) of each masked one."""
        chars, targets = list(text), []
        for i, ch in enumerate(chars):
            if ch.isspace() or self.rng.random() >= MASK_RATE:
                continue
            targets.append((i, self.class_of.get(ch, 0)))
            r = self.rng.random()
            chars[i] = MASK if r < 0.8 else self.rng.choice(self.alphabet) if r < 0.9 else ch
        return "".join(chars), targets


def pretrain_encoder(nlp: spacy.Language, encoder_cfg: dict, texts: list[str], *, epochs: int, seed: int = 0,
                     batch_size: int = 32, log_path: Path | None = None) -> bytes:
    """Pretrain an encoder of ``encoder_cfg`` on ``texts`` (tokenized by ``nlp``) and return its
    weights (``Model.to_bytes``) for the same encoder in the NER pipeline. Same seed, same
    texts, one thread → same bytes."""
    fix_random_seed(seed)
    rng = random.Random(seed)
    texts = sorted(t for t in texts if t.strip())
    mask = Masker(texts, rng)
    encoder = spacy.registry.resolve({"encoder": encoder_cfg})["encoder"]
    width = encoder_cfg["encode"]["width"]
    model = chain(encoder, with_array(Softmax(nO=CLASSES, nI=width)))
    for node in model.walk():
        node.ops = NUMPY_BLAS
    model.initialize(X=[nlp.make_doc(mask(t)[0]) for t in texts[:20]])
    optimizer = Adam(0.001, grad_clip=1.0)
    t0 = time.time()
    with threadpool_limits(limits=1, user_api="blas"):
        for epoch in range(epochs):
            rng.shuffle(texts)
            loss = n = 0.0
            for b in range(0, len(texts), batch_size):
                batch = [mask(t) for t in texts[b:b + batch_size]]
                probs, backprop = model.begin_update([nlp.make_doc(m) for m, _ in batch])
                total = max(1, sum(len(tg) for _, tg in batch))
                grads = []
                for p, (_, targets) in zip(probs, batch):
                    g = np.zeros_like(p)
                    if targets:
                        rows, cls = np.array(targets).T
                        g[rows] = p[rows]
                        g[rows, cls] -= 1.0
                        loss -= float(np.log(np.maximum(p[rows, cls], 1e-9)).sum())
                        n += len(rows)
                    grads.append(g / total)
                backprop(grads)
                model.finish_update(optimizer)
            log_epoch(f"pretrain epoch {epoch + 1} loss {loss / max(n, 1):.3f} {time.time() - t0:.0f}s", log_path)
    return encoder.to_bytes()
