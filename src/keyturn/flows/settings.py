"""The settings flow: a signed-in user manages their passkeys, password and email."""

from __future__ import annotations

from typing import Any

from keyturn.domain.email import normalize_email
from keyturn.domain.events import EventType, RequestContext
from keyturn.domain.flow import Flow
from keyturn.domain.identity import Passkey, User
from keyturn.domain.tenant import TenantSettings
from keyturn.errors import CeremonyError, Conflict, KeyturnError, NotFound
from keyturn.methods import passkey as passkey_method
from keyturn.methods.base import require_enabled
from keyturn.methods.password import check_password_policy
from keyturn.runtime import Runtime

MAX_NAME_LENGTH = 64


def _limit_error(limit: int) -> Conflict:
    return Conflict(
        f"You already have {limit} passkeys, the most allowed. Remove one to add another.",
        code="passkey_limit_reached",
    )


async def add_passkey_options(
    rt: Runtime, flow: Flow, tenant: TenantSettings, *, user: User
) -> dict[str, Any]:
    """Creation options for one more passkey; refused up front when the user is at the limit."""
    require_enabled(tenant, "passkey")
    existing = await rt.store.list_passkeys(user.id)
    limit = tenant.passkey_options.max_passkeys_per_user
    if len(existing) >= limit:
        raise _limit_error(limit)
    return await passkey_method.creation_options(
        rt, flow, tenant, user_handle=user.user_handle, email=user.email, existing=existing, user_id=user.id
    )


async def add_passkey(
    rt: Runtime,
    flow: Flow,
    tenant: TenantSettings,
    *,
    user: User,
    credential: object,
    user_agent: str,
    ctx: RequestContext,
) -> Passkey:
    """Enroll one more passkey; success and failure both reach the event log."""
    try:
        passkey = await _add_passkey(
            rt, flow, tenant, user=user, credential=credential, user_agent=user_agent
        )
    except KeyturnError as error:
        rt.events.record(
            EventType.WEBAUTHN_ENROLLMENT_FAILED,
            ctx,
            user_id=user.id,
            user_name=user.email,
            details={"error": error.code},
        )
        raise
    rt.events.record(
        EventType.ENROLLMENT_COMPLETE,
        ctx,
        user_id=user.id,
        user_name=user.email,
        details={"authenticator": "passkey", "passkey_id": passkey.id, "aaguid": passkey.aaguid},
    )
    return passkey


async def _add_passkey(
    rt: Runtime, flow: Flow, tenant: TenantSettings, *, user: User, credential: object, user_agent: str
) -> Passkey:
    require_enabled(tenant, "passkey")
    challenge, registered = await passkey_method.register(rt, flow, tenant, credential=credential)
    if challenge.user_id != user.id:
        raise CeremonyError(code="challenge_invalid", detail="challenge issued to another user")
    passkey = passkey_method.new_passkey(rt, user, registered, tenant, user_agent=user_agent)
    limit = tenant.passkey_options.max_passkeys_per_user
    try:
        await rt.store.add_passkey(passkey, limit=limit)
    except Conflict as exc:
        if exc.code == "passkey_limit_reached":
            raise _limit_error(limit) from exc
        raise Conflict("This passkey is already registered.", code="credential_exists") from exc
    return passkey


def clean_passkey_name(name: object) -> str:
    """Whitespace folded; 1 to 64 characters; no control characters."""
    cleaned = " ".join(name.split()) if isinstance(name, str) else ""
    if not cleaned or len(cleaned) > MAX_NAME_LENGTH or any(ord(c) < 32 or ord(c) == 127 for c in cleaned):
        raise KeyturnError(
            f"Give the passkey a name of 1 to {MAX_NAME_LENGTH} characters.", code="invalid_name"
        )
    return cleaned


async def rename_passkey(rt: Runtime, *, user: User, passkey_id: str, name: object) -> None:
    if not await rt.store.rename_passkey(user.id, passkey_id, clean_passkey_name(name)):
        raise NotFound("No such passkey.", code="passkey_not_found")


async def remove_passkey(rt: Runtime, *, user: User, passkey_id: str, ctx: RequestContext) -> None:
    """Refused (by the store, atomically) when it is the user's last way to sign in."""
    if not await rt.store.delete_passkey(user.id, passkey_id):
        raise NotFound("No such passkey.", code="passkey_not_found")
    rt.events.record(
        EventType.AUTHENTICATOR_REMOVED,
        ctx,
        user_id=user.id,
        user_name=user.email,
        details={"passkey_id": passkey_id},
    )


async def set_password(
    rt: Runtime, tenant: TenantSettings, *, user: User, current: str | None, new: str, ctx: RequestContext
) -> None:
    """Set a first password, or change one (which needs the current password)."""
    require_enabled(tenant, "password")
    if user.has_password and not await rt.hasher.verify(user.password_hash, current or ""):
        raise KeyturnError("Your current password is not right.", code="invalid_current_password")
    check_password_policy(new)
    await rt.store.set_password_hash(user.id, await rt.hasher.hash(new), now=rt.clock.now())
    rt.events.record(EventType.SUCCESS_CHANGE_PASSWORD, ctx, user_id=user.id, user_name=user.email)


async def remove_password(rt: Runtime, *, user: User) -> None:
    """Refused (by the store, atomically) when the user has no passkey."""
    await rt.store.set_password_hash(user.id, None, now=rt.clock.now())


async def change_email(rt: Runtime, *, user: User, email: object, ctx: RequestContext) -> str:
    address = normalize_email(email)
    try:
        await rt.store.update_email(user.id, address, now=rt.clock.now())
    except Conflict as exc:
        raise Conflict("That email is used by another account.", code="email_taken") from exc
    rt.events.record(
        EventType.SUCCESS_CHANGE_EMAIL,
        ctx,
        user_id=user.id,
        user_name=address,
        details={"previous": user.email},
    )
    return address
