"""Auth0's error body for /api/v2: {"statusCode", "error", "message", "errorCode"}."""

from __future__ import annotations

from http import HTTPStatus

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from keyturn.domain.events import EventType, RequestContext
from keyturn.errors import KeyturnError


def error_body(status: int, message: str, code: str) -> dict[str, object]:
    return {"statusCode": status, "error": HTTPStatus(status).phrase, "message": message, "errorCode": code}


def _record_failed_change(request: Request, code: str) -> None:
    """Auth0's `fapi`: a refused change by an authenticated caller, naming it (anonymous 401s
    and reads are not logged, so nobody can fill the log from outside)."""
    runtime = getattr(request.app.state, "runtime", None)
    caller = getattr(request.state, "caller", None)
    if runtime is None or caller is None or request.method in ("GET", "HEAD", "OPTIONS"):
        return
    ctx = RequestContext(
        ip=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
        client_id=caller.client_id,
    )
    details = {"method": request.method, "path": request.url.path, "error": code}
    runtime.events.record(EventType.FAILED_API_OPERATION, ctx, details=details)


async def keyturn_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KeyturnError)
    _record_failed_change(request, exc.code)
    headers = {"www-authenticate": 'Bearer realm="keyturn"'} if exc.status == 401 else None
    return JSONResponse(
        error_body(exc.status, exc.description, exc.code), status_code=exc.status, headers=headers
    )


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"] if part != "body")
    message = f"Payload validation error: {first['msg']}" + (f" (at {where})" if where else "")
    _record_failed_change(request, "invalid_body")
    return JSONResponse(error_body(400, message, "invalid_body"), status_code=400)


async def http_error(request: Request, exc: Exception) -> Response:
    """Unknown routes, wrong methods, unreadable bodies: Auth0's shape too."""
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = {404: "inexistent_route", 405: "method_not_allowed"}.get(status, "invalid_request")
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
    return JSONResponse(error_body(status, message, code), status_code=status, headers=exc.headers)


async def server_error(request: Request, exc: Exception) -> Response:
    return JSONResponse(error_body(500, "Internal error.", "internal_error"), status_code=500)
