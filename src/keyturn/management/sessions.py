"""Auth0's session endpoints: a user's sessions listed and ended (`/users/{id}/sessions`), one
session looked up, deleted or revoked with its refresh tokens (`/sessions/{id}`), and
`/users/{id}/revoke-access`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from starlette.requests import Request

from keyturn.http.context import ContextDep
from keyturn.management.auth import Caller, require
from keyturn.management.deps import ManagementRoute, actor_of
from keyturn.management.schemas import ErrorOut, RevokeAccess, SessionOut, SessionsPage
from keyturn.management.shapes import session_out
from keyturn.operations import sessions as session_ops
from keyturn.operations import users as user_ops

router = APIRouter(
    tags=["sessions"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}},
    route_class=ManagementRoute,
)


@router.get("/users/{user_id}/sessions", response_model=SessionsPage, operation_id="users-sessions-list")
async def list_sessions(
    ctx: ContextDep,
    user_id: str,
    caller: Annotated[Caller, Depends(require("read:sessions"))],
    from_: Annotated[
        str | None, Query(alias="from", max_length=64, description="The `next` of the previous page.")
    ] = None,
    take: Annotated[int, Query(ge=1, le=100)] = 50,
) -> SessionsPage:
    """Live sessions, newest first; `next` names the first session of the next page. A `from`
    that names no live session of the user (it ended meanwhile) gives an empty page."""
    sessions = await session_ops.sessions_of(ctx, await user_ops.get_user(ctx, user_id))
    start = 0
    if from_ is not None:
        start = next((i for i, s in enumerate(sessions) if s.id == from_), len(sessions))
    page = sessions[start : start + take]
    following = sessions[start + take] if start + take < len(sessions) else None
    return SessionsPage(sessions=[session_out(s) for s in page], next=following.id if following else None)


@router.delete(
    "/users/{user_id}/sessions",
    status_code=202,
    operation_id="users-sessions-delete",
    response_class=Response,
    responses={202: {"description": "Session deletion request accepted."}},
)
async def delete_sessions(
    request: Request,
    ctx: ContextDep,
    user_id: str,
    caller: Annotated[Caller, Depends(require("delete:sessions"))],
) -> Response:
    """End every session of the user, at once (Auth0 answers 202; here it is already done)."""
    user = await user_ops.get_user(ctx, user_id)
    await session_ops.end_all_sessions(ctx, user, actor=actor_of(request, caller))
    return Response(status_code=202)


_ACCEPTED: dict[int | str, dict[str, Any]] = {202: {"description": "Session deletion request accepted."}}


@router.get("/sessions/{session_id}", response_model=SessionOut, operation_id="sessions-get")
async def get_session(
    ctx: ContextDep,
    session_id: Annotated[str, Path(max_length=50)],
    caller: Annotated[Caller, Depends(require("read:sessions"))],
) -> SessionOut:
    return session_out(await session_ops.get_session(ctx, session_id))


@router.delete(
    "/sessions/{session_id}",
    status_code=202,
    operation_id="sessions-delete",
    response_class=Response,
    responses=_ACCEPTED,
)
async def delete_session(
    request: Request,
    ctx: ContextDep,
    session_id: Annotated[str, Path(max_length=50)],
    caller: Annotated[Caller, Depends(require("delete:sessions"))],
) -> Response:
    """End the session at once; the refresh tokens granted in it stay (use `/revoke` for both)."""
    await session_ops.end_session_by_id(
        ctx, session_id, revoke_refresh_tokens=False, actor=actor_of(request, caller)
    )
    return Response(status_code=202)


@router.post(
    "/sessions/{session_id}/revoke",
    status_code=202,
    operation_id="sessions-revoke",
    response_class=Response,
    responses=_ACCEPTED,
)
async def revoke_session(
    request: Request,
    ctx: ContextDep,
    session_id: Annotated[str, Path(max_length=50)],
    caller: Annotated[Caller, Depends(require("delete:sessions"))],
) -> Response:
    """End the session and revoke the grants made in it, refresh tokens included."""
    await session_ops.end_session_by_id(
        ctx, session_id, revoke_refresh_tokens=True, actor=actor_of(request, caller)
    )
    return Response(status_code=202)


@router.post(
    "/users/{user_id}/revoke-access",
    status_code=202,
    operation_id="users-revoke-access",
    response_class=Response,
    responses={202: {"description": "Access revocation request accepted."}, 400: {"model": ErrorOut}},
)
async def revoke_access(
    request: Request,
    ctx: ContextDep,
    user_id: str,
    body: RevokeAccess,
    caller: Annotated[Caller, Depends(require("delete:sessions"))],
) -> Response:
    """One session or all of them, and (unless preserved) the refresh tokens granted there."""
    await session_ops.revoke_access(
        ctx,
        await user_ops.get_user(ctx, user_id),
        session_id=body.session_id,
        preserve_refresh_tokens=body.preserve_refresh_tokens,
        actor=actor_of(request, caller),
    )
    return Response(status_code=202)
