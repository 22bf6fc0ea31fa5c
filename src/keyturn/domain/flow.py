"""Flows (a browser's journey through login, sign-up or settings) and their challenges."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

FlowKind = Literal["login", "registration", "settings"]
CeremonyKind = Literal["registration", "authentication"]


@dataclass(frozen=True)
class Flow:
    """Server-side state the browser carries by id, bound to that browser by a cookie."""

    id: str
    kind: FlowKind
    binding_hash: str  # sha256 of the browser's binding cookie
    csrf_token: str
    expires_at: datetime
    created_at: datetime
    user_id: str | None = None  # set for settings flows
    return_to: str | None = None


@dataclass(frozen=True)
class Challenge:
    """One WebAuthn challenge: single-use, short-lived, owned by one flow."""

    challenge: bytes
    flow_id: str
    ceremony: CeremonyKind
    expires_at: datetime
    user_id: str | None = None
    # Identifier-first: the credential ids offered in allowCredentials.
    allowed_credential_ids: tuple[bytes, ...] = ()
    user_verification: str = "required"
    # Registration: what the new account or passkey will be (email, user handle).
    pending: dict[str, str] = field(default_factory=dict)
