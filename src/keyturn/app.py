"""create_app(settings) → the ASGI app. No import-time side effects: tests build their own.

Middleware, outermost first, all pure ASGI: `Edge` (request id, access line, metrics),
`SecurityHeaders`, `ProtocolCors` (the protocol endpoints only), `InputGuard` (text that
cannot be stored is refused before any route runs). Routes that touch the database open
their request's `Context` through `ContextRoute`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.staticfiles import StaticFiles

from keyturn.clock import Clock
from keyturn.errors import KeyturnError
from keyturn.http.cors import ProtocolCors
from keyturn.http.edge import Edge
from keyturn.http.errors import keyturn_error_handler, send_error, unexpected_error_handler
from keyturn.http.input import InputGuard
from keyturn.http.security import SecurityHeaders
from keyturn.mail.outbox import OutboxSender
from keyturn.management import errors as management_errors
from keyturn.management.app import create_management_app
from keyturn.oidc import routes as oidc_routes
from keyturn.runtime import Runtime
from keyturn.settings import Settings, load_settings
from keyturn.web import account, login, pages, recovery, signup, verification
from keyturn.wiring import open_runtime

log = logging.getLogger("keyturn")
PURGE_INTERVAL_SECONDS = 600
SENDER_STOP_SECONDS = 15.0  # at shutdown, how long a delivery in progress may take to finish


async def purge_expired(rt: Runtime) -> int:
    """Delete expired sessions, spent challenges, codes and tokens, events past retention and
    retired keys no token needs."""
    now = rt.clock.now()
    async with rt.db.write() as tx:
        removed = await tx.purge_expired(
            now=now, events_before=now - timedelta(days=rt.settings.event_retention_days)
        )
    return removed + await rt.keys.purge(now=now)


async def purge_expired_periodically(rt: Runtime) -> None:
    """Now and every ten minutes; a failure (an outage) waits for the next round."""
    while True:
        try:
            log.debug("purged expired rows", extra={"removed": await purge_expired(rt)})
        except Exception:
            log.exception("purging expired rows failed; will retry")
        await asyncio.sleep(PURGE_INTERVAL_SECONDS)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Paths no route matches: Auth0's shape under /api/v2, Keyturn's elsewhere."""
    assert isinstance(exc, StarletteHTTPException)
    if request.url.path.startswith("/api/v2"):
        return await management_errors.http_error(request, exc)
    code = "not_found" if exc.status_code == 404 else "invalid_request"
    body = {"error": code, "error_description": exc.detail if isinstance(exc.detail, str) else "Not found."}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


def create_app(settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    management = create_management_app()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await open_runtime(settings, clock=clock)
        app.state.runtime = runtime
        management.state.runtime = runtime
        stop_sending = asyncio.Event()
        sender = asyncio.create_task(OutboxSender(runtime).run_forever(stop_sending))
        background = [asyncio.create_task(purge_expired_periodically(runtime))]
        try:
            yield
        finally:
            stop_sending.set()  # let a delivery in progress finish and record itself
            runtime.outbox_wakeup.set()
            with suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(sender, SENDER_STOP_SECONDS)  # then cancelled
            for task in background:
                task.cancel()
            for task in background:
                with suppress(asyncio.CancelledError):
                    await task
            await runtime.close()

    app = FastAPI(title="Keyturn", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(InputGuard, send_error=send_error)
    app.add_middleware(ProtocolCors)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(Edge, access_log_enabled=settings.access_log)
    app.add_exception_handler(KeyturnError, keyturn_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, unexpected_error_handler)
    app.include_router(pages.health)
    for module in (pages, login, signup, recovery, verification, account, oidc_routes):
        app.include_router(module.router)
    app.mount("/api/v2", management)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "web" / "static"), name="static")
    return app


def create_app_from_environment() -> FastAPI:
    """The uvicorn factory for `keyturn serve`'s workers: each reads KEYTURN_* itself."""
    return create_app(load_settings())
