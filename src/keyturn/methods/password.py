"""Passwords: argon2id at OWASP's parameters, hashed off the event loop, timing-equalised."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

from keyturn.errors import KeyturnError

MIN_LENGTH = 8
MAX_LENGTH = 1024  # long enough for any passphrase, short enough to bound hashing cost


def check_password_policy(password: str) -> None:
    """NIST SP 800-63B: a minimum length, no composition rules."""
    if len(password) < MIN_LENGTH:
        raise KeyturnError(f"Use a password of at least {MIN_LENGTH} characters.", code="password_too_short")
    if len(password) > MAX_LENGTH:
        raise KeyturnError(f"Use a password of at most {MAX_LENGTH} characters.", code="password_too_long")


class PasswordHasher:
    """argon2id, m=19 MiB, t=2, p=1 (OWASP Password Storage Cheat Sheet)."""

    def __init__(self) -> None:
        self._argon = Argon2Hasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)
        # Verified against when the account does not exist, so that costs the same time.
        self._dummy_hash = self._argon.hash("keyturn timing equaliser")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._argon.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True if it matches; a missing hash still pays for one verification."""
        target = password_hash or self._dummy_hash
        try:
            matched = await asyncio.to_thread(self._argon.verify, target, password)
        except (VerificationError, InvalidHashError):
            return False
        return matched and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self._argon.check_needs_rehash(password_hash)
