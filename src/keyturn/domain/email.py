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


def loose_identifier(value: object) -> str | None:
    """What the throttles count an identifier as: the normalised email, else the text as typed
    (trimmed, lower-cased, bounded), so malformed input is counted too. None when empty."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return normalize_email(value)
    except KeyturnError:
        return value.strip().lower()[:320]
