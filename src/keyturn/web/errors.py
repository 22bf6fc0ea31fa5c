"""KeyturnError → one response shape per transport: JSON for the API calls the pages make."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from keyturn.errors import KeyturnError

log = logging.getLogger("keyturn.web")


async def keyturn_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KeyturnError)
    log.info(
        "request refused",
        extra={"code": exc.code, "status": exc.status, "path": request.url.path, "detail": exc.detail},
    )
    return JSONResponse(exc.to_json(), status_code=exc.status)
