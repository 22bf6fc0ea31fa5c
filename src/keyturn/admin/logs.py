"""/admin/logs: the event log filtered with Auth0's query syntax (`type:s`, `user_id:…`,
`date:[FROM TO UNTIL]`), paged; and a live tail streamed as server-sent events.

The stream passes the same gate and operator check as every page. It reads the log the way
`keyturn logs tail` does (`operations.logs.EventTail`), and ends when the browser goes away,
the operator's session ends, or the server begins to shut down.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from keyturn.admin.common import ADMIN_COOKIE, AdminRoute, OperatorDep, layout
from keyturn.admin.templates import render
from keyturn.background import SHUTDOWN
from keyturn.context import Context
from keyturn.domain.events import Event
from keyturn.errors import KeyturnError
from keyturn.http.context import ContextDep
from keyturn.operations import admins
from keyturn.operations import users as user_operations
from keyturn.operations.logs import EventTail, LogQuery

router = APIRouter(route_class=AdminRoute)
PAGE_SIZE = 50
POLL_SECONDS = 1.0
HEARTBEAT_POLLS = 15  # a comment line every ~15 s: proxies keep the stream, a gone client shows
TAIL_BACKLOG = 10
MAX_QUERY_CHARS = 1024


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "0")
    return int(raw) if raw.isdigit() and len(raw) < 5 else 0


NOBODY = "-"  # a user_id no user has: an email that names no account matches no event


async def _query(request: Request, ctx: Context) -> LogQuery:
    """The query field's filters, narrowed to the user whose email is in the User field."""
    query = LogQuery(request.query_params.get("q", "")[:MAX_QUERY_CHARS])
    email = request.query_params.get("user", "").strip()[:320]
    if email:
        found = await user_operations.find_by_email(ctx, email)
        query.user_id = found[0].id if found else NOBODY
    return query


@router.get("/logs")
async def logs_page(request: Request, ctx: ContextDep, signed_in: OperatorDep) -> Response:
    q = request.query_params.get("q", "")[:MAX_QUERY_CHARS]
    user = request.query_params.get("user", "")[:320]
    page = _page_number(request)
    context: dict[str, Any] = {
        **layout(ctx, *signed_in, request),
        "q": q,
        "user": user,
        "page_number": page,
    }
    try:
        query = await _query(request, ctx)
    except KeyturnError as error:
        context |= {"events": [], "total": 0, "pages": 1, "field_errors": {"q": error.description}}
        return render(request, "admin_logs.html", context, status=error.status)
    events, total = await (await ctx.read()).query_events(
        types=query.types,
        user_id=query.user_id,
        since=query.since,
        until=query.until,
        offset=page * PAGE_SIZE,
        limit=PAGE_SIZE,
    )
    pages = max(1, -(-total // PAGE_SIZE))
    context |= {"events": events, "total": total, "pages": pages, "field_errors": {}}
    return render(request, "admin_logs.html", context)


def describe_event(event: Event) -> dict[str, Any]:
    return {
        "log_id": event.log_id,
        "date": event.date.isoformat().replace("+00:00", "Z"),
        "type": event.type.value,
        "description": event.description,
        "user_id": event.user_id,
        "user_name": event.user_name,
        "client_id": event.client_id,
        "ip": event.ip,
    }


def _sse(event: Event) -> str:
    return f"id: {event.log_id}\nevent: log\ndata: {json.dumps(describe_event(event))}\n\n"


async def _follow(request: Request, ctx: Context, tail: EventTail, resume: str | None) -> AsyncIterator[str]:
    """The stream's body: the backlog, then new events as they commit, until it should end."""
    token = request.cookies.get(ADMIN_COOKIE)
    database = ctx.rt.db
    async with database.read() as reader:
        backlog = await tail.start(reader, last=TAIL_BACKLOG, after_log_id=resume)
    yield "retry: 2000\n: live\n\n"
    for event in backlog:
        yield _sse(event)
    polls = 0
    while not SHUTDOWN.requested and not await request.is_disconnected():
        await asyncio.sleep(POLL_SECONDS)
        async with database.read() as reader:
            if not await admins.session_still_live(reader, token, now=ctx.now()):
                yield "event: end\ndata: session\n\n"
                return
            fresh = await tail.poll(reader)
        for event in fresh:
            yield _sse(event)
        polls += 1
        if polls % HEARTBEAT_POLLS == 0:
            yield ": beat\n\n"
    if SHUTDOWN.requested:
        yield "event: end\ndata: shutdown\n\n"


@router.get("/logs/stream")
async def logs_stream(request: Request, ctx: ContextDep, signed_in: OperatorDep) -> Response:
    """text/event-stream of new events matching `q` (each with its log_id, so a reconnecting
    EventSource resumes after the last one it received)."""
    query = await _query(request, ctx)
    tail = EventTail(types=query.types, user_id=query.user_id)
    resume = request.headers.get("last-event-id")
    resume = resume if resume and len(resume) <= 64 else None
    headers = {"cache-control": "no-store", "x-accel-buffering": "no"}
    return StreamingResponse(
        _follow(request, ctx, tail, resume), media_type="text/event-stream", headers=headers
    )
