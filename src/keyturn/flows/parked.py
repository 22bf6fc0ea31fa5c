"""The parked OIDC authorization a flow continues: loaded in one place, for the browser that asked.

`oidc/` parks an authorization request while the user signs in; the flow carries its id
(`Flow.authorization_request_id`), and whoever continues it (the sign-in's exit, the
resume and consent endpoints) loads it here: it must exist, be live, belong to this
browser (its binding cookie), and its client must still exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from keyturn.context import Context
from keyturn.domain.oidc import AuthorizationRequest, Client
from keyturn.ids import constant_time_equal, hash_token


@dataclass(frozen=True)
class Parked:
    request: AuthorizationRequest
    client: Client


async def load_parked(ctx: Context, request_id: str | None, *, binding_token: str | None) -> Parked | None:
    if not request_id or binding_token is None or len(request_id) > 64:
        return None
    reader = await ctx.read()
    request = await reader.get_authorization_request(request_id, now=ctx.now())
    if request is None or not constant_time_equal(hash_token(binding_token), request.browser_binding):
        return None
    client = await ctx.rt.config.client(reader, request.client_id)
    return Parked(request=request, client=client) if client is not None else None
