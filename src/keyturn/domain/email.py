"""Email addresses as identifiers: one normal form, checked once."""

from __future__ import annotations

import re

from keyturn.errors import KeyturnError

_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$")


def normalize_email(value: object) -> str:
    """Trimmed and lower-cased; raises a clear error if it is not an email address."""
    email = value.strip().lower() if isinstance(value, str) else ""
    if len(email) > 254 or not _EMAIL.match(email):
        raise KeyturnError(code="invalid_email")
    return email
