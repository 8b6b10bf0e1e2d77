"""Typed stage options: each stage declares a frozen dataclass of what it can be told, and an
option it does not know is an error before any record is touched (not silently ignored)."""
from __future__ import annotations

from dataclasses import fields
from typing import TypeVar

T = TypeVar("T")


class OptionError(TypeError, ValueError):
    """An option the stage does not have, or a value it cannot use."""


def parse_options(cls: type[T], stage: str, kwargs: dict) -> T:
    """``cls(**kwargs)`` without the None values (None means "not given": the default holds);
    OptionError naming the stage and the known options when a key is unknown."""
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise OptionError(f"unknown {stage} options: {', '.join(unknown)} (known: {', '.join(known) or 'none'})")
    return cls(**{k: v for k, v in kwargs.items() if v is not None})
