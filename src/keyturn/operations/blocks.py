"""Brute-force blocks for operators: Auth0's /api/v2/user-blocks and `keyturn blocks`.

Blocks are named by user (every block of an account's identifier) or by identifier (also
those of identifiers with no account). Removing one also clears its count, so the
identifier starts afresh from that address; each removal is a `sapi` event.
"""

from __future__ import annotations

from typing import Any

from keyturn.context import Context
from keyturn.domain.blocks import UserBlock
from keyturn.domain.tenant import CONNECTION_NAME
from keyturn.errors import NotFound
from keyturn.flows.protection import brute_force_rate, identifier_of
from keyturn.operations.audit import Actor, record_change


def blocked_for(blocks: list[UserBlock]) -> dict[str, Any]:
    """Auth0's answer: `{"blocked_for": [{"identifier", "ip", "connection"}]}`."""
    return {
        "blocked_for": [
            {"identifier": b.identifier, "ip": b.ip, "connection": CONNECTION_NAME} for b in blocks
        ]
    }


def _identifier(text: str) -> str:
    return identifier_of({"email": text}) or text


async def _user_id(ctx: Context, user_id: str) -> str:
    if await (await ctx.read()).get_user(user_id) is None:
        raise NotFound(code="inexistent_user")
    return user_id


async def list_blocks(
    ctx: Context, *, user_id: str | None = None, identifier: str | None = None
) -> list[UserBlock]:
    reader = await ctx.read()
    if user_id is not None:
        return await reader.list_blocks(user_id=await _user_id(ctx, user_id), now=ctx.now())
    return await reader.list_blocks(identifier=_identifier(identifier or ""), now=ctx.now())


async def remove_blocks(
    ctx: Context, *, actor: Actor, user_id: str | None = None, identifier: str | None = None
) -> int:
    """Remove the blocks (live or expired) and clear their counts; how many were live."""
    found = await list_blocks(ctx, user_id=user_id, identifier=identifier)
    async with ctx.writing() as tx:
        if user_id is not None:
            await tx.remove_blocks(user_id=user_id)
        else:
            await tx.remove_blocks(identifier=_identifier(identifier or ""))
        record_change(
            ctx,
            actor,
            "remove_user_blocks",
            user_id=user_id,
            **({"identifier": _identifier(identifier)} if identifier is not None else {}),
            removed=len(found),
        )
    for block in found:
        await ctx.rt.throttles.clear(brute_force_rate(ctx.tenant), "bf", block.identifier, block.ip)
    return len(found)
