"""The account flow: a signed-in user manages their passkeys, password and email.

Each change is one write transaction with its event; the rules that must hold under
concurrency (the passkey limit, never removing the last way to sign in) are the store's,
checked with the owner's row locked.
"""

from __future__ import annotations

from typing import Any

from keyturn.context import Context
from keyturn.domain.email import normalize_email
from keyturn.domain.events import EventType
from keyturn.domain.flow import Flow
from keyturn.domain.identity import Passkey, User, clean_passkey_name
from keyturn.domain.traits import TraitsInvalid, from_form, require_valid
from keyturn.errors import CeremonyError, Conflict, KeyturnError, NotFound
from keyturn.flows import verification
from keyturn.flows.notices import notify_password_saved, notify_security_change
from keyturn.methods.base import require_enabled
from keyturn.methods.challenges import spend_challenge
from keyturn.methods.passkey import creation_options, new_passkey, passkeys_below_limit, verify_new_passkey
from keyturn.methods.password import check_new_password, hasher
from keyturn.methods.registry import PASSKEY, PASSWORD


async def update_profile(ctx: Context, *, user: User, form: dict[str, str]) -> bool:
    """Save the traits the identity schema lets the user edit on /account (the others stay as
    they are), checked as a whole; True when the passkey display name changed (the page then
    signals the browser's passkey manager)."""
    schema = ctx.tenant.identity
    editable = [t for t in schema.account_traits() if t.account == "editable"]
    if not editable:
        raise KeyturnError(code="traits_not_editable", status=403)
    posted = {key.removeprefix("traits."): value for key, value in form.items() if key.startswith("traits.")}
    typed = from_form(editable, posted)
    traits = {k: v for k, v in user.traits.items() if k not in {t.name for t in editable}} | typed
    try:
        require_valid(schema, user.email, traits)
    except TraitsInvalid as invalid:
        raise TraitsInvalid(invalid.trait_errors, {**user.traits, **typed}) from None
    async with ctx.writing() as tx:
        await tx.update_traits(user.id, traits=traits, now=ctx.now())
    return schema.display_name(user.email, traits) != schema.display_name(user.email, user.traits)


def _limit(ctx: Context) -> int:
    return ctx.tenant.passkey_options.max_passkeys_per_user


async def add_passkey_options(ctx: Context, flow: Flow, *, user: User) -> dict[str, Any]:
    """Creation options for one more passkey; refused up front when the user is at the limit."""
    require_enabled(ctx.tenant, PASSKEY)
    existing = await passkeys_below_limit(ctx, user)
    return creation_options(
        ctx,
        flow,
        user_handle=user.user_handle,
        email=user.email,
        existing=existing,
        user_id=user.id,
        traits=user.traits,
    )


async def add_passkey(
    ctx: Context, flow: Flow, *, user: User, credential: object, purpose: str | None = None
) -> Passkey:
    """Enroll one more passkey; success and failure both reach the event log. `purpose` names
    the journey that offered it (`details.enrollment`: "progressive", "local"); none for /account."""
    journey = {"enrollment": purpose} if purpose else {}
    try:
        require_enabled(ctx.tenant, PASSKEY)
        challenge, registered = await verify_new_passkey(ctx, flow, credential)
        if challenge.user_id != user.id:
            raise CeremonyError(code="challenge_invalid", detail="challenge issued to another user")
        passkey = new_passkey(ctx, user, registered, user_agent=ctx.requester.user_agent)
        async with ctx.writing() as tx:
            await spend_challenge(tx, challenge)
            await tx.add_passkey(passkey, limit=_limit(ctx))
            await notify_security_change(ctx, tx, user, "passkey_added", passkey.name)
            ctx.record(
                EventType.ENROLLMENT_COMPLETE,
                user_id=user.id,
                user_name=user.email,
                details={
                    "authenticator": "passkey",
                    "passkey_id": passkey.id,
                    "aaguid": passkey.aaguid,
                    **journey,
                },
            )
    except KeyturnError as error:
        ctx.record(
            EventType.WEBAUTHN_ENROLLMENT_FAILED,
            user_id=user.id,
            user_name=user.email,
            details={"error": error.code, **journey},
        )
        raise
    return passkey


async def rename_passkey(ctx: Context, *, user: User, passkey_id: str, name: object) -> None:
    cleaned = clean_passkey_name(name)
    async with ctx.writing() as tx:
        if not await tx.rename_passkey(user.id, passkey_id, cleaned):
            raise NotFound(code="passkey_not_found")


async def remove_passkey(ctx: Context, *, user: User, passkey_id: str) -> None:
    """Refused (by the store, atomically) when it is the user's last way to sign in."""
    names = {p.id: p.name for p in await (await ctx.read()).list_passkeys(user.id)}
    async with ctx.writing() as tx:
        if not await tx.delete_passkey(user.id, passkey_id):
            raise NotFound(code="passkey_not_found")
        await notify_security_change(ctx, tx, user, "passkey_removed", names.get(passkey_id, "Passkey"))
        ctx.record(
            EventType.AUTHENTICATOR_REMOVED,
            user_id=user.id,
            user_name=user.email,
            details={"passkey_id": passkey_id},
        )


async def set_password(ctx: Context, *, user: User, current: str | None, new: str) -> None:
    """Set a first password, or change one (which needs the current password)."""
    require_enabled(ctx.tenant, PASSWORD)
    if user.has_password and not await hasher().verify(user.password_hash, current or ""):
        raise KeyturnError(code="invalid_current_password")
    await check_new_password(ctx, new, stage="change", user=user)
    new_hash = await hasher().hash(new)
    async with ctx.writing() as tx:
        await tx.set_password_hash(user.id, new_hash, now=ctx.now())
        ctx.record(EventType.SUCCESS_CHANGE_PASSWORD, user_id=user.id, user_name=user.email)
        await notify_password_saved(ctx, tx, user)


async def remove_password(ctx: Context, *, user: User) -> None:
    """Refused (by the store, the owner's row locked) when the user has no passkey."""
    async with ctx.writing() as tx:
        await tx.set_password_hash(user.id, None, now=ctx.now())
        await notify_security_change(ctx, tx, user, "password_removed")


async def change_email(ctx: Context, *, user: User, email: object, binding: str) -> str:
    """Send a code to the new address; the email changes only when it is typed
    (`keyturn.flows.verification.confirm_email_change`)."""
    address = normalize_email(email)
    if address != user.email and await (await ctx.read()).find_user_by_email(address) is not None:
        raise Conflict(code="email_taken")
    await verification.request_email_change(ctx, user, new_email=address, binding=binding)
    return address
