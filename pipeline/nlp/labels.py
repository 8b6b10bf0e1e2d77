"""Mapping from the corpora's Chinese entity labels to the project's labels (data/label_map.yaml)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

LABEL_MAP_PATH = Path(__file__).parent / "data" / "label_map.yaml"


class LabelMapError(ValueError):
    """A corpus label that the mapping table does not know."""


@lru_cache(maxsize=4)
def load_label_map(path: str | None = None) -> dict:
    with open(path or LABEL_MAP_PATH, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    for key in ("labels", "corpora"):
        if key not in data:
            raise LabelMapError(f"{path or LABEL_MAP_PATH}: missing key '{key}'")
    known = set(data["labels"])
    for corpus, mapping in data["corpora"].items():
        bad = set(mapping.values()) - known
        if bad:
            raise LabelMapError(f"label_map corpus '{corpus}' maps to unknown labels {sorted(bad)}")
    return data


def corpus_mapping(corpus: str | None) -> dict[str, str]:
    corpora = load_label_map()["corpora"]
    return corpora.get(corpus or "default", corpora["default"])


def map_label(label: str, corpus: str | None = None) -> str:
    """Project label for a corpus label; project labels pass through unchanged."""
    if label in load_label_map()["labels"]:
        return label
    mapping = corpus_mapping(corpus)
    if label not in mapping:
        raise LabelMapError(f"unknown entity label '{label}' for corpus '{corpus or 'default'}'")
    return mapping[label]


def equivalent_labels(gold_label: str) -> set[str]:
    """Predicted labels that count as the gold label (EXAM matches IMAGING or LAB)."""
    return set(load_label_map().get("equivalent", {}).get(gold_label, [gold_label]))


def corpus_from_path(path: str | Path) -> str | None:
    """Guess the corpus name from a path such as .../yidu-s4k/train.jsonl."""
    parts = {p.lower() for p in Path(path).parts}
    for corpus in load_label_map()["corpora"]:
        if corpus in parts:
            return corpus
    return None
