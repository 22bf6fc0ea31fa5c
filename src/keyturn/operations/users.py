"""Operator actions on users and their authentication methods (management API, dashboard),
with the same rules as self-service."""

from __future__ import annotations

from typing import Any

from keyturn.context import Context
from keyturn.domain import metadata
from keyturn.domain.email import normalize_email
from keyturn.domain.factors import Factors
from keyturn.domain.identity import Passkey, User, clean_passkey_name, new_user
from keyturn.domain.tenant import CONNECTION_NAME
from keyturn.domain.traits import merge_traits, require_valid
from keyturn.errors import Conflict, KeyturnError, NotFound
from keyturn.flows.notices import notify_email_changed, notify_password_saved, notify_security_change
from keyturn.methods.password import check_password_policy, hasher
from keyturn.operations.audit import Actor, record_change

PASSWORD_METHOD_PREFIX = "password|"  # noqa: S105 - an id prefix
# Second factors' ids in /api/v2, as Auth0 spells their types.
TOTP_METHOD_PREFIX = "totp|"
RECOVERY_CODE_METHOD_PREFIX = "recovery-code|"
SECURITY_KEY_METHOD_PREFIX = "webauthn-roaming|"


def check_connection(connection: str | None) -> None:
    if connection is not None and connection != CONNECTION_NAME:
        raise KeyturnError(
            code="inexistent_connection", message="inexistent_connection.name", name=CONNECTION_NAME
        )


async def get_user(ctx: Context, user_id: str) -> User:
    user = await (await ctx.read()).get_user(user_id)
    if user is None:
        raise NotFound(code="inexistent_user")
    return user


async def find_by_email(ctx: Context, email: str) -> list[User]:
    try:
        address = normalize_email(email)
    except KeyturnError:
        return []
    user = await (await ctx.read()).find_user_by_email(address)
    return [user] if user else []


async def create_user(
    ctx: Context,
    *,
    actor: Actor,
    email: str,
    password: str | None,
    name: str | None,
    email_verified: bool,
    connection: str,
    traits: dict[str, Any] | None = None,
    user_metadata: dict[str, Any] | None = None,
    app_metadata: dict[str, Any] | None = None,
) -> User:
    """A user with a password, or without one (they add a passkey through recovery later).
    The traits must satisfy the identity schema, as a sign-up's do."""
    check_connection(connection)
    address = normalize_email(email)
    new_traits = {k: v for k, v in (traits or {}).items() if v is not None}
    require_valid(ctx.tenant.identity, address, new_traits)
    user_meta = metadata.checked("user_metadata", user_metadata or {})
    app_meta = metadata.checked("app_metadata", app_metadata or {})
    if password is not None:
        check_password_policy(password)
    user = new_user(
        address,
        now=ctx.now(),
        password_hash=await hasher().hash(password) if password is not None else None,
        name=name,
        email_verified=email_verified,
        traits=new_traits,
        user_metadata=user_meta,
        app_metadata=app_meta,
    )
    try:
        async with ctx.writing() as tx:
            await tx.create_user(user)
            record_change(ctx, actor, "create_user", user_id=user.id)
    except Conflict as exc:
        raise Conflict(code="auth0_idp_error") from exc
    return user


async def update_user(
    ctx: Context,
    user: User,
    *,
    actor: Actor,
    email: str | None,
    name: str | None,
    password: str | None,
    email_verified: bool | None,
    fields: list[str],
    traits: dict[str, Any] | None = None,
    user_metadata: dict[str, Any] | None = None,
    app_metadata: dict[str, Any] | None = None,
) -> User:
    """Validate every field first, then apply in one transaction: a bad field changes nothing.
    Traits and both metadata objects merge at the top level (`null` deletes a key); the merged
    traits, with the email as it will be, must satisfy the identity schema."""
    address = normalize_email(email) if email is not None else None
    new_traits = merge_traits(user.traits, traits) if traits is not None else None
    if new_traits is not None or address is not None:
        traits_after = user.traits if new_traits is None else new_traits
        require_valid(ctx.tenant.identity, address or user.email, traits_after)
    user_meta = app_meta = None
    if user_metadata is not None:
        user_meta = metadata.merged("user_metadata", user.user_metadata, user_metadata)
    if app_metadata is not None:
        app_meta = metadata.merged("app_metadata", user.app_metadata, app_metadata)
    if password is not None:
        check_password_policy(password)
    new_hash = await hasher().hash(password) if password is not None else None
    now = ctx.now()
    try:
        async with ctx.writing() as tx:
            if address is not None and address != user.email:
                await tx.update_email(user.id, address, now=now)
                await notify_email_changed(ctx, tx, user, new_email=address)
            if new_hash is not None:
                await tx.set_password_hash(user.id, new_hash, now=now)
                await notify_password_saved(ctx, tx, user)
            if name is not None or email_verified is not None:
                await tx.update_profile(user.id, name=name, email_verified=email_verified, now=now)
            if new_traits is not None or user_meta is not None or app_meta is not None:
                await tx.update_traits(
                    user.id, now=now, traits=new_traits, user_metadata=user_meta, app_metadata=app_meta
                )
            updated = await tx.get_user(user.id)
            record_change(ctx, actor, "update_user", user_id=user.id, fields=fields)
    except Conflict as exc:
        if exc.code != "email_taken":
            raise
        raise Conflict(code="email_taken", message="email_taken.management") from exc
    assert updated is not None
    return updated


async def delete_user(ctx: Context, user_id: str, *, actor: Actor) -> None:
    """Delete a user with their passkeys, sessions, grants and tokens."""
    async with ctx.writing() as tx:
        if not await tx.delete_user(user_id):
            raise NotFound(code="inexistent_user")
        record_change(ctx, actor, "delete_user", user_id=user_id)


# --- authentication methods ---------------------------------------------------------------


async def rename_passkey(ctx: Context, user: User, passkey_id: str, name: object, *, actor: Actor) -> None:
    cleaned = clean_passkey_name(name)
    async with ctx.writing() as tx:
        if not await tx.rename_passkey(user.id, passkey_id, cleaned):
            raise NotFound(code="authenticator_not_found")
        record_change(
            ctx, actor, "rename_authentication_method", user_id=user.id, authenticator_id=passkey_id
        )


async def revoke_method(ctx: Context, user: User, method_id: str, *, actor: Actor) -> None:
    """Revoke a passkey or the password at once (an operator may remove the last method); the
    user is told, as for their own change."""
    names = {p.id: p.name for p in await (await ctx.read()).list_passkeys(user.id)}
    async with ctx.writing() as tx:
        if method_id.startswith(PASSWORD_METHOD_PREFIX):
            await tx.set_password_hash(user.id, None, now=ctx.now(), allow_last=True)
            if user.has_password:
                await notify_security_change(ctx, tx, user, "password_removed")
        elif method_id.startswith(TOTP_METHOD_PREFIX):
            if not await tx.delete_totp(user.id):
                raise NotFound(code="authenticator_not_found")
        elif method_id.startswith(RECOVERY_CODE_METHOD_PREFIX):
            if not await tx.delete_recovery_codes(user.id):
                raise NotFound(code="authenticator_not_found")
        elif method_id.startswith(SECURITY_KEY_METHOD_PREFIX):
            if not await tx.delete_security_key(user.id, method_id.removeprefix(SECURITY_KEY_METHOD_PREFIX)):
                raise NotFound(code="authenticator_not_found")
        elif await tx.delete_passkey(user.id, method_id, allow_last=True):
            await notify_security_change(ctx, tx, user, "passkey_removed", names.get(method_id, "Passkey"))
        else:
            raise NotFound(code="authenticator_not_found")
        record_change(ctx, actor, "delete_authentication_method", user_id=user.id, authenticator_id=method_id)


async def revoke_all_passkeys(ctx: Context, user: User, *, actor: Actor) -> int:
    names = [p.name for p in await (await ctx.read()).list_passkeys(user.id)]
    async with ctx.writing() as tx:
        removed = await tx.delete_all_passkeys(user.id)
        if removed:
            await notify_security_change(ctx, tx, user, "passkey_removed", ", ".join(names))
        record_change(ctx, actor, "delete_all_authentication_methods", user_id=user.id, removed=removed)
    return removed


async def passkeys_of(ctx: Context, user: User) -> list[Passkey]:
    return await (await ctx.read()).list_passkeys(user.id)


SEARCH_PAGE_SIZE = 20


async def search_users(ctx: Context, text: str, *, page: int) -> tuple[list[User], int]:
    """The dashboard's **Search users**: emails starting with what was typed (emails are
    stored normalised, so the query is folded the same way), a page at a time."""
    prefix = text.strip().lower()
    return await (await ctx.read()).list_users(
        email=None,
        email_prefix=prefix or None,
        offset=max(page, 0) * SEARCH_PAGE_SIZE,
        limit=SEARCH_PAGE_SIZE,
    )


async def second_factors_of(ctx: Context, user: User) -> tuple[Factors, list[Passkey]]:
    """The user's second factors, and their security keys (never counted as passkeys)."""
    reader = await ctx.read()
    return await reader.get_factors(user.id), await reader.list_security_keys(user.id)
