"""create_app(settings) → the ASGI app. No import-time side effects: tests build their own.

Middleware, outermost first, all pure ASGI: `ForwardedHeaders` (the client's address behind
trusted proxies), `Edge` (request id, access line, metrics), `SecurityHeaders`,
`LocalePreferences` (ui_locales and Accept-Language, for the pages' language), `ProtocolCors`
(the protocol endpoints only), `InputGuard` (text that cannot be stored is refused before any
route runs). Routes that touch the database open their request's `Context` through `ContextRoute`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from keyturn.admin import routes as admin_routes
from keyturn.background import first_of, stop
from keyturn.background import start as background_loop
from keyturn.clock import Clock
from keyturn.domain.branding import ASSETS_PREFIX
from keyturn.errors import KeyturnError
from keyturn.http.context import ForwardedHeaders
from keyturn.http.cors import ProtocolCors
from keyturn.http.edge import Edge
from keyturn.http.errors import (
    UnexpectedErrors,
    keyturn_error_handler,
    send_error,
    unexpected_error_handler,
)
from keyturn.http.input import InputGuard
from keyturn.http.json import JSONResponse
from keyturn.http.locale import LocalePreferences
from keyturn.http.security import SecurityHeaders
from keyturn.http.templates import require_valid_overrides
from keyturn.mail.outbox import OutboxSender
from keyturn.management import errors as management_errors
from keyturn.management.app import create_management_app
from keyturn.oidc import routes as oidc_routes
from keyturn.runtime import Runtime
from keyturn.settings import Settings, load_settings
from keyturn.web import account, enrollment, login, pages, recovery, signup, unblock, verification
from keyturn.wiring import open_runtime

log = logging.getLogger("keyturn")
PURGE_INTERVAL_SECONDS = 600


async def purge_expired(rt: Runtime) -> int:
    """Delete expired sessions, spent challenges, codes and tokens, events past retention and
    retired keys no token needs."""
    now = rt.clock.now()
    async with rt.db.write() as tx:
        removed = await tx.purge_expired(
            now=now, events_before=now - timedelta(days=rt.settings.event_retention_days)
        )
    return removed + await rt.keys.purge(now=now)


async def purge_expired_periodically(rt: Runtime, stopping: asyncio.Event) -> None:
    """Now and every ten minutes until `stopping`; a failure (an outage) waits for the next round."""
    while not stopping.is_set():
        try:
            log.debug("purged expired rows", extra={"removed": await purge_expired(rt)})
        except Exception:
            log.exception("purging expired rows failed; will retry")
        await first_of(stopping, seconds=PURGE_INTERVAL_SECONDS)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Paths no route matches: Auth0's shape under /api/v2, Keyturn's elsewhere."""
    assert isinstance(exc, StarletteHTTPException)
    if request.url.path.startswith("/api/v2"):
        return await management_errors.http_error(request, exc)
    code = "not_found" if exc.status_code == 404 else "invalid_request"
    body = {"error": code, "error_description": exc.detail if isinstance(exc.detail, str) else "Not found."}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


def create_app(settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    require_valid_overrides(settings)
    management = create_management_app()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await open_runtime(settings, clock=clock)
        app.state.runtime = runtime
        management.state.runtime = runtime
        stopping = asyncio.Event()
        background = [
            background_loop("purge", purge_expired_periodically(runtime, stopping)),
            background_loop("outbox", OutboxSender(runtime).run_until(stopping)),
        ]
        try:
            yield
        finally:
            await stop(background, stopping)
            await runtime.close()

    app = FastAPI(
        title="Keyturn",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        default_response_class=JSONResponse,
    )
    app.add_middleware(UnexpectedErrors)
    app.add_middleware(InputGuard, send_error=send_error)
    app.add_middleware(ProtocolCors)
    app.add_middleware(LocalePreferences, secure_cookies=settings.secure_cookies)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(Edge, access_log_enabled=settings.access_log)
    app.add_middleware(ForwardedHeaders, trusted_proxies=settings.trusted_proxies)
    app.add_exception_handler(KeyturnError, keyturn_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, unexpected_error_handler)
    app.include_router(pages.health)
    for module in (pages, login, signup, recovery, verification, account, enrollment, unblock, oidc_routes):
        app.include_router(module.router)
    app.include_router(admin_routes.router)
    app.mount("/api/v2", management)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "web" / "static"), name="static")
    if settings.pages.assets_dir is not None:
        app.mount(ASSETS_PREFIX.rstrip("/"), StaticFiles(directory=settings.pages.assets_dir), name="assets")
    return app


def create_app_from_environment() -> FastAPI:
    """The uvicorn factory for `keyturn serve`'s workers: each reads KEYTURN_* itself."""
    return create_app(load_settings())
