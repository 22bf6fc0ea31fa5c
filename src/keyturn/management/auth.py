"""Who may call /api/v2: bearer JWT access tokens from client_credentials, audience
`<issuer>/api/v2/`, each endpoint needing its scope (Auth0's scope names)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request

from keyturn.errors import Forbidden, Unauthenticated
from keyturn.oidc.keys import InvalidToken
from keyturn.oidc.tokens import resolve_token
from keyturn.runtime import Runtime

MANAGEMENT_SCOPES = (
    "read:users",
    "create:users",
    "update:users",
    "delete:users",
    "read:authentication_methods",
    "update:authentication_methods",
    "delete:authentication_methods",
    "read:connections",
    "create:connections",
    "update:connections",
    "read:logs",
    "read:logs_users",
    "read:hooks",
    "create:hooks",
    "delete:hooks",
)


def management_audience(issuer: str) -> str:
    return f"{issuer}/api/v2/"


@dataclass(frozen=True)
class Caller:
    client_id: str
    scopes: frozenset[str]


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Missing authentication.", code="missing_token")
    return token.strip()


def require(scope: str) -> Callable[[Request], Awaitable[Caller]]:
    """A dependency: the caller, if its token is live, for this API, and has `scope`."""

    async def dependency(request: Request) -> Caller:
        rt: Runtime = request.app.state.runtime
        token = _bearer(request)
        if token.count(".") != 2:  # only JWT access tokens carry an audience
            raise Unauthenticated("Bad audience: use a token issued for this API.", code="invalid_token")
        try:
            stored = await resolve_token(rt, token)
        except InvalidToken as error:
            raise Unauthenticated("Invalid or expired token.", code="invalid_token") from error
        if stored.audience != management_audience(rt.settings.issuer_url):
            raise Unauthenticated("Bad audience: use a token issued for this API.", code="invalid_token")
        scopes = frozenset(stored.scope)
        if scope not in scopes:
            raise Forbidden(f"Insufficient scope, expected: {scope}", code="insufficient_scope")
        return Caller(client_id=stored.client_id, scopes=scopes)

    return dependency
