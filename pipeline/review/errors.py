"""Errors of review requests, each with the HTTP status the web app answers with."""
from __future__ import annotations


class ReviewError(ValueError):
    """A request the reviewer must correct (bad action, missing reason code, ...). ``field`` names
    the form field at fault, so a page can show the message beside it."""

    status = 400

    def __init__(self, message: str = "", *, field: str | None = None):
        super().__init__(message)
        self.field = field


class NotFound(ReviewError):
    status = 404


class LockConflict(ReviewError):
    """The case is locked by another reviewer (or the caller holds no live lock on it)."""

    status = 409
