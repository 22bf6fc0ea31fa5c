"""The /api/v2 sub-application: its own routers, error shape and OpenAPI 3.1 document."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException as StarletteHTTPException

from keyturn.errors import KeyturnError
from keyturn.http.json import JSONResponse
from keyturn.management import (
    attack_protection,
    authentication_methods,
    connections,
    errors,
    hooks,
    logs,
    sessions,
    user_blocks,
    users,
)
from keyturn.management.auth import RequireBearer
from keyturn.management.rate_limits import RateLimitHeaders

_ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
_TOO_MANY = {
    "description": "Too Many Requests: the client's rate limit (x-ratelimit-* headers, Retry-After)",
    "content": {"application/json": {"schema": _ERROR_REF}},
}


def _document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, made true: bad input is a 400 in Auth0's shape (never a 422), and
    every operation needs a bearer token."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for path in document["paths"].values():
            for operation in path.values():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                responses.setdefault(
                    "400",
                    {"description": "Bad Request", "content": {"application/json": {"schema": _ERROR_REF}}},
                )
                responses.setdefault(
                    "401",
                    {"description": "Unauthorized", "content": {"application/json": {"schema": _ERROR_REF}}},
                )
                responses.setdefault("429", _TOO_MANY)
                operation["security"] = [{"bearer": []}]
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        document["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        }
        app.openapi_schema = document
    return app.openapi_schema


def create_management_app() -> FastAPI:
    app = FastAPI(
        title="Keyturn Management API",
        version="2",
        description="Auth0 Management API v2 shapes: users, authentication methods, connections, logs.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        default_response_class=JSONResponse,
    )
    app.add_exception_handler(KeyturnError, errors.keyturn_error)
    app.add_exception_handler(RequestValidationError, errors.validation_error)
    app.add_exception_handler(StarletteHTTPException, errors.http_error)
    app.add_exception_handler(Exception, errors.server_error)
    app.add_middleware(RequireBearer)
    app.add_middleware(RateLimitHeaders)
    for module in (
        users,
        authentication_methods,
        sessions,
        connections,
        logs,
        hooks,
        attack_protection,
        user_blocks,
    ):
        app.include_router(module.router)
    app.openapi = lambda: _document(app)  # type: ignore[method-assign]
    return app
