"""Training labels from exported decisions, for the record-level risk classifier."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from pipeline.annotations.load import resolve, load_decisions


def record_labels(rows: list[dict]) -> dict[str, int]:
    """record_sha256 -> 1 when a reviewer confirmed any of its flags, 0 when all were rejected."""
    verdicts: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        verdicts[r["record_sha256"]].append(r["decision"])
    return {sha: int("confirmed" in v) for sha, v in verdicts.items()}


def labels_from(path: Path) -> tuple[dict[str, int], str]:
    """(record labels, version) of an annotations folder or version file; the version is the
    content hash a trainer records as its data hash."""
    resolved = resolve(Path(path))
    return record_labels(load_decisions(resolved)), resolved.stem
