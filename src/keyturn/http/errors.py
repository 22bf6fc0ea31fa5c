"""KeyturnError → one response shape per transport, chosen here.

- /api/v2: Auth0's `{"statusCode", "error", "message", "errorCode"}`.
- A page a browser navigated to (GET, accepting HTML): an HTML page with the message.
- Everything else (the pages' JSON calls, the protocol endpoints): `{"error", "error_description"}`.

An outage (`Unavailable`) is a 503 with Retry-After in every shape, never a 500. Internal
detail only ever reaches the log. `error` stays the stable English code everywhere; outside
/api/v2 and /admin, `error_description` (and the page) is in the request's negotiated locale.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyturn import i18n
from keyturn.domain.tenant import UiSettings
from keyturn.errors import KeyturnError, RateLimited, Unavailable
from keyturn.http.json import JSONResponse

log = logging.getLogger("keyturn.web")
MANAGEMENT_PREFIX = "/api/v2"
ENGLISH_ONLY = (MANAGEMENT_PREFIX, "/admin")
_DEFAULT_UI = UiSettings()


def auth0_body(status: int, message: str, code: str) -> dict[str, object]:
    return {"statusCode": status, "error": HTTPStatus(status).phrase, "message": message, "errorCode": code}


def error_headers(error: KeyturnError) -> dict[str, str]:
    if isinstance(error, Unavailable):
        return {"retry-after": str(error.retry_after_seconds)}
    if isinstance(error, RateLimited) and error.retry_after_seconds is not None:
        return {"retry-after": str(error.retry_after_seconds)}
    return {}


def error_body(path: str, error: KeyturnError, *, description: str | None = None) -> dict[str, object]:
    if path.startswith(MANAGEMENT_PREFIX):
        return auth0_body(error.status, error.description, error.code)
    body = error.to_json()
    if description is not None:
        body["error_description"] = description
    return body


def _translator(request: Request) -> i18n.Translator | None:
    """The request's translator; None where texts stay English (/api/v2, /admin)."""
    if request.url.path.startswith(ENGLISH_ONLY):
        return None
    ctx = getattr(request.state, "ctx", None)
    return i18n.translator(ctx.tenant.ui if ctx is not None else _DEFAULT_UI)


def localized_description(request: Request, error: KeyturnError) -> str | None:
    """The error's text in the request's locale; None where texts stay English."""
    translator = _translator(request)
    return translator.describe(error) if translator is not None else None


def localized_fields(request: Request, error: KeyturnError) -> dict[str, str] | None:
    """The error's messages by form field in the request's locale, if it names fields."""
    translator = _translator(request)
    if translator is None or not error.field_messages:
        return None
    return {
        field: translator.message(message_id, params) for field, message_id, params in error.field_messages
    }


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
    body = error_body(request.url.path, exc, description=localized_description(request, exc))
    if (fields := localized_fields(request, exc)) is not None:
        body["fields"] = fields
    return JSONResponse(body, status_code=exc.status, headers=error_headers(exc))


async def send_error(scope: Scope, send: Send, error: KeyturnError) -> None:
    """The same answer from ASGI middleware, before any route ran."""
    log_refusal(scope["path"], error)
    body = json.dumps(error_body(scope["path"], error)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in error_headers(error).items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    """The 500 for an error no route expected, its traceback logged (once) with the path."""
    log.exception("unexpected error", extra={"path": request.url.path})
    error = KeyturnError(code="server_error", status=500)
    body = error_body(request.url.path, error, description=localized_description(request, error))
    return JSONResponse(body, status_code=500)


class UnexpectedErrors:
    """Pure ASGI, innermost: an unexpected error is answered 500 `server_error` and logged
    once, here, and goes no further.

    Starlette's own handler for `Exception` (ServerErrorMiddleware, outside every middleware)
    re-raises after answering, so uvicorn logged the traceback a second time ("Exception in
    ASGI application") and reset the kept-alive connection, often before the client read its
    500; and it ran after the edge had forgotten the request id. Caught in here, the edge
    still sees the request (its id, its access line with status 500) and the connection lives.
    What fails outside this (in a middleware) still reaches `unexpected_error_handler` there.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watching(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watching)
        except Exception as exc:
            response = await unexpected_error_handler(Request(scope, receive), exc)
            if not started:  # (else half a response went out: it ends there, logged all the same)
                await response(scope, receive, send)
