"""Cookies, browser binding, same-origin checks and security headers."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyturn.domain.tenant import TenantSettings
from keyturn.errors import Forbidden
from keyturn.http.context import SESSION_COOKIE
from keyturn.ids import new_token
from keyturn.settings import Settings

__all__ = ["BINDING_COOKIE", "CSRF_HEADER", "SESSION_COOKIE"]
BINDING_COOKIE = "keyturn_browser"  # binds flows (and their challenges) to one browser
CSRF_HEADER = "x-csrf-token"


def content_security_policy(
    *,
    form_targets: tuple[str, ...] = (),
    captcha_origins: tuple[str, ...] = (),
    image_origins: tuple[str, ...] = (),
    style_origins: tuple[str, ...] = (),
) -> str:
    """The pages' CSP. Browsers apply `form-action` to the redirect after a POST too, so a
    form that ends at a client (consent, sign-out) must list that client's origin. The pages
    with a password step (login, sign-up) add exactly the captcha provider's script and frame
    origins (`CaptchaSettings.csp_origins`), none when the captcha is off. A brand adds the
    origins of its https logo and favicon to `img-src` and of its stylesheet to `style-src`
    (`Branding.image_origins`, `style_origins`), none when its assets are Keyturn's own."""
    frames = [f"frame-src {' '.join(captcha_origins)}"] if captcha_origins else []
    return "; ".join(
        [
            "default-src 'self'",
            " ".join(["script-src 'self'", *captcha_origins]),
            " ".join(["style-src 'self'", *style_origins]),
            " ".join(["img-src 'self' data:", *image_origins]),
            "connect-src 'self'",
            *frames,
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
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"publickey-credentials-get=(self), publickey-credentials-create=(self)"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    """Adds the security headers to every answer that does not set its own (pure ASGI)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [h for h in SECURITY_HEADERS if h[0] not in present]
                if not static and _NO_STORE[0] not in present:
                    headers.append(_NO_STORE)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


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


_SAFE_PATH = re.compile(r"^/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$")


def safe_return_to(value: str | None) -> str | None:
    """Only same-site paths: never an open redirect.

    Browsers drop tabs and newlines and read backslashes as slashes, so `/\t/evil` or
    `/\\evil` would become `//evil`: only plain URL characters are accepted.
    """
    if value and len(value) <= 512 and _SAFE_PATH.match(value) and "//" not in value.split("?")[0]:
        return value
    return None


def check_same_origin(request: Request, tenant: TenantSettings, settings: Settings) -> None:
    """Refuse state changes sent from other sites (defence in depth next to CSRF tokens)."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise Forbidden(code="cross_site_request")
    origin = request.headers.get("origin")
    if origin is not None and origin not in {*tenant.rp.origins, settings.base_url}:
        raise Forbidden(code="cross_site_request")
