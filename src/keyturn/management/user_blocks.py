"""/api/v2/user-blocks: brute-force blocks by user id or by identifier (Auth0's shapes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request

from keyturn.http.context import ContextDep
from keyturn.management.auth import Caller, require
from keyturn.management.deps import ManagementRoute, actor_of
from keyturn.management.schemas import ErrorOut
from keyturn.operations import blocks as block_ops

router = APIRouter(
    tags=["user-blocks"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}},
    route_class=ManagementRoute,
)
Identifier = Annotated[str, Query(min_length=1, max_length=320, description="An email as typed at sign-in.")]
BruteForceFlag = Annotated[
    bool, Query(description="Auth0's flag: with brute-force protection off, report no blocks.")
]


class BlockedFor(BaseModel):
    model_config = ConfigDict(extra="forbid")

    identifier: str
    ip: str
    connection: str


class UserBlocksOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    blocked_for: list[BlockedFor]


@router.get(
    "/user-blocks",
    response_model=UserBlocksOut,
    operation_id="user-blocks-list-by-identifier",
)
async def blocks_by_identifier(
    ctx: ContextDep,
    identifier: Identifier,
    caller: Annotated[Caller, Depends(require("read:users"))],
    consider_brute_force_enablement: BruteForceFlag = False,
) -> object:
    if consider_brute_force_enablement and not ctx.tenant.attack_protection.brute_force.enabled:
        return {"blocked_for": []}
    return block_ops.blocked_for(await block_ops.list_blocks(ctx, identifier=identifier))


@router.delete("/user-blocks", status_code=204, operation_id="user-blocks-delete-by-identifier")
async def unblock_identifier(
    request: Request,
    ctx: ContextDep,
    identifier: Identifier,
    caller: Annotated[Caller, Depends(require("update:users"))],
) -> Response:
    await block_ops.remove_blocks(ctx, identifier=identifier, actor=actor_of(request, caller))
    return Response(status_code=204)


@router.get(
    "/user-blocks/{user_id}",
    response_model=UserBlocksOut,
    operation_id="user-blocks-list",
    responses={404: {"model": ErrorOut}},
)
async def blocks_of_user(
    ctx: ContextDep,
    user_id: str,
    caller: Annotated[Caller, Depends(require("read:users"))],
    consider_brute_force_enablement: BruteForceFlag = False,
) -> object:
    found = await block_ops.list_blocks(ctx, user_id=user_id)
    if consider_brute_force_enablement and not ctx.tenant.attack_protection.brute_force.enabled:
        return {"blocked_for": []}
    return block_ops.blocked_for(found)


@router.delete(
    "/user-blocks/{user_id}",
    status_code=204,
    operation_id="user-blocks-delete",
    responses={404: {"model": ErrorOut}},
)
async def unblock_user(
    request: Request,
    ctx: ContextDep,
    user_id: str,
    caller: Annotated[Caller, Depends(require("update:users"))],
) -> Response:
    await block_ops.remove_blocks(ctx, user_id=user_id, actor=actor_of(request, caller))
    return Response(status_code=204)
