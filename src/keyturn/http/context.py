"""One `Context` per request: opened before the route runs, finished before it answers.

`ContextRoute` is the route class of every router that touches the database. It opens the
request's unit of work, runs the endpoint, and stores what is left (the events of a
refusal, a spent challenge) before the response leaves, so nothing answered is still in
memory. Routes read it through `ContextDep`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from keyturn.context import Context, open_context
from keyturn.domain.events import Requester
from keyturn.domain.identity import User
from keyturn.domain.session import Session
from keyturn.flows.sessions import resolve_session
from keyturn.runtime import Runtime

SESSION_COOKIE = "keyturn_session"
_CONTROL = {c: None for c in range(32)} | {127: None}


def clean_header(value: str, limit: int) -> str:
    """Header text as logs and sessions keep it: no control characters, bounded length."""
    return value.translate(_CONTROL)[:limit]


def requester_of(request: Request) -> Requester:
    return Requester(
        ip=request.client.host if request.client else "",
        user_agent=clean_header(request.headers.get("user-agent", ""), 512),
        request_id=str(request.scope.get("state", {}).get("request_id", "")),
    )


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


class ContextRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = super().get_route_handler()

        async def handler(request: Request) -> Response:
            async with open_context(runtime_of(request), requester_of(request)) as ctx:
                request.state.ctx = ctx
                return await endpoint(request)

        return handler


def context_of(request: Request) -> Context:
    ctx: Context = request.state.ctx
    return ctx


async def get_context(request: Request) -> Context:
    """The dependency; async on purpose, since FastAPI runs a plain `def` one in a worker thread."""
    return context_of(request)


ContextDep = Annotated[Context, Depends(get_context)]


async def current_session(request: Request, ctx: ContextDep) -> tuple[Session, User] | None:
    return await resolve_session(ctx, request.cookies.get(SESSION_COOKIE))


SessionDep = Annotated[tuple[Session, User] | None, Depends(current_session)]
