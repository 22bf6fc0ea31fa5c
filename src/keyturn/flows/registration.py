"""The registration flow: a passkey-only account, or an account with a password."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from webauthn.helpers import base64url_to_bytes

from keyturn.domain.email import normalize_email
from keyturn.domain.events import EventType, RequestContext
from keyturn.domain.flow import Flow
from keyturn.domain.identity import Passkey, User
from keyturn.domain.session import AuthMethod
from keyturn.domain.tenant import TenantSettings
from keyturn.errors import CeremonyError, Conflict, KeyturnError
from keyturn.ids import new_id
from keyturn.methods import passkey as passkey_method
from keyturn.methods.base import require_enabled
from keyturn.methods.password import check_password_policy
from keyturn.runtime import Runtime

USER_HANDLE_BYTES = 64
_LOGGED_METHOD: dict[AuthMethod, str] = {"passkey": "passkey", "pwd": "password"}


@dataclass(frozen=True)
class PasswordSignup:
    email: str
    password: str


@dataclass(frozen=True)
class PasskeySignup:
    credential: object


SignupSubmission = PasswordSignup | PasskeySignup


def _new_user(rt: Runtime, *, email: str, user_handle: bytes, password_hash: str | None) -> User:
    now = rt.clock.now()
    return User(
        id=new_id(),
        email=email,
        user_handle=user_handle,
        password_hash=password_hash,
        created_at=now,
        updated_at=now,
    )


async def _create(rt: Runtime, user: User, *, passkey: Passkey | None = None) -> None:
    try:
        await rt.store.create_user(user, passkey=passkey)
    except Conflict as exc:
        raise Conflict(
            "An account with this email already exists. Sign in instead.", code="account_exists"
        ) from exc


async def passkey_options(
    rt: Runtime, flow: Flow, tenant: TenantSettings, *, email: object, ctx: RequestContext
) -> dict[str, Any]:
    """Creation options for a new account; the email and a fresh random user handle wait
    on the challenge until the passkey is verified."""
    require_enabled(tenant, "passkey")
    address = normalize_email(email)
    options = await passkey_method.creation_options(
        rt, flow, tenant, user_handle=secrets.token_bytes(USER_HANDLE_BYTES), email=address, existing=[]
    )
    rt.events.record(
        EventType.PASSKEY_CHALLENGE_STARTED, ctx, user_name=address, details={"mode": "registration"}
    )
    return options


async def submit_registration(
    rt: Runtime,
    flow: Flow,
    tenant: TenantSettings,
    submission: SignupSubmission,
    *,
    user_agent: str,
    ctx: RequestContext,
) -> tuple[User, AuthMethod]:
    """Create the account; nothing is stored unless every check passed. Both outcomes are logged."""
    method: AuthMethod = "passkey" if isinstance(submission, PasskeySignup) else "pwd"
    try:
        user = await _register(rt, flow, tenant, submission, user_agent=user_agent)
    except KeyturnError as error:
        details = {"error": error.code, "authentication_method": _LOGGED_METHOD[method]}
        rt.events.record(EventType.FAILED_SIGNUP, ctx, details=details)
        raise
    rt.events.record(
        EventType.SUCCESS_SIGNUP,
        ctx,
        user_id=user.id,
        user_name=user.email,
        details={"authentication_method": _LOGGED_METHOD[method]},
    )
    return user, method


async def _register(
    rt: Runtime, flow: Flow, tenant: TenantSettings, submission: SignupSubmission, *, user_agent: str
) -> User:
    match submission:
        case PasskeySignup(credential=credential):
            require_enabled(tenant, "passkey")
            challenge, registered = await passkey_method.register(rt, flow, tenant, credential=credential)
            if challenge.user_id is not None or "email" not in challenge.pending:
                raise CeremonyError(code="challenge_invalid", detail="not a sign-up challenge")
            if await rt.store.find_passkey(registered.credential_id) is not None:
                raise Conflict("This passkey is already registered.", code="credential_exists")
            user = _new_user(
                rt,
                email=challenge.pending["email"],
                user_handle=base64url_to_bytes(challenge.pending["user_handle"]),
                password_hash=None,
            )
            passkey = passkey_method.new_passkey(rt, user, registered, tenant, user_agent=user_agent)
            await _create(rt, user, passkey=passkey)
            return user
        case PasswordSignup(email=email, password=password):
            require_enabled(tenant, "password")
            address = normalize_email(email)
            check_password_policy(password)
            user = _new_user(
                rt,
                email=address,
                user_handle=secrets.token_bytes(USER_HANDLE_BYTES),
                password_hash=await rt.hasher.hash(password),
            )
            await _create(rt, user)
            return user
