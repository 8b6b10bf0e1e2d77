"""The types every request value is checked against at the boundary (path, query and JSON body):
ids within SQLite's integer range, whole numbers in ASCII digits only (``²`` and ``１`` pass
``str.isdigit`` but are not numbers here), finite amounts in range, text that can be stored.
A value that fails answers 422 with a message naming the field, never a 500 further down; form
fields go through ``pipeline.review.values`` (400)."""
from __future__ import annotations

from typing import Annotated, Any, Optional

from fastapi import Path
from pydantic import AfterValidator, BeforeValidator, Field

from pipeline.review.errors import ReviewError
from pipeline.review.values import MAX_ID, MAX_MS_SPENT, MAX_TEXT, clean_text


def ascii_int(value: Any) -> Any:
    """Strings must be plain ASCII digits (an optional leading minus); ints pass, bools do not."""
    if isinstance(value, bool):
        raise ValueError("必须是整数")
    if isinstance(value, str):
        s = value.strip()
        body = s[1:] if s.startswith("-") else s
        if not (body.isascii() and body.isdigit()) or len(body) > 19:
            raise ValueError("必须是 ASCII 数字组成的整数")
        return int(s)
    return value


def stored_text(limit: int):
    def check(value: str | None) -> str | None:
        try:
            return clean_text(value, limit=limit)
        except ReviewError as exc:
            raise ValueError(str(exc)) from None
    return check


def raw_text(value: str) -> str:
    """Text used as given (passwords, names checked later): only refuse what cannot be stored."""
    if any("\ud800" <= c <= "\udfff" for c in value):
        raise ValueError("文字含无法保存的字符（孤立的代理码位）")
    return value


Id = Annotated[int, BeforeValidator(ascii_int), Field(ge=1, le=MAX_ID)]
PathId = Annotated[int, BeforeValidator(ascii_int), Path(ge=1, le=MAX_ID)]
Offset = Annotated[int, BeforeValidator(ascii_int), Field(ge=0, le=10_000_000)]
PageNo = Annotated[int, BeforeValidator(ascii_int), Field(ge=0, le=1_000_000)]
Width = Annotated[int, BeforeValidator(ascii_int), Field(ge=1, le=100_000)]
MsSpent = Annotated[int, BeforeValidator(ascii_int), Field(ge=0, le=MAX_MS_SPENT)]
Amount = Annotated[float, Field(allow_inf_nan=False)]      # range: the library (400, as for forms)
Rate = Annotated[float, Field(allow_inf_nan=False)]
Text = Annotated[str, Field(max_length=100_000), AfterValidator(stored_text(MAX_TEXT))]
Code = Annotated[str, Field(max_length=200), AfterValidator(stored_text(64))]
Secret = Annotated[str, Field(max_length=1024), AfterValidator(raw_text)]
OptText = Optional[Text]
OptCode = Optional[Code]
