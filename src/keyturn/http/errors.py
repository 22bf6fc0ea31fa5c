"""KeyturnError → one response shape per transport, chosen here.

- /api/v2: Auth0's `{"statusCode", "error", "message", "errorCode"}`.
- A page a browser navigated to (GET, accepting HTML): an HTML page with the message.
- Everything else (the pages' JSON calls, the protocol endpoints): `{"error", "error_description"}`.

An outage (`Unavailable`) is a 503 with Retry-After in every shape, never a 500. Internal
detail only ever reaches the log.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope, Send

from keyturn.errors import KeyturnError, Throttled, Unavailable

log = logging.getLogger("keyturn.web")
MANAGEMENT_PREFIX = "/api/v2"


def auth0_body(status: int, message: str, code: str) -> dict[str, object]:
    return {"statusCode": status, "error": HTTPStatus(status).phrase, "message": message, "errorCode": code}


def error_headers(error: KeyturnError) -> dict[str, str]:
    if isinstance(error, Unavailable | Throttled):
        return {"retry-after": str(error.retry_after_seconds)}
    return {}


def error_body(path: str, error: KeyturnError) -> dict[str, object]:
    if path.startswith(MANAGEMENT_PREFIX):
        return auth0_body(error.status, error.description, error.code)
    return error.to_json()


def _wants_page(request: Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")


def log_refusal(path: str, error: KeyturnError) -> None:
    level = logging.WARNING if isinstance(error, Unavailable) else logging.INFO
    log.log(
        level,
        "request refused",
        extra={"code": error.code, "status": error.status, "path": path, "detail": error.detail},
    )


async def keyturn_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KeyturnError)
    log_refusal(request.url.path, exc)
    if _wants_page(request) and not request.url.path.startswith(MANAGEMENT_PREFIX):
        from keyturn.http.templates import error_page  # templates load only when a page is shown

        return error_page(request, exc)
    return JSONResponse(error_body(request.url.path, exc), status_code=exc.status, headers=error_headers(exc))


async def send_error(scope: Scope, send: Send, error: KeyturnError) -> None:
    """The same answer from ASGI middleware, before any route ran."""
    log_refusal(scope["path"], error)
    body = json.dumps(error_body(scope["path"], error)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in error_headers(error).items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error", extra={"path": request.url.path})
    error = KeyturnError(code="server_error", status=500)
    return JSONResponse(error_body(request.url.path, error), status_code=500)
