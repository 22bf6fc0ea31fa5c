"""Operator actions on sessions (management API): list a user's, look one up, end one or all,
with or without the refresh tokens granted in them."""

from __future__ import annotations

from keyturn.context import Context
from keyturn.domain.identity import User
from keyturn.domain.session import Session
from keyturn.errors import NotFound
from keyturn.operations.audit import Actor, record_change
from keyturn.store.protocols import WriteTx


async def sessions_of(ctx: Context, user: User) -> list[Session]:
    """The user's live sessions, newest first (a stable order, for checkpoint paging)."""
    found = await (await ctx.read()).list_user_sessions(user.id, now=ctx.now())
    return sorted(found, key=lambda s: (-s.created_at.timestamp(), s.id))


async def end_all_sessions(ctx: Context, user: User, *, actor: Actor) -> int:
    """End every session of the user at once: the next request with any of their cookies is
    signed out, on every worker (sessions live in the database)."""
    async with ctx.writing() as tx:
        ended = await tx.delete_user_sessions(user.id)
        record_change(ctx, actor, "delete_user_sessions", user_id=user.id, ended=ended)
    return ended


async def get_session(ctx: Context, session_id: str) -> Session:
    """A live session by id; NotFound when there is none (ended, expired or never was)."""
    found = await (await ctx.read()).get_session(session_id, now=ctx.now())
    if found is None:
        raise NotFound(code="session_not_found")
    return found


async def _end_one(ctx: Context, tx: WriteTx, user_id: str, session_id: str, *, revoke: bool) -> int:
    """End one of the user's sessions (NotFound if it is not theirs or already ended) and, with
    `revoke`, the grants made in it; how many grants were revoked."""
    if not await tx.delete_user_session(user_id, session_id):
        raise NotFound(code="session_not_found")
    return await tx.revoke_session_grants(user_id, session_id=session_id, now=ctx.now()) if revoke else 0


async def end_session_by_id(
    ctx: Context, session_id: str, *, revoke_refresh_tokens: bool, actor: Actor
) -> None:
    """End one session at once; with `revoke_refresh_tokens`, also what applications were
    granted in it (Auth0's `POST /sessions/{id}/revoke`; its DELETE ends the session only)."""
    session = await get_session(ctx, session_id)
    async with ctx.writing() as tx:
        grants = await _end_one(ctx, tx, session.user_id, session.id, revoke=revoke_refresh_tokens)
        operation = "revoke_session" if revoke_refresh_tokens else "delete_session"
        record_change(
            ctx, actor, operation, user_id=session.user_id, session_id=session.id, revoked_grants=grants
        )


async def revoke_access(
    ctx: Context, user: User, *, session_id: str | None, preserve_refresh_tokens: bool, actor: Actor
) -> None:
    """Auth0's `POST /users/{id}/revoke-access`: one session (`session_id`) or all of them, and
    unless preserved, the refresh tokens granted in it (or all the user's refresh tokens)."""
    revoke = not preserve_refresh_tokens
    async with ctx.writing() as tx:
        if session_id is not None:
            ended, grants = 1, await _end_one(ctx, tx, user.id, session_id, revoke=revoke)
        else:
            ended = await tx.delete_user_sessions(user.id)
            grants = await tx.revoke_user_grants(user.id, now=ctx.now()) if revoke else 0
        details = {"session_id": session_id, "ended": ended, "revoked_grants": grants}
        record_change(ctx, actor, "revoke_access", user_id=user.id, **details)
