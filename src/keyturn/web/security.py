"""Cookies, browser binding, same-origin checks and security headers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from keyturn.domain.tenant import TenantSettings
from keyturn.errors import Forbidden
from keyturn.ids import new_token
from keyturn.settings import Settings

SESSION_COOKIE = "keyturn_session"
BINDING_COOKIE = "keyturn_browser"  # binds flows (and their challenges) to one browser
CSRF_HEADER = "x-csrf-token"


def content_security_policy(*, form_targets: tuple[str, ...] = ()) -> str:
    """The pages' CSP. Browsers apply `form-action` to the redirect after a POST too, so a
    form that ends at a client (consent, sign-out) must list that client's origin."""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            " ".join(["form-action 'self'", *form_targets]),
            "base-uri 'none'",
            "object-src 'none'",
        ]
    )


def csp_source(uri: str) -> str:
    """The CSP source expression for a validated redirect URI: its origin, or `scheme:`."""
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else f"{parts.scheme}:"


CONTENT_SECURITY_POLICY = content_security_policy()
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "permissions-policy": "publickey-credentials-get=(self), publickey-credentials-create=(self)",
    "cross-origin-opener-policy": "same-origin",
}


async def add_security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.url.path.startswith("/static/"):
        response.headers.setdefault("cache-control", "no-store")
    return response


def binding_token(request: Request) -> tuple[str, bool]:
    """The browser's binding token, and whether it is new (and must be set as a cookie)."""
    existing = request.cookies.get(BINDING_COOKIE)
    if existing and 20 <= len(existing) <= 128:
        return existing, False
    return new_token(), True


def set_cookie(response: Response, settings: Settings, name: str, value: str, *, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
        path="/",
    )


def clear_cookie(response: Response, settings: Settings, name: str) -> None:
    response.delete_cookie(name, path="/", secure=settings.secure_cookies, httponly=True, samesite="lax")


def check_same_origin(request: Request, tenant: TenantSettings, settings: Settings) -> None:
    """Refuse state changes sent from other sites (defence in depth next to CSRF tokens)."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise Forbidden("Requests from other sites are not accepted.", code="cross_site_request")
    origin = request.headers.get("origin")
    if origin is not None and origin not in {*tenant.rp.origins, settings.base_url}:
        raise Forbidden("Requests from other sites are not accepted.", code="cross_site_request")
