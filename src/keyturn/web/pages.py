"""The home redirect, the brand's colours stylesheet, the health checks and the metrics."""

from __future__ import annotations

import asyncio
import logging
from ipaddress import ip_address, ip_network

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from keyturn import metrics
from keyturn.errors import Forbidden, Unavailable
from keyturn.http.context import ContextDep, ContextRoute, SessionDep, runtime_of
from keyturn.http.json import JSONResponse
from keyturn.http.templates import BRAND_STYLESHEET

router = APIRouter(route_class=ContextRoute)
health = APIRouter()  # no unit of work: these must answer even when the database does not
READY_TIMEOUT_SECONDS = 2.0
log = logging.getLogger("keyturn.health")


@router.get("/")
async def home(session: SessionDep) -> Response:
    return RedirectResponse("/account" if session else "/login", status_code=303)


@router.get(BRAND_STYLESHEET)
async def brand_colours(ctx: ContextDep) -> Response:
    """The brand's colours as the built-in stylesheet's custom properties. Every value is a
    validated `#rrggbb` (`Branding.css_variables`), so nothing else can reach the CSS; the
    pages link it with a content version, so it may be cached."""
    declarations = "".join(f"{name}:{value};" for name, value in ctx.tenant.branding.css_variables().items())
    return Response(
        f":root{{{declarations}}}\n",
        media_type="text/css",
        headers={"cache-control": "public, max-age=86400"},
    )


@health.get("/health/live")
async def live() -> Response:
    """The process is up and serving."""
    return JSONResponse({"status": "ok"})


@health.get("/health/ready")
async def ready(request: Request) -> Response:
    """The database answers within a timeout and its schema is at the migrations' head."""
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            await runtime_of(request).db.ping()
    except (Unavailable, TimeoutError) as error:
        detail = error.detail if isinstance(error, Unavailable) else "timed out"
        log.warning("not ready", extra={"detail": detail})
        return JSONResponse({"status": "unavailable"}, status_code=503, headers={"retry-after": "5"})
    return JSONResponse({"status": "ok"})


@health.get("/metrics")
async def metrics_endpoint(request: Request) -> Response:
    """Prometheus exposition, for the addresses in `metrics_allowed_networks` only."""
    allowed = [ip_network(n, strict=False) for n in runtime_of(request).settings.metrics_allowed_networks]
    try:
        peer = ip_address(request.client.host if request.client else "")
    except ValueError:
        peer = None
    if peer is None or not any(peer in network for network in allowed):
        raise Forbidden()
    return Response(metrics.render(), media_type=metrics.CONTENT_TYPE)
