"""Which class implements each pipeline stage, and the order they run in."""
from __future__ import annotations

import functools
import importlib

# CLI stage name → (store stage it completes, "module:Class")
STAGE_CLASSES = {
    "read": ("read", "pipeline.read.stage:ReadStage"),
    "segment": ("segmented", "pipeline.segment.stage:SegmentStage"),
    "extract": ("extracted", "pipeline.nlp.stage:ExtractStage"),
    "score": ("scored", "pipeline.score.stage:ScoreStage"),
}
ORDER = ("read", "segment", "extract", "score")


class StageUnavailable(RuntimeError):
    pass


def stage_class(name: str):
    if name not in STAGE_CLASSES:
        raise ValueError(f"unknown stage {name!r}; choose from {', '.join(ORDER)}")
    module, cls = STAGE_CLASSES[name][1].split(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as exc:
        raise StageUnavailable(f"stage {name!r} is not available: {exc}") from exc


def factory(name: str, **config):
    """A picklable zero-argument callable that builds the stage (in the main process or a worker)."""
    return functools.partial(stage_class(name), **config)


def parse(spec: str) -> list[str]:
    if spec.strip() in ("", "all"):
        return list(ORDER)
    names = [s.strip() for s in spec.split(",") if s.strip()]
    for n in names:
        if n not in STAGE_CLASSES:
            raise ValueError(f"unknown stage {n!r}; choose from {', '.join(ORDER)} or all")
    return [n for n in ORDER if n in names]
