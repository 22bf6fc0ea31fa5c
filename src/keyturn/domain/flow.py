"""Flows (a browser's journey through login, sign-up or the account page) and their challenges.

Both are sealed (AES-256-GCM, `keyturn.flows.base`) and carried by the browser, so opening
a page or asking for passkey options writes nothing. What must stay server-side is only
the fact that a challenge was used (`spent_challenges`), so each works once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from keyturn.domain.methods import MethodId
from keyturn.domain.session import AuthEvent

FlowKind = Literal[
    "login",
    "registration",
    "account",
    "recovery",
    "recovered",
    "admin",
    "progressive",
    "local",
    "second_factor",
]
# The offers of a passkey right after a sign-in (`keyturn.flows.enrollment`): after a password
# sign-in ("progressive"), or in this browser after one with a passkey from another device ("local").
EnrollmentKind = Literal["progressive", "local"]
CeremonyKind = Literal["registration", "authentication"]
UserVerification = Literal["required", "preferred"]


@dataclass(frozen=True)
class Flow:
    """One journey's state: what it offers, what it continues, what it requires, who it is for."""

    id: str  # random; names the flow, and the challenges issued for it
    kind: FlowKind
    binding_hash: str  # of the browser's binding cookie: only that browser may use the flow
    created_at: datetime
    expires_at: datetime
    methods: tuple[MethodId, ...]  # what this flow offers (the enabled methods when it began)
    user_id: str | None = None  # account and recovered flows: whose account
    authorization_request_id: str | None = None  # the parked OIDC authorization it continues
    return_to: str | None = None  # a same-site path to go to at the end
    requires: str | None = None  # an assurance level the sign-in must reach (step-up)
    email: str | None = None  # verification before sign-up: the address the flow's code proved
    # A half-done sign-in (kind "second_factor"): the proofs made so far; no session exists yet.
    proofs: tuple[AuthEvent, ...] = ()


@dataclass(frozen=True)
class Challenge:
    """One WebAuthn challenge: single-use, short-lived, owned by one flow; sealed into its own bytes."""

    id: bytes  # SHA-256 of the challenge bytes: what `spent_challenges` records
    flow_id: str
    ceremony: CeremonyKind
    expires_at: datetime
    user_verification: UserVerification
    user_id: str | None = None  # identifier-first: only this user's passkeys may answer
    email: str | None = None  # sign-up: the account the new passkey is for
    user_handle: bytes | None = None  # sign-up: its WebAuthn user.id
    conditional: bool = False  # a creation begun with mediation "conditional" (automatic upgrade)
