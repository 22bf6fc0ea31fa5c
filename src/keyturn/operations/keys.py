"""Signing keys for operators (`keyturn keys rotate`, the dashboard's Rotate)."""

from __future__ import annotations

from keyturn.context import Context
from keyturn.domain.oidc import SigningKey
from keyturn.operations.audit import Actor, record_change


async def rotate_signing_keys(ctx: Context, *, actor: Actor) -> list[SigningKey]:
    """New ES256 and RS256 keys sign from now on; retired ones stay in the JWKS until the
    tokens they signed expire. The rotation and its `sapi` event commit together."""
    async with ctx.writing() as tx:
        created = await ctx.rt.keys.rotate_in(tx, now=ctx.now())
        record_change(ctx, actor, "rotate_signing_keys", kids=[key.kid for key in created])
    ctx.rt.keys.forget()
    ctx.rt.config.forget()
    return created
