"""Operator actions on users (the management API), with the same rules as self-service."""

from __future__ import annotations

import secrets

from keyturn.domain.email import normalize_email
from keyturn.domain.identity import User
from keyturn.domain.tenant import CONNECTION_NAME
from keyturn.errors import Conflict, KeyturnError
from keyturn.ids import new_id
from keyturn.methods.password import check_password_policy
from keyturn.runtime import Runtime

__all__ = ["KeyturnError", "User", "create_user", "update_user"]
USER_HANDLE_BYTES = 64


def check_connection(connection: str | None) -> None:
    if connection is not None and connection != CONNECTION_NAME:
        raise KeyturnError(
            f"The connection does not exist: use {CONNECTION_NAME!r}.", code="inexistent_connection"
        )


async def create_user(
    rt: Runtime, *, email: str, password: str | None, name: str | None, email_verified: bool, connection: str
) -> User:
    """A user with a password, or without one (they add a passkey through recovery later)."""
    check_connection(connection)
    address = normalize_email(email)
    if password is not None:
        check_password_policy(password)
    now = rt.clock.now()
    user = User(
        id=new_id(),
        email=address,
        user_handle=secrets.token_bytes(USER_HANDLE_BYTES),
        password_hash=await rt.hasher.hash(password) if password is not None else None,
        created_at=now,
        updated_at=now,
        name=name,
        email_verified=email_verified,
    )
    try:
        await rt.store.create_user(user)
    except Conflict as exc:
        raise Conflict("The user already exists.", code="auth0_idp_error") from exc
    return user


async def update_user(
    rt: Runtime,
    user: User,
    *,
    email: str | None,
    name: str | None,
    password: str | None,
    email_verified: bool | None,
) -> User:
    """Validate every field first, then apply: a bad field changes nothing."""
    address = normalize_email(email) if email is not None else None
    if password is not None:
        check_password_policy(password)
    now = rt.clock.now()
    if address is not None and address != user.email:
        try:
            await rt.store.update_email(user.id, address, now=now)
        except Conflict as exc:
            raise Conflict("The specified new email already exists.", code="email_taken") from exc
    if password is not None:
        await rt.store.set_password_hash(user.id, await rt.hasher.hash(password), now=now)
    if name is not None or email_verified is not None:
        await rt.store.update_profile(user.id, name=name, email_verified=email_verified, now=now)
    updated = await rt.store.get_user(user.id)
    assert updated is not None
    return updated
