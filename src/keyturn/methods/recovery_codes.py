"""Recovery codes: ten single-use codes, shown once when made, kept as SHA-256.

Each code carries 50 random bits (ten characters of an alphabet without look-alikes), so a
fast hash is enough; the lookup is by hash (no comparison of secrets in Python), and a code
is consumed by a DELETE whose row count says which of two racing uses was first.
"""

from __future__ import annotations

import hashlib
import secrets

from keyturn.context import Context
from keyturn.domain.events import EventType
from keyturn.domain.flow import Flow
from keyturn.domain.identity import User
from keyturn.domain.methods import MethodId
from keyturn.domain.tenant import TenantSettings
from keyturn.errors import KeyturnError
from keyturn.methods.base import Authenticated

COUNT = 10
_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i: codes are read off paper
_LENGTH = 10


def new_codes() -> list[str]:
    """Ten codes as shown: `xxxxx-xxxxx`."""
    codes = []
    for _ in range(COUNT):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def normalise(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def code_hash(code: str) -> bytes:
    return hashlib.sha256(normalise(code).encode()).digest()


class RecoveryCodeMethod:
    """A second factor for when the app or key is lost: each code works once."""

    id: MethodId = "recovery_code"

    def enabled(self, tenant: TenantSettings) -> bool:
        return True

    async def verify(self, ctx: Context, flow: Flow, *, user: User, code: str) -> Authenticated:
        cleaned = normalise(code)
        if len(cleaned) != _LENGTH:
            self._failed(ctx, user)
            raise KeyturnError(code="invalid_second_factor_code", status=401)
        async with ctx.writing() as tx:
            used = await tx.use_recovery_code(user.id, code_hash(cleaned))
            if used:
                left = (await tx.get_factors(user.id)).recovery
                ctx.record(
                    EventType.GD_RECOVERY_SUCCEED,
                    user_id=user.id,
                    user_name=user.email,
                    details={"method": "recovery-code", "remaining": left.remaining if left else 0},
                )
        if not used:
            self._failed(ctx, user)
            raise KeyturnError(code="invalid_second_factor_code", status=401)
        return Authenticated(user=user, method=self.id)

    def _failed(self, ctx: Context, user: User) -> None:
        details = {"method": "recovery-code", "error": "invalid_code"}
        ctx.record(EventType.GD_AUTH_FAILED, user_id=user.id, user_name=user.email, details=details)
