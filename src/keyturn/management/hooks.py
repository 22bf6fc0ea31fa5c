"""/api/v2/hooks: post-login and pre-user-registration hooks (Keyturn's shape; Auth0's Actions
API is not mirrored)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from keyturn.http.context import ContextDep
from keyturn.management.auth import Caller, require
from keyturn.management.deps import ManagementRoute, actor_of
from keyturn.management.schemas import ErrorOut
from keyturn.operations import hooks as hook_ops

router = APIRouter(
    tags=["hooks"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}},
    route_class=ManagementRoute,
)


class HookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trigger: Literal["post-login", "pre-user-registration"] = "post-login"
    url: str = Field(max_length=2048)
    timeout_seconds: float = Field(2.0, ge=0.1, le=10)
    failure_policy: Literal["deny", "allow"] = "deny"


class HookOut(BaseModel):
    id: str
    trigger: str
    url: str
    timeout_seconds: float
    failure_policy: str
    enabled: bool
    created_at: str
    secret: str | None = Field(None, description="Only in the creation response.")


@router.get("/hooks", response_model=list[HookOut], operation_id="hooks-list")
async def list_hooks(
    ctx: ContextDep, caller: Annotated[Caller, Depends(require("read:hooks"))]
) -> list[dict[str, Any]]:
    return [hook_ops.describe_hook(h) for h in await (await ctx.read()).list_hooks()]


@router.post(
    "/hooks",
    status_code=201,
    response_model=HookOut,
    operation_id="hooks-create",
    responses={400: {"model": ErrorOut}},
)
async def create_hook(
    request: Request,
    ctx: ContextDep,
    body: HookCreate,
    caller: Annotated[Caller, Depends(require("create:hooks"))],
) -> dict[str, Any]:
    new = await hook_ops.add_hook(
        ctx,
        actor=actor_of(request, caller),
        trigger=body.trigger,
        url=body.url,
        timeout_seconds=body.timeout_seconds,
        failure_policy=body.failure_policy,
    )
    return {**hook_ops.describe_hook(new.hook), "secret": new.secret}


@router.delete(
    "/hooks/{hook_id}", status_code=204, operation_id="hooks-delete", responses={404: {"model": ErrorOut}}
)
async def delete_hook(
    request: Request,
    ctx: ContextDep,
    hook_id: str,
    caller: Annotated[Caller, Depends(require("delete:hooks"))],
) -> Response:
    await hook_ops.delete_hook(ctx, hook_id, actor=actor_of(request, caller))
    return Response(status_code=204)
