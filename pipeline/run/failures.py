"""How a record's failure is worded: stored in ``records.error`` and shown to users."""
from __future__ import annotations


def describe(exc: BaseException) -> str:
    """The exception's class and message, never record text (patient data stays out of logs)."""
    msg = str(exc).strip() or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {msg}"[:1000]
