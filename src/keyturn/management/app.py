"""The /api/v2 sub-application: its own routers, error shape and OpenAPI 3.1 document."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from keyturn.errors import KeyturnError
from keyturn.management import authentication_methods, connections, errors, hooks, logs, users


def create_management_app() -> FastAPI:
    app = FastAPI(
        title="Keyturn Management API",
        version="2",
        description="Auth0 Management API v2 shapes: users, authentication methods, connections, logs.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.add_exception_handler(KeyturnError, errors.keyturn_error)
    app.add_exception_handler(RequestValidationError, errors.validation_error)
    app.add_exception_handler(Exception, errors.server_error)
    for module in (users, authentication_methods, connections, logs, hooks):
        app.include_router(module.router)
    return app
