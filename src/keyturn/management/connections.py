"""/api/v2/connections: the tenant's one database connection, its options being the tenant
settings (Auth0's `authentication_methods` and `passkey_options`, plus Keyturn's own keys)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request

from keyturn.errors import Conflict, NotFound
from keyturn.http.context import ContextDep
from keyturn.management.auth import Caller, require
from keyturn.management.deps import ManagementRoute, actor_of
from keyturn.management.schemas import (
    CONNECTION_ID,
    CONNECTION_NAME,
    ConnectionCreate,
    ConnectionOut,
    ConnectionUpdate,
    ErrorOut,
)
from keyturn.management.shapes import connection_out
from keyturn.operations.tenant_config import merge_tenant

router = APIRouter(
    tags=["connections"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}},
    route_class=ManagementRoute,
)


def _check_id(connection_id: str) -> None:
    if connection_id != CONNECTION_ID:
        raise NotFound(code="inexistent_connection")


@router.get("/connections", response_model=list[ConnectionOut], operation_id="connections-list")
async def list_connections(
    ctx: ContextDep,
    caller: Annotated[Caller, Depends(require("read:connections"))],
    strategy: str | None = None,
    name: str | None = None,
) -> list[ConnectionOut]:
    if (strategy not in (None, "auth0")) or (name not in (None, CONNECTION_NAME)):
        return []
    return [connection_out(ctx.tenant)]


@router.get(
    "/connections/{connection_id}",
    response_model=ConnectionOut,
    operation_id="connections-get",
    responses={404: {"model": ErrorOut}},
)
async def get_connection(
    ctx: ContextDep, connection_id: str, caller: Annotated[Caller, Depends(require("read:connections"))]
) -> ConnectionOut:
    _check_id(connection_id)
    return connection_out(ctx.tenant)


@router.patch(
    "/connections/{connection_id}",
    response_model=ConnectionOut,
    operation_id="connections-update",
    responses={400: {"model": ErrorOut}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut}},
)
async def update_connection(
    request: Request,
    ctx: ContextDep,
    connection_id: str,
    body: ConnectionUpdate,
    caller: Annotated[Caller, Depends(require("update:connections"))],
    force: Annotated[
        bool,
        Query(
            description=(
                "Allow an rp.id change that orphans passkeys, or an identity schema existing users fail."
            )
        ),
    ] = False,
) -> ConnectionOut:
    """Options are merged key by key into the current ones, validated as a whole, then saved;
    a bad value is a 400 naming it and changes nothing."""
    _check_id(connection_id)
    overrides = dict(body.options or {})
    if body.display_name is not None:
        rp = overrides.get("rp", {})
        overrides["rp"] = {**rp, "display_name": body.display_name} if isinstance(rp, dict) else rp
    tenant = await merge_tenant(
        ctx,
        overrides,
        actor=actor_of(request, caller),
        force=force,
        connection_id=connection_id,
        keys=sorted(overrides),
    )
    return connection_out(tenant)


@router.post(
    "/connections",
    status_code=201,
    response_model=ConnectionOut,
    operation_id="connections-create",
    responses={400: {"model": ErrorOut}, 409: {"model": ErrorOut}},
)
async def create_connection(
    ctx: ContextDep,
    body: ConnectionCreate,
    caller: Annotated[Caller, Depends(require("create:connections"))],
) -> ConnectionOut:
    """Keyturn serves one database connection per tenant: creating another is refused."""
    raise Conflict(code="connection_conflict", name=CONNECTION_NAME, id=CONNECTION_ID)
