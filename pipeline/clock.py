"""The one clock: UTC times as the store writes them (ISO 8601, whole seconds, +00:00).

Functions that record events take an optional ``at`` so tests can fix the time."""
from __future__ import annotations

import datetime as _dt


def utc(at: _dt.datetime | None = None) -> _dt.datetime:
    """``at``, or the current time in UTC."""
    return at if at is not None else _dt.datetime.now(_dt.timezone.utc)


def iso(at: _dt.datetime) -> str:
    """``at`` as stored: UTC, whole seconds."""
    return at.astimezone(_dt.timezone.utc).replace(microsecond=0).isoformat()


def now() -> str:
    return iso(utc())


def stamp(at: _dt.datetime | None = None, *, micro: bool = False) -> str:
    """A compact UTC stamp for names (model versions, staging folders): 20261124T060010Z."""
    t = utc(at).astimezone(_dt.timezone.utc)
    return t.strftime("%Y%m%dT%H%M%S%f" if micro else "%Y%m%dT%H%M%SZ")
