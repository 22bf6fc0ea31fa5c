"""/api/v2/users: list and search, create, read, update, delete."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from starlette.requests import Request

from keyturn.errors import NotFound
from keyturn.management.auth import Caller, require
from keyturn.management.deps import ManagementRuntime, audit
from keyturn.management.schemas import ErrorOut, UserCreate, UserOut, UsersPage, UserUpdate
from keyturn.management.shapes import user_out
from keyturn.operations import users as user_ops
from keyturn.runtime import Runtime

router = APIRouter(tags=["users"], responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}})
_EMAIL_QUERY = re.compile(r'^email:"?([^"\s]+)"?$')


async def _user(rt: Runtime, user_id: str) -> user_ops.User:
    user = await rt.store.get_user(user_id)
    if user is None:
        raise NotFound("The user does not exist.", code="inexistent_user")
    return user


@router.get("/users", response_model=UsersPage | list[UserOut], operation_id="users-list")
async def list_users(
    rt: ManagementRuntime,
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
            raise user_ops.KeyturnError('Only email:"…" searches are supported.', code="invalid_query_string")
        email = match.group(1).lower()
    users, total = await rt.store.list_users(email=email, offset=page * per_page, limit=per_page)
    shaped = [user_out(u) for u in users]
    if include_totals:
        return UsersPage(start=page * per_page, limit=per_page, length=len(shaped), total=total, users=shaped)
    return shaped


@router.get("/users-by-email", response_model=list[UserOut], operation_id="users-by-email")
async def users_by_email(
    rt: ManagementRuntime,
    caller: Annotated[Caller, Depends(require("read:users"))],
    email: Annotated[str, Query(max_length=254)],
) -> list[UserOut]:
    users, _ = await rt.store.list_users(email=email.strip().lower(), offset=0, limit=1)
    return [user_out(u) for u in users]


@router.post(
    "/users",
    status_code=201,
    response_model=UserOut,
    operation_id="users-create",
    responses={400: {"model": ErrorOut}, 409: {"model": ErrorOut}},
)
async def create_user(
    request: Request,
    rt: ManagementRuntime,
    body: UserCreate,
    caller: Annotated[Caller, Depends(require("create:users"))],
) -> UserOut:
    user = await user_ops.create_user(
        rt,
        email=body.email,
        password=body.password,
        name=body.name,
        email_verified=body.email_verified,
        connection=body.connection,
    )
    audit(request, rt, caller, "create_user", user_id=user.id)
    return user_out(user)


@router.get(
    "/users/{user_id}", response_model=UserOut, operation_id="users-get", responses={404: {"model": ErrorOut}}
)
async def get_user(
    rt: ManagementRuntime, user_id: str, caller: Annotated[Caller, Depends(require("read:users"))]
) -> UserOut:
    return user_out(await _user(rt, user_id))


@router.patch(
    "/users/{user_id}",
    response_model=UserOut,
    operation_id="users-update",
    responses={400: {"model": ErrorOut}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut}},
)
async def update_user(
    request: Request,
    rt: ManagementRuntime,
    user_id: str,
    body: UserUpdate,
    caller: Annotated[Caller, Depends(require("update:users"))],
) -> UserOut:
    user_ops.check_connection(body.connection)
    user = await user_ops.update_user(
        rt,
        await _user(rt, user_id),
        email=body.email,
        name=body.name,
        password=body.password,
        email_verified=body.email_verified,
    )
    audit(request, rt, caller, "update_user", user_id=user.id, fields=sorted(body.model_fields_set))
    return user_out(user)


@router.delete(
    "/users/{user_id}", status_code=204, operation_id="users-delete", responses={404: {"model": ErrorOut}}
)
async def delete_user(
    request: Request,
    rt: ManagementRuntime,
    user_id: str,
    caller: Annotated[Caller, Depends(require("delete:users"))],
) -> Response:
    if not await rt.store.delete_user(user_id):
        raise NotFound("The user does not exist.", code="inexistent_user")
    audit(request, rt, caller, "delete_user", user_id=user_id)
    return Response(status_code=204)
