"""Jinja2 for every server-rendered page (hosted pages, OIDC consent and error pages)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import HTMLResponse

from keyturn.errors import KeyturnError
from keyturn.http.errors import error_headers
from keyturn.passkeys.aaguid import provider_name

TEMPLATES_DIR = Path(__file__).parent.parent / "web" / "templates"
# The templates ship with the package and never change under a running process: no mtime
# check on every render (auto_reload), as Starlette's default environment does.
templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(),
        auto_reload=False,
    )
)
templates.env.filters["provider"] = lambda aaguid: provider_name(aaguid) or "Unknown provider"


def render(request: Request, template: str, context: dict[str, Any], *, status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context, status_code=status)


def error_page(request: Request, error: KeyturnError) -> HTMLResponse:
    """A friendly page for a browser's navigation that failed (an outage: "try again")."""
    ctx = getattr(request.state, "ctx", None)
    tenant = ctx.tenant if ctx is not None else None
    response = render(
        request, "error.html", {"error": error, "tenant": tenant, "page": {}}, status=error.status
    )
    response.headers.update(error_headers(error))
    return response
