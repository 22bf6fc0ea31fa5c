"""Second factors a user enrolled (issue 12): an authenticator app (TOTP), security keys and
recovery codes. Security keys are `Passkey`-shaped rows of their own table: non-discoverable
WebAuthn credentials that never sign in alone and never count as passkeys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from keyturn.domain.methods import MethodId

FactorKind = Literal["totp", "security_key", "recovery_code"]


@dataclass(frozen=True)
class TotpCredential:
    """An authenticator app: its RFC 6238 secret sealed under the KEK (bound to the row's id),
    and the last time step a code was accepted for (a code is good once)."""

    id: str
    user_id: str
    secret_sealed: bytes
    created_at: datetime
    last_used_step: int | None = None
    last_used_at: datetime | None = None


@dataclass(frozen=True)
class RecoveryCodes:
    """What is known of a user's recovery codes: how many are left and when they were made
    (the codes themselves are only ever shown once; the store keeps their SHA-256)."""

    remaining: int
    created_at: datetime


@dataclass(frozen=True)
class Factors:
    """A user's second factors, as the second-factor step and /account need them."""

    totp: TotpCredential | None
    security_keys: int
    recovery: RecoveryCodes | None

    @property
    def methods(self) -> tuple[MethodId, ...]:
        """The second-factor methods this user can prove, in the order pages offer them."""
        found: list[MethodId] = []
        if self.totp is not None:
            found.append("totp")
        if self.security_keys:
            found.append("security_key")
        if self.recovery is not None and self.recovery.remaining:
            found.append("recovery_code")
        return tuple(found)

    @property
    def enrolled(self) -> bool:
        """Whether the user has a second factor (recovery codes alone do not make one)."""
        return self.totp is not None or self.security_keys > 0
