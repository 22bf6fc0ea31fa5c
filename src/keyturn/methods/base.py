"""What a way to authenticate offers the flows (Kratos's strategies, without sentinel errors).

A method implements the protocols of the flows it takes part in: `LoginMethod` for sign-in,
`RegistrationMethod` for sign-up. It decodes its own part of a submission, does its own
checks, records its own failure events, and hands the flow a result: who it is, and the
writes that a completed ceremony must make (`Authenticated.complete`). The flow decides
what happens next (hooks, the session, the redirect).

A new method (TOTP, a recovery code…) is a module here and an entry in
`keyturn.methods.registry`; no flow or route changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from keyturn.context import Context
from keyturn.domain.flow import Flow
from keyturn.domain.identity import Passkey, User
from keyturn.domain.methods import MethodId
from keyturn.domain.tenant import TenantSettings
from keyturn.errors import KeyturnError
from keyturn.store.protocols import WriteTx

Completion = Callable[[WriteTx], Awaitable[None]]


@dataclass(frozen=True)
class Authenticated:
    """A verified sign-in, not yet stored: `complete` runs in the transaction that issues the session."""

    user: User
    method: MethodId
    complete: Completion | None = None
    user_verified: bool = True
    # A passkey on another device, reached through the hybrid transport (a phone, by QR code):
    # what local enrollment follows up on (`keyturn.flows.enrollment`).
    cross_device: bool = False
    # A passkey whose attestation was verified as device-bound at registration: what `phrh` needs.
    attested_device_bound: bool = False


@dataclass(frozen=True)
class Registered:
    """A verified sign-up, not yet stored: the account (and its first passkey) to create."""

    user: User
    method: MethodId
    passkey: Passkey | None = None
    complete: Completion | None = None


@dataclass(frozen=True)
class Enrolled:
    """A verified new way to sign in for an existing account, not yet stored: `complete`
    stores it (and records its event) in the transaction of what it is for (a recovery)."""

    method: MethodId
    complete: Completion


Payload = Mapping[str, object]


class Method(Protocol):
    @property
    def id(self) -> MethodId: ...

    def enabled(self, tenant: TenantSettings) -> bool: ...


class LoginMethod(Method, Protocol):
    async def identify(
        self, ctx: Context, flow: Flow, *, address: str, user: User | None
    ) -> dict[str, object]:
        """This method's part of the answer to Continue (identifier-first). It must look the
        same for a known and an unknown address unless the operator opted in to revealing."""
        ...

    async def login(self, ctx: Context, flow: Flow, payload: Payload) -> Authenticated:
        """Verify the submission; record a failure event and raise on any refusal."""
        ...


class RegistrationMethod(Method, Protocol):
    async def register(self, ctx: Context, flow: Flow, payload: Payload) -> Registered:
        """Verify the submission; nothing is stored here."""
        ...


class EnrollmentMethod(Method, Protocol):
    async def enroll(
        self, ctx: Context, flow: Flow, *, user: User, payload: Payload, purpose: str
    ) -> Enrolled:
        """Verify a new credential for `user` (nothing stored here); `purpose` names the journey
        in the events (`details.enrollment`). Records its failure event and raises on a refusal."""
        ...


def require_enabled(tenant: TenantSettings, method: Method) -> None:
    if not method.enabled(tenant):
        raise KeyturnError(code="method_disabled", status=403, method=method.id)


def text_field(payload: Payload, name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str):
        raise KeyturnError(code="missing_field", name=name)
    return value
