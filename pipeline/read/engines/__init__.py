"""OCR engine registry: pick an engine by name, and report which ones this machine can run."""
from __future__ import annotations

import importlib

from pipeline.read.engines.base import Engine, EngineUnavailable

# name → module (with check() and version()) and its engine class
ENGINES = {
    "rapidocr": ("pipeline.read.engines.rapid", "RapidEngine"),
    "paddleocr": ("pipeline.read.engines.paddle", "PaddleEngine"),
    "tesseract": ("pipeline.read.engines.tesseract", "TesseractEngine"),
    "fake": ("pipeline.read.engines.fake", "FakeEngine"),
}
DEFAULT = "rapidocr"


def _module(name: str):
    if name not in ENGINES:
        raise ValueError(f"unknown OCR engine {name!r}; choose from {', '.join(ENGINES)}")
    return importlib.import_module(ENGINES[name][0])


def available() -> list[dict]:
    """One entry per engine: name, available (bool), detail (what is installed or missing)."""
    out = []
    for name in ENGINES:
        try:
            ok, detail = _module(name).check()
        except Exception as exc:  # a broken install must not break `doctor`
            ok, detail = False, f"{exc.__class__.__name__}: {exc}"
        out.append({"name": name, "available": bool(ok), "detail": detail})
    return out


def version(name: str, **options) -> str:
    """The engine's version string (OCR cache key) without loading its models."""
    return _module(name).version(**options)


def create(name: str, *, threads: int = 2, **options) -> Engine:
    """Build (and warm up) an engine; EngineUnavailable names what to install or configure."""
    module = _module(name)
    return getattr(module, ENGINES[name][1])(threads=threads, **options)


__all__ = ["ENGINES", "DEFAULT", "Engine", "EngineUnavailable", "available", "create", "version"]
