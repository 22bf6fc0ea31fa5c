"""Shared by the /api/v2 routers: the runtime, and the `sapi` audit event of every change."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import Request

from keyturn.domain.events import EventType, RequestContext
from keyturn.management.auth import Caller
from keyturn.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


ManagementRuntime = Annotated[Runtime, Depends(get_runtime)]


def audit(request: Request, rt: Runtime, caller: Caller, operation: str, **details: Any) -> None:
    """Record a successful management change (Auth0's `sapi`), naming who made it and how."""
    ctx = RequestContext(
        ip=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
        client_id=caller.client_id,
    )
    rt.events.record(
        EventType.SUCCESS_API_OPERATION,
        ctx,
        user_id=details.get("user_id"),
        details={"operation": operation, "method": request.method, "path": request.url.path, **details},
    )
