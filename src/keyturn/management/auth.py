"""Who may call /api/v2: bearer JWT access tokens from client_credentials, audience
`<issuer>/api/v2/`, each endpoint needing its scope (Auth0's scope names)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from keyturn import messages
from keyturn.domain.oidc import MANAGEMENT_SCOPES, management_audience
from keyturn.errors import Forbidden, Unauthenticated
from keyturn.http.context import context_of
from keyturn.http.errors import auth0_body
from keyturn.keys import InvalidToken
from keyturn.management.rate_limits import count_caller
from keyturn.oidc.tokens import resolve_token

__all__ = ["MANAGEMENT_SCOPES", "Caller", "RequireBearer", "management_audience", "require"]


@dataclass(frozen=True)
class Caller:
    client_id: str
    scopes: frozenset[str]


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(code="missing_token")
    return token.strip()


class RequireBearer:
    """No bearer token, no further: checked before any body is read (the OpenAPI document is public)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].endswith("/openapi.json"):
            headers = dict(scope.get("headers") or [])
            auth = headers.get(b"authorization", b"").decode("latin-1")
            kind, _, token = auth.partition(" ")
            if kind.lower() != "bearer" or not token.strip():
                body = json.dumps(auth0_body(401, messages.text("missing_token"), "missing_token")).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b'Bearer realm="keyturn"'),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def require(scope: str, *alternatives: str) -> Callable[[Request], Awaitable[Caller]]:
    """A dependency: the caller, if its token is live, for this API, and has `scope` (or one of
    the `alternatives`, e.g. Auth0's read:logs_users for a user's logs). Its request is counted
    against the caller's rate limit (`management.rate_limits`)."""
    accepted = {scope, *alternatives}

    async def dependency(request: Request) -> Caller:
        ctx = context_of(request)
        token = _bearer(request)
        if token.count(".") != 2:  # only JWT access tokens carry an audience
            raise Unauthenticated(code="invalid_token", message="invalid_token.audience")
        try:
            stored = await resolve_token(ctx, token)
        except InvalidToken as error:
            raise Unauthenticated(code="invalid_token", message="invalid_token.management") from error
        if stored.audience != management_audience(ctx.settings.issuer_url):
            raise Unauthenticated(code="invalid_token", message="invalid_token.audience")
        scopes = frozenset(stored.scope)
        caller = Caller(client_id=stored.client_id, scopes=scopes)
        request.state.caller = caller
        await count_caller(request, ctx, caller.client_id)
        if not accepted & scopes:
            raise Forbidden(
                code="insufficient_scope",
                message="insufficient_scope.management",
                scopes=" ".join(sorted(accepted)),
            )
        return caller

    return dependency
