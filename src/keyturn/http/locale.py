"""Pure ASGI: what the browser says about its languages, recorded for the request's renderers.

`ui_locales` (OIDC; any page or /authorize may carry it) wins over `Accept-Language`. A
request that names it gets the `keyturn_ui_locales` cookie (for the browser session), so the
pages that follow in the journey (the login page an authorization redirects to, sign-up,
the passkey offer, consent) keep that choice without carrying the parameter. The management
API and the dashboard stay English and are not touched.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyturn import i18n

ENGLISH_ONLY = ("/api/v2", "/admin", "/static")


def _cookie(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: S112 - a malformed Cookie header names no locale
                continue
            if i18n.LOCALE_COOKIE in jar:
                return jar[i18n.LOCALE_COOKIE].value
    return None


def _header(headers: list[tuple[bytes, bytes]], wanted: bytes) -> str | None:
    values = [value.decode("latin-1") for name, value in headers if name == wanted]
    return ",".join(values) if values else None


class LocalePreferences:
    def __init__(self, app: ASGIApp, *, secure_cookies: bool) -> None:
        self.app = app
        self.secure = secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ENGLISH_ONLY):
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers") or []
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        asked = i18n.parse_ui_locales(" ".join(query.get("ui_locales", [])))
        carried = i18n.parse_ui_locales(_cookie(headers))
        prefs = i18n.Preferences(
            ui_locales=asked or carried,
            accept_language=i18n.parse_accept_language(_header(headers, b"accept-language")),
        )
        token = i18n.set_preferences(prefs)
        cookie = self._set_cookie(asked) if asked and asked != carried else None

        async def send_with_cookie(message: Message) -> None:
            if cookie and message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), cookie]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_cookie)
        finally:
            i18n.reset_preferences(token)

    def _set_cookie(self, tags: tuple[str, ...]) -> tuple[bytes, bytes]:
        value = ":".join(tags)  # tags are [A-Za-z0-9_-]: nothing a cookie value must quote
        attributes = f"{i18n.LOCALE_COOKIE}={value}; Path=/; HttpOnly; SameSite=lax"
        return b"set-cookie", (attributes + ("; Secure" if self.secure else "")).encode("latin-1")
