"""Auth0's error body for /api/v2: {"statusCode", "error", "message", "errorCode"}."""

from __future__ import annotations

from http import HTTPStatus

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from keyturn import messages
from keyturn.errors import KeyturnError
from keyturn.http.errors import auth0_body, error_headers, log_refusal
from keyturn.http.json import JSONResponse


async def keyturn_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KeyturnError)
    log_refusal(request.url.path, exc)
    headers = {"www-authenticate": 'Bearer realm="keyturn"'} if exc.status == 401 else {}
    return JSONResponse(
        auth0_body(exc.status, exc.description, exc.code),
        status_code=exc.status,
        headers={**headers, **error_headers(exc)},
    )


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"] if part != "body")
    reason = f"{first['msg']}" + (f" (at {where})" if where else "")
    return JSONResponse(
        auth0_body(400, messages.text("invalid_body", {"reason": reason}), "invalid_body"), status_code=400
    )


async def http_error(request: Request, exc: Exception) -> Response:
    """Unknown routes, wrong methods, unreadable bodies: Auth0's shape too."""
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = {404: "inexistent_route", 405: "method_not_allowed"}.get(status, "invalid_request")
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
    return JSONResponse(auth0_body(status, message, code), status_code=status, headers=exc.headers)


async def server_error(request: Request, exc: Exception) -> Response:
    return JSONResponse(auth0_body(500, "Internal error.", "internal_error"), status_code=500)
