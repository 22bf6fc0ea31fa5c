"""create_app(settings) → the ASGI app. No import-time side effects: tests build their own."""

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

from keyturn.clock import Clock, SystemClock
from keyturn.errors import KeyturnError
from keyturn.management import errors as management_errors
from keyturn.management.app import create_management_app
from keyturn.oidc import routes as oidc_routes
from keyturn.runtime import Runtime, build_runtime
from keyturn.settings import Settings, load_settings
from keyturn.store.sql.store import open_store
from keyturn.web import account, login, pages, signup
from keyturn.web.cors import ProtocolCors
from keyturn.web.errors import keyturn_error_handler
from keyturn.web.security import add_security_headers

log = logging.getLogger("keyturn")


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error", extra={"path": request.url.path})
    return JSONResponse(
        {"error": "server_error", "error_description": "Something went wrong on our side."}, status_code=500
    )


PURGE_INTERVAL_SECONDS = 600


async def purge_expired_periodically(rt: Runtime) -> None:
    """Delete expired flows, challenges, sessions, codes and tokens, events past retention and
    retired keys no token needs, now and every ten minutes."""
    while True:
        try:
            now = rt.clock.now()
            retention = timedelta(days=rt.settings.event_retention_days)
            removed = (
                await rt.store.purge_expired(now=now)
                + await rt.store.purge_expired_oidc(now=now)
                + await rt.store.delete_events_before(now - retention)
                + await rt.keys.purge(now=now)
            )
            log.debug("purged expired rows", extra={"removed": removed})
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
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await open_store(settings.resolved_database_url)
        try:
            runtime = await build_runtime(settings, store, clock or SystemClock())
        except BaseException:
            await store.close()  # a refused start leaves no connection behind
            raise
        app.state.runtime = runtime
        management.state.runtime = runtime
        runtime.events.start()
        purger = asyncio.create_task(purge_expired_periodically(runtime))
        try:
            yield
        finally:
            purger.cancel()
            with suppress(asyncio.CancelledError):
                await purger
            try:
                await runtime.events.close()  # a clean shutdown loses no event
            finally:
                await store.close()

    app = FastAPI(title="Keyturn", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.middleware("http")(add_security_headers)
    app.add_middleware(ProtocolCors)
    app.add_exception_handler(KeyturnError, keyturn_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    for module in (pages, login, signup, account, oidc_routes):
        app.include_router(module.router)
    management = create_management_app()
    app.mount("/api/v2", management)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "web" / "static"), name="static")
    return app


def create_app_from_environment() -> FastAPI:
    """The uvicorn factory for `keyturn serve --workers N`: each worker reads KEYTURN_* itself."""
    return create_app(load_settings())
