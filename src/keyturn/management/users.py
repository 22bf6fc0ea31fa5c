"""/api/v2/users: list and search, create, read, update, delete."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from starlette.requests import Request

from keyturn.errors import KeyturnError
from keyturn.http.context import ContextDep
from keyturn.management.auth import Caller, require
from keyturn.management.deps import ManagementRoute, actor_of
from keyturn.management.schemas import ErrorOut, UserCreate, UserOut, UsersPage, UserUpdate
from keyturn.management.shapes import user_out
from keyturn.operations import users as user_ops

router = APIRouter(
    tags=["users"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}},
    route_class=ManagementRoute,
)
_EMAIL_QUERY = re.compile(r'^email:"?([^"\s]+)"?$')


@router.get("/users", response_model=UsersPage | list[UserOut], operation_id="users-list")
async def list_users(
    ctx: ContextDep,
    caller: Annotated[Caller, Depends(require("read:users"))],
    page: Annotated[int, Query(ge=0, le=10_000)] = 0,
    per_page: Annotated[int, Query(ge=1, le=100)] = 50,
    include_totals: bool = False,
    q: Annotated[str | None, Query(max_length=512, description='Search: email:"ada@example.com"')] = None,
    search_engine: str | None = None,
) -> UsersPage | list[UserOut]:
    email = None
    if q:
        match = _EMAIL_QUERY.match(q.strip())
        if match is None:
            raise KeyturnError(code="invalid_query_string", message="invalid_query_string.email_only")
        email = match.group(1).lower()
    users, total = await (await ctx.read()).list_users(email=email, offset=page * per_page, limit=per_page)
    shaped = [user_out(u) for u in users]
    if include_totals:
        return UsersPage(start=page * per_page, limit=per_page, length=len(shaped), total=total, users=shaped)
    return shaped


@router.get("/users-by-email", response_model=list[UserOut], operation_id="users-by-email")
async def users_by_email(
    ctx: ContextDep,
    caller: Annotated[Caller, Depends(require("read:users"))],
    email: Annotated[str, Query(max_length=254)],
) -> list[UserOut]:
    return [user_out(u) for u in await user_ops.find_by_email(ctx, email)]


@router.post(
    "/users",
    status_code=201,
    response_model=UserOut,
    operation_id="users-create",
    responses={400: {"model": ErrorOut}, 409: {"model": ErrorOut}},
)
async def create_user(
    request: Request,
    ctx: ContextDep,
    body: UserCreate,
    caller: Annotated[Caller, Depends(require("create:users"))],
) -> UserOut:
    user = await user_ops.create_user(
        ctx,
        actor=actor_of(request, caller),
        email=body.email,
        password=body.password,
        name=body.name,
        email_verified=body.email_verified,
        connection=body.connection,
        traits=body.traits,
        user_metadata=body.user_metadata,
        app_metadata=body.app_metadata,
    )
    return user_out(user)


@router.get(
    "/users/{user_id}", response_model=UserOut, operation_id="users-get", responses={404: {"model": ErrorOut}}
)
async def get_user(
    ctx: ContextDep, user_id: str, caller: Annotated[Caller, Depends(require("read:users"))]
) -> UserOut:
    return user_out(await user_ops.get_user(ctx, user_id))


@router.patch(
    "/users/{user_id}",
    response_model=UserOut,
    operation_id="users-update",
    responses={400: {"model": ErrorOut}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut}},
)
async def update_user(
    request: Request,
    ctx: ContextDep,
    user_id: str,
    body: UserUpdate,
    caller: Annotated[Caller, Depends(require("update:users"))],
) -> UserOut:
    user_ops.check_connection(body.connection)
    user = await user_ops.update_user(
        ctx,
        await user_ops.get_user(ctx, user_id),
        actor=actor_of(request, caller),
        email=body.email,
        name=body.name,
        password=body.password,
        email_verified=body.email_verified,
        fields=sorted(body.model_fields_set),
        traits=body.traits,
        user_metadata=body.user_metadata,
        app_metadata=body.app_metadata,
    )
    return user_out(user)


@router.delete(
    "/users/{user_id}", status_code=204, operation_id="users-delete", responses={404: {"model": ErrorOut}}
)
async def delete_user(
    request: Request,
    ctx: ContextDep,
    user_id: str,
    caller: Annotated[Caller, Depends(require("delete:users"))],
) -> Response:
    await user_ops.delete_user(ctx, user_id, actor=actor_of(request, caller))
    return Response(status_code=204)
