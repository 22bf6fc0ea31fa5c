"""Random identifiers, secrets and constant-time comparison: one way to make each."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid


def new_id() -> str:
    """A random UUID4 string for database rows that are not secret."""
    return str(uuid.uuid4())


def new_token(nbytes: int = 32) -> str:
    """A URL-safe random secret (cookies, CSRF tokens)."""
    return secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    """SHA-256 of a bearer secret: the database keeps only this, never the secret."""
    return hashlib.sha256(token.encode()).hexdigest()


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    a_bytes = a.encode() if isinstance(a, str) else a
    b_bytes = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)
