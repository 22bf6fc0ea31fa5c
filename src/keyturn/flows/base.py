"""Creating and loading flows: expiry, browser binding and CSRF are checked here, once."""

from __future__ import annotations

import re
from datetime import timedelta

from keyturn.domain.flow import Flow, FlowKind
from keyturn.errors import FlowError, Forbidden
from keyturn.ids import constant_time_equal, hash_token, new_id, new_token
from keyturn.runtime import Runtime

_FLOW_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


async def start_flow(
    rt: Runtime,
    kind: FlowKind,
    *,
    binding_token: str,
    user_id: str | None = None,
    return_to: str | None = None,
) -> Flow:
    """A new flow bound to the browser holding `binding_token` (its binding cookie)."""
    now = rt.clock.now()
    flow = Flow(
        id=new_id(),
        kind=kind,
        binding_hash=hash_token(binding_token),
        csrf_token=new_token(),
        expires_at=now + timedelta(seconds=rt.settings.flow_lifespan_seconds),
        created_at=now,
        user_id=user_id,
        return_to=return_to,
    )
    await rt.store.create_flow(flow)
    return flow


async def load_flow(
    rt: Runtime, flow_id: str, *, kind: FlowKind, binding_token: str | None, csrf_token: str | None
) -> Flow:
    """The flow, if it exists, is of `kind`, is live, and belongs to this browser and page."""
    if not _FLOW_ID.match(flow_id):
        raise FlowError()  # not an id Keyturn hands out: never reaches the database
    flow = await rt.store.get_flow(flow_id)
    if flow is None or flow.kind != kind or flow.expires_at <= rt.clock.now():
        raise FlowError()
    if binding_token is None or not constant_time_equal(hash_token(binding_token), flow.binding_hash):
        raise FlowError(
            "This page was opened in another browser. Please start again here.",
            code="flow_browser_mismatch",
            status=403,
        )
    if csrf_token is None or not constant_time_equal(csrf_token, flow.csrf_token):
        raise Forbidden(
            "The security token of this page is missing or wrong. Reload the page.", code="csrf_failed"
        )
    return flow
