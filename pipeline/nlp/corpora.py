"""Readers for the NER JSONL corpora and CHIP-CDN, and the fixed document-level 80/20 split.

The 20 % held-out part is for measuring only; nothing is tuned on it. CCKS 2017 documents are
sections of one patient's record, so the split groups them by ``record_id`` (a patient's sections
never straddle the split). CCKS 2018 contains edited copies of Yidu-S4K training documents:
``load_split`` drops any document that is a near-copy of a document on the other side of the
reference corpus's split, so a held-out Yidu document cannot leak into training through its copy.
"""
from __future__ import annotations

import json
import logging
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.nlp.labels import map_label

log = logging.getLogger(__name__)

SPLIT_SEED = 20240611
HELDOUT_FRACTION = 0.2
CORPORA = {
    "yidu-s4k": "yidu-s4k/train.jsonl",
    "ccks2017-cner": "ccks2017-cner/train.jsonl",
    "ccks2018-cner": "ccks2018-cner/train.jsonl",
}
CDN_PATH = "chip-cdn/CHIP-CDN_train.json"


class CorpusError(ValueError):
    """A corpus file that cannot be read at all."""


@dataclass
class NerDoc:
    id: str
    text: str
    entities: list[tuple[int, int, str]]  # (start, end exclusive, project label)
    group: str = ""  # split unit: the patient for CCKS 2017, else the doc itself
    corpus: str | None = None


@dataclass
class CdnItem:
    text: str
    names: list[str] = field(default_factory=list)


def shared_data_dir() -> Path:
    """The read-only reference data: $MEDREVIEW_SHARED_DATA or ../shared/data from the repo root."""
    env = os.environ.get("MEDREVIEW_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def read_ner_jsonl(path: str | Path, corpus: str | None = None, errors: list[str] | None = None) -> list[NerDoc]:
    """Read a NER JSONL file; bad rows are reported (file:line) in ``errors`` and skipped."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: file not found")
    errors = errors if errors is not None else []
    docs: list[NerDoc] = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                text = obj["text"]
                ents = []
                for e in obj.get("entities", []):
                    s, t = int(e["start"]), int(e["end"])
                    if not (0 <= s < t <= len(text)):
                        raise ValueError(f"span {s}-{t} outside text of length {len(text)}")
                    if "mention" in e and text[s:t] != e["mention"]:
                        raise ValueError(f"span {s}-{t} does not match its mention")
                    ents.append((s, t, map_label(e["label"], corpus)))
                ents.sort()
                for a, b in zip(ents, ents[1:]):
                    if b[0] < a[1]:
                        raise ValueError(f"overlapping entities at {a[0]}-{a[1]} and {b[0]}-{b[1]}")
            except (ValueError, KeyError, TypeError) as exc:
                errors.append(f"{path}:{lineno}: {exc}")
                log.warning("%s:%d: skipped: %s", path, lineno, exc)
                continue
            doc_id = str(obj.get("id", f"{path.name}:{lineno}"))
            group = f"{corpus}:{obj['record_id']}" if corpus == "ccks2017-cner" and "record_id" in obj else doc_id
            docs.append(NerDoc(doc_id, text, ents, group, corpus))
    return docs


def read_cdn(path: str | Path) -> list[CdnItem]:
    """Read a CHIP-CDN JSON file (a list of {text, normalized_result with ## separators})."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{path}: not valid JSON: {exc}") from exc
    items = []
    for i, obj in enumerate(data):
        if not isinstance(obj, dict) or "text" not in obj:
            log.warning("%s: item %d skipped: no 'text'", path, i)
            continue
        names = [n.strip() for n in str(obj.get("normalized_result", "")).split("##") if n.strip()]
        items.append(CdnItem(obj["text"], names))
    return items


def split_groups(keys: list[str], seed: int = SPLIT_SEED, fraction: float = HELDOUT_FRACTION) -> set[str]:
    """The held-out group keys: a seeded shuffle of the sorted keys, first ``fraction``."""
    uniq = sorted(set(keys))
    random.Random(seed).shuffle(uniq)
    return set(uniq[: round(len(uniq) * fraction)])


def split_docs(docs: list[NerDoc], seed: int = SPLIT_SEED) -> tuple[list[NerDoc], list[NerDoc]]:
    held = split_groups([d.group for d in docs], seed)
    return [d for d in docs if d.group not in held], [d for d in docs if d.group in held]


def split_cdn(items: list[CdnItem], seed: int = SPLIT_SEED) -> tuple[list[CdnItem], list[CdnItem]]:
    held = split_groups([str(i) for i in range(len(items))], seed)
    return ([it for i, it in enumerate(items) if str(i) not in held],
            [it for i, it in enumerate(items) if str(i) in held])


def split_dev(docs: list[NerDoc], seed: int) -> tuple[list[NerDoc], list[NerDoc]]:
    """(training, dev) documents of a training part: 10 % of the groups are the dev set that picks
    the epoch."""
    dev_groups = split_groups([d.group for d in docs], seed=seed + 1, fraction=0.1)
    return [d for d in docs if d.group not in dev_groups], [d for d in docs if d.group in dev_groups]


def _shingles(text: str, n: int = 5) -> set[str]:
    return {text[i : i + n] for i in range(max(1, len(text) - n + 1))}


def near_copies(docs: list[NerDoc], reference: list[NerDoc], threshold: float = 0.5) -> set[str]:
    """Ids of ``docs`` whose 5-gram containment in some reference doc is ≥ threshold."""
    index: dict[str, set[int]] = {}
    ref_sh = [_shingles(r.text) for r in reference]
    for j, sh in enumerate(ref_sh):
        for s in sh:
            index.setdefault(s, set()).add(j)
    out = set()
    for d in docs:
        sh = _shingles(d.text)
        counts: dict[int, int] = {}
        for s in sh:
            for j in index.get(s, ()):
                counts[j] = counts.get(j, 0) + 1
        if counts and max(counts.values()) / max(1, len(sh)) >= threshold:
            out.add(d.id)
    return out


def load_split(corpus: str, data_dir: str | Path | None = None, seed: int = SPLIT_SEED) -> tuple[list[NerDoc], list[NerDoc]]:
    """Train (80 %) and held-out (20 %) documents of one named corpus, leak-free."""
    data_dir = Path(data_dir) if data_dir else shared_data_dir()
    docs = read_ner_jsonl(data_dir / CORPORA[corpus], corpus)
    train, held = split_docs(docs, seed)
    if corpus == "ccks2018-cner":
        # Copies of Yidu held-out docs must not train; copies of Yidu train docs must not test.
        y_train, y_held = split_docs(read_ner_jsonl(data_dir / CORPORA["yidu-s4k"], "yidu-s4k"), seed)
        drop_train = near_copies(train, y_held)
        drop_held = near_copies(held, y_train)
        train = [d for d in train if d.id not in drop_train]
        held = [d for d in held if d.id not in drop_held]
    return train, held


def chunk_doc(doc: NerDoc, max_len: int = 160) -> list[NerDoc]:
    """Cut a long document at sentence ends (。；) not inside an entity, into pieces ≤ max_len
    where possible; training on short pieces is faster and the CNN sees only a small window."""
    inside = set()
    for s, e, _ in doc.entities:
        inside.update(range(s + 1, e))
    cuts, last = [0], 0
    for i, ch in enumerate(doc.text):
        if ch in "。；;\n" and (i + 1) not in inside and i + 1 - last >= 20:
            if i + 1 - cuts[-1] >= max_len // 2:
                cuts.append(i + 1)
            last = i + 1
    if cuts[-1] != len(doc.text):
        cuts.append(len(doc.text))
    pieces = []
    for k, (a, b) in enumerate(zip(cuts, cuts[1:])):
        ents = [(s - a, e - a, l) for s, e, l in doc.entities if s >= a and e <= b]
        pieces.append(NerDoc(f"{doc.id}#{k}", doc.text[a:b], ents, doc.group, doc.corpus))
    return pieces
