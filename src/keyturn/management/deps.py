"""Shared by the /api/v2 routers: the route class, the caller as an `Actor`, the refusal log.

`ManagementRoute` is `ContextRoute` plus Auth0's `fapi`: a refused change by an
authenticated caller is logged, in the request's unit of work, naming the caller
(anonymous 401s and reads are not logged, so nobody can fill the log from outside).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import Response

from keyturn.context import open_context
from keyturn.domain.events import EventType
from keyturn.errors import KeyturnError
from keyturn.http.context import ContextRoute, requester_of, runtime_of
from keyturn.management.auth import Caller
from keyturn.operations.audit import Actor


def actor_of(request: Request, caller: Caller) -> Actor:
    return Actor(kind="api", client_id=caller.client_id, method=request.method, path=request.url.path)


class ManagementRoute(ContextRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = super(ContextRoute, self).get_route_handler()

        async def handler(request: Request) -> Response:
            async with open_context(runtime_of(request), requester_of(request)) as ctx:
                request.state.ctx = ctx
                try:
                    return await endpoint(request)
                except (KeyturnError, RequestValidationError) as error:
                    caller = getattr(request.state, "caller", None)
                    if caller is not None and request.method not in ("GET", "HEAD", "OPTIONS"):
                        code = error.code if isinstance(error, KeyturnError) else "invalid_body"
                        details = {"method": request.method, "path": request.url.path, "error": code}
                        ctx.record(
                            EventType.FAILED_API_OPERATION, client_id=caller.client_id, details=details
                        )
                    if isinstance(error, RequestValidationError):
                        await ctx.uow.finish()  # not a KeyturnError: store the refusal's event now
                    raise

        return handler
