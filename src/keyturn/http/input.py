"""Input as it enters: text that cannot be stored is refused here, once, for every route.

`InputGuard` (pure ASGI, in front of everything) refuses with 400 `invalid_characters` a
request whose path, query string or form/JSON body holds a NUL character, invalid UTF-8
or (JSON) a lone surrogate such as "\\ud800": none of them can be stored in PostgreSQL
text or encoded as UTF-8, and letting one through would fail later, somewhere worse
(an event that cannot be written). Bodies over `MAX_BODY_BYTES` get 413.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyturn.domain.text import has_bad_text, refuse_bad_text
from keyturn.errors import KeyturnError

MAX_BODY_BYTES = 256 * 1024
MAX_PAGE_JSON_BYTES = 64 * 1024
JSON_BODY = "keyturn_json_body"  # scope["state"] key of the body the guard already parsed
ErrorSender = Callable[[Scope, Send, KeyturnError], Any]


def _bad_encoded(raw: bytes) -> bool:
    """Percent-encoded text (a query string, a form body) that decodes to no storable text."""
    for part in raw.replace(b"+", b" ").split(b"&"):
        try:
            decoded = unquote_to_bytes(part).decode("utf-8")
        except UnicodeDecodeError:
            return True
        if "\x00" in decoded:
            return True
    return False


def _content_type(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return str(value.decode("latin-1")).split(";")[0].strip().lower()
    return ""


class InputGuard:
    def __init__(self, app: ASGIApp, *, send_error: ErrorSender) -> None:
        self.app = app
        self.send_error = send_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or _bad_encoded(scope.get("query_string", b"")):
            await self.send_error(
                scope, send, KeyturnError(code="invalid_characters", detail="path or query")
            )
            return
        body, more = await _read_body(receive)
        if more:
            await self.send_error(scope, send, KeyturnError(code="request_too_large", status=413))
            return
        problem = _check_body(scope, body)
        if problem is not None:
            await self.send_error(scope, send, KeyturnError(code="invalid_characters", detail=problem))
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()  # the disconnect, when it comes
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole body, or (what was read, True) once it passes MAX_BODY_BYTES."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), False


def _check_body(scope: Scope, body: bytes) -> str | None:
    if not body:
        return None
    kind = _content_type(scope)
    if kind == "application/x-www-form-urlencoded":
        return "form body" if _bad_encoded(body) else None
    if kind != "application/json" and not kind.endswith("+json"):
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "body is not UTF-8"
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return None  # not JSON at all: the route says so (invalid_json)
    if has_bad_text(parsed):
        return "JSON text with NUL or a lone surrogate"
    scope.setdefault("state", {})[JSON_BODY] = parsed
    return None


async def read_json(request: Request, *, limit: int = MAX_PAGE_JSON_BYTES) -> dict[str, Any]:
    """The body as a JSON object, or a clear 400 (never a 500) for anything else."""
    body = await request.body()
    if len(body) > limit:
        raise KeyturnError(code="request_too_large", status=413)
    state = request.scope.get("state", {})
    if JSON_BODY in state:
        data = state[JSON_BODY]
    else:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:  # bad UTF-8, bad JSON, absurd nesting or numbers
            raise KeyturnError(code="invalid_json") from exc
        # The guard parsed only bodies declared as JSON; this one (text/plain, or no type)
        # is read as JSON all the same, so it gets the same check here.
        refuse_bad_text(data, where="JSON text with NUL or a lone surrogate")
    if not isinstance(data, dict):
        raise KeyturnError(code="invalid_json", message="invalid_json.not_object")
    return data


async def read_form(request: Request) -> dict[str, str]:
    """The posted form's text fields. The guard refused undecodable urlencoded ones; a
    multipart form it does not parse is checked here."""
    return dict(await read_form_items(request))


async def read_form_items(request: Request) -> list[tuple[str, str]]:
    """Every text field of the posted form, repeated names included, in order."""
    form = await request.form()  # (a multipart part that is not UTF-8 is read as Latin-1)
    items = [(key, value) for key, value in form.multi_items() if isinstance(value, str)]
    refuse_bad_text(items, where="form field with NUL or a lone surrogate")
    return items
