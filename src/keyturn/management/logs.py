"""/api/v2/logs and /api/v2/users/{id}/logs: paged, filtered, or read from a checkpoint."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from keyturn.errors import NotFound
from keyturn.http.context import ContextDep
from keyturn.management.auth import Caller, require
from keyturn.management.deps import ManagementRoute
from keyturn.management.schemas import ErrorOut, LogOut, LogsPage
from keyturn.management.shapes import log_out
from keyturn.operations.logs import LogQuery

router = APIRouter(
    tags=["logs"],
    responses={400: {"model": ErrorOut}, 401: {"model": ErrorOut}, 403: {"model": ErrorOut}},
    route_class=ManagementRoute,
)
Page = Annotated[int, Query(ge=0, le=1000)]
PerPage = Annotated[int, Query(ge=1, le=100)]


@router.get("/logs", response_model=LogsPage | list[LogOut], operation_id="logs-list")
async def list_logs(
    ctx: ContextDep,
    caller: Annotated[Caller, Depends(require("read:logs"))],
    q: Annotated[str | None, Query(max_length=1024)] = None,
    page: Page = 0,
    per_page: PerPage = 50,
    include_totals: bool = False,
    sort: Annotated[str, Query(pattern=r"^date:(1|-1)$")] = "date:-1",
    from_: Annotated[
        str | None, Query(alias="from", max_length=64, description="Checkpoint: logs after this log_id")
    ] = None,
    take: Annotated[int, Query(ge=1, le=100)] = 50,
) -> LogsPage | list[LogOut]:
    query = LogQuery(q)
    checkpoint = from_ is not None
    events, total = await (await ctx.read()).query_events(
        types=query.types,
        user_id=query.user_id,
        since=query.since,
        until=query.until,
        after_log_id=from_,
        offset=0 if checkpoint else page * per_page,
        limit=take if checkpoint else per_page,
        newest_first=not checkpoint and sort == "date:-1",
    )
    shaped = [log_out(e) for e in events]
    if include_totals and not checkpoint:
        return LogsPage(start=page * per_page, limit=per_page, length=len(shaped), total=total, logs=shaped)
    return shaped


@router.get(
    "/logs/{log_id}", response_model=LogOut, operation_id="logs-get", responses={404: {"model": ErrorOut}}
)
async def get_log(
    ctx: ContextDep, log_id: str, caller: Annotated[Caller, Depends(require("read:logs"))]
) -> LogOut:
    event = await (await ctx.read()).get_event(log_id)
    if event is None:
        raise NotFound(code="inexistent_log")
    return log_out(event)


@router.get("/users/{user_id}/logs", response_model=LogsPage | list[LogOut], operation_id="users-logs")
async def user_logs(
    ctx: ContextDep,
    user_id: str,
    caller: Annotated[Caller, Depends(require("read:logs", "read:logs_users"))],
    page: Page = 0,
    per_page: PerPage = 50,
    include_totals: bool = False,
    sort: Annotated[str, Query(pattern=r"^date:(1|-1)$")] = "date:-1",
) -> LogsPage | list[LogOut]:
    events, total = await (await ctx.read()).query_events(
        user_id=user_id, offset=page * per_page, limit=per_page, newest_first=sort == "date:-1"
    )
    shaped = [log_out(e) for e in events]
    if include_totals:
        return LogsPage(start=page * per_page, limit=per_page, length=len(shaped), total=total, logs=shaped)
    return shaped
