"""Operator actions on a user's sessions (management API): list them, end them all at once."""

from __future__ import annotations

from keyturn.context import Context
from keyturn.domain.identity import User
from keyturn.domain.session import Session
from keyturn.operations.audit import Actor, record_change


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
