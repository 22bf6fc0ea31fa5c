"""Auth0's `user_metadata` and `app_metadata`: free JSON objects kept with a user.

A PATCH merges at the top level (a key given replaces that key, `null` deletes it, keys not
given stay); patching with `{}` empties the object, as Auth0 does. Field names may not hold
`.` or `$` (Auth0's rule), and each object is at most MAX_METADATA_BYTES as compact JSON,
so an ID token or a hook payload carrying it stays small. No I/O here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from keyturn.errors import KeyturnError

MetadataField = Literal["user_metadata", "app_metadata"]
MAX_METADATA_BYTES = 16_384
MAX_KEY_LENGTH = 255


def _invalid(field: str, reason: str) -> KeyturnError:
    return KeyturnError(code="invalid_body", message="invalid_body.metadata", field=field, reason=reason)


def _check_keys(field: str, value: object, depth: int = 0) -> None:
    if depth > 10:
        raise _invalid(field, "nested more than 10 levels")
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if not key or len(key) > MAX_KEY_LENGTH or "." in key or "$" in key:
                raise _invalid(field, f"field names are 1 to {MAX_KEY_LENGTH} characters without . or $")
            _check_keys(field, inner, depth + 1)
    elif isinstance(value, list):
        for inner in value:
            _check_keys(field, inner, depth + 1)


def checked(field: MetadataField, value: object) -> dict[str, Any]:
    """A whole metadata object (on create), or a 400 naming the field."""
    if not isinstance(value, Mapping):
        raise _invalid(field, "must be an object")
    _check_keys(field, value)
    document = {k: v for k, v in value.items() if v is not None}
    size = len(json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_METADATA_BYTES:
        raise _invalid(field, f"at most {MAX_METADATA_BYTES} bytes as JSON")
    return document


def merged(field: MetadataField, current: Mapping[str, Any], patch: object) -> dict[str, Any]:
    """The stored object after a PATCH: top-level merge, `null` deletes, `{}` empties."""
    if not isinstance(patch, Mapping):
        raise _invalid(field, "must be an object")
    if not patch:
        return {}
    result = dict(current)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return checked(field, result)
