"""Text that can be stored: no NUL (PostgreSQL text cannot hold one) and no lone surrogate
such as "\\ud800" (no UTF-8 encoder writes one, so SQLite, JSON and the log cannot either).

Input a request brings is refused (`refuse_bad_text`, 400 `invalid_characters`) where it
enters; text Keyturn only passes on (a hook's answer, an event's details) is cleaned
(`storable`). Both decide with `bad_text`, so the two databases answer alike.
"""

from __future__ import annotations

import re
from typing import Any

from keyturn.errors import KeyturnError

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def bad_text(value: str) -> bool:
    """A NUL or a lone surrogate anywhere in the string."""
    return _UNSTORABLE.search(value) is not None


def has_bad_text(value: object) -> bool:
    """Bad text in a string, or in any key or item of nested dicts, lists and tuples."""
    if isinstance(value, str):
        return bad_text(value)
    if isinstance(value, dict):
        return any(has_bad_text(k) or has_bad_text(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_bad_text(v) for v in value)
    return False


def refuse_bad_text(value: object, *, where: str) -> None:
    """400 `invalid_characters` for bad text anywhere in `value`; `where` is for the log."""
    if has_bad_text(value):
        raise KeyturnError(code="invalid_characters", detail=where)


def storable(value: Any) -> Any:
    """The value with every NUL and lone surrogate removed from its strings, however nested."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("", value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value
