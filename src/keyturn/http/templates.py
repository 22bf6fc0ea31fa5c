"""Jinja2 for every server-rendered page (hosted pages, OIDC consent and error pages).

Each page renders in the request's negotiated locale (`keyturn.i18n`): its texts, `lang` and
`dir`, and dates and numbers through the `datetime`, `date` and `number` filters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import HTMLResponse

from keyturn import i18n
from keyturn.domain.tenant import TenantSettings
from keyturn.errors import KeyturnError
from keyturn.http.errors import error_headers
from keyturn.i18n.jinja import install as install_i18n
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
install_i18n(templates.env)
UNKNOWN_PROVIDER = i18n.N_("Unknown provider")
templates.env.filters["provider"] = lambda aaguid: (
    provider_name(aaguid) or i18n.current().gettext(UNKNOWN_PROVIDER)
)
_DEFAULT_TENANT = TenantSettings()


def page_translator(request: Request, context: dict[str, Any] | None = None) -> i18n.Translator:
    """The translator of this request under its tenant's `ui` settings."""
    tenant = (context or {}).get("tenant")
    if not isinstance(tenant, TenantSettings):
        ctx = getattr(request.state, "ctx", None)
        tenant = ctx.tenant if ctx is not None else _DEFAULT_TENANT
    return i18n.translator(tenant.ui)


def render(request: Request, template: str, context: dict[str, Any], *, status: int = 200) -> HTMLResponse:
    """The page in the request's locale (the template renders here, synchronously)."""
    active = page_translator(request, context)
    token = i18n.activate(active)
    try:
        return templates.TemplateResponse(request, template, {**context, "i18n": active}, status_code=status)
    finally:
        i18n.deactivate(token)


def error_page(request: Request, error: KeyturnError) -> HTMLResponse:
    """A friendly page for a browser's navigation that failed (an outage: "try again")."""
    ctx = getattr(request.state, "ctx", None)
    tenant = ctx.tenant if ctx is not None else None
    response = render(
        request, "error.html", {"error": error, "tenant": tenant, "page": {}}, status=error.status
    )
    response.headers.update(error_headers(error))
    return response
