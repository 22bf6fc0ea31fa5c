"""Dashboard operators: people who run the instance, not its end users.

An operator has a role, WebAuthn credentials of their own (stored apart from the users'
passkeys, as `Passkey` records whose `user_id` is the operator's id), one-time enrollment
links and sessions scoped to `/admin`. None of it is visible to end-user flows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

OperatorRole = Literal["owner", "viewer"]
ROLES: tuple[OperatorRole, ...] = ("owner", "viewer")
ENROLLMENT_LIFETIME = timedelta(minutes=15)
SESSION_ABSOLUTE_LIFETIME = timedelta(hours=12)
SESSION_IDLE_LIMIT = timedelta(minutes=30)


@dataclass(frozen=True)
class Operator:
    id: str
    email: str
    role: OperatorRole
    user_handle: bytes  # WebAuthn user.id for the operator's credentials (random)
    created_at: datetime

    @property
    def can_change(self) -> bool:
        """Owners change things; viewers only look."""
        return self.role == "owner"


@dataclass(frozen=True)
class OperatorEnrollment:
    """A one-time link to register an operator's first (or next) credential."""

    token_hash: str  # SHA-256 of the link's token
    operator_id: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


@dataclass(frozen=True)
class OperatorSession:
    id: str
    token_hash: str  # SHA-256 of the cookie value
    operator_id: str
    csrf_token: str
    created_at: datetime
    expires_at: datetime  # the absolute limit (12 hours after sign-in)
    last_active_at: datetime  # the idle limit counts from here
    ip: str
    user_agent: str

    def live(self, now: datetime) -> bool:
        return now < self.expires_at and now < self.last_active_at + SESSION_IDLE_LIMIT
