"""Jinja2 for every server-rendered page (hosted pages, OIDC consent and error pages).

A page's template is looked up first in the operator's `pages.templates_dir`, then in
Keyturn's own, as mail templates are (`keyturn.mail.render`): one override mechanism, by
file name. Every page gets `tenant` (its `branding` and `product_name`), `page` (the JSON
its script reads), `i18n` and what the route passes; docs/templates.md lists them.

Each page renders in the request's negotiated locale (`keyturn.i18n`): its texts, `lang` and
`dir`, and dates and numbers through the `datetime`, `date` and `number` filters.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import jinja2
from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import HTMLResponse

from keyturn import i18n
from keyturn.domain.branding import Branding
from keyturn.domain.tenant import TenantSettings
from keyturn.errors import KeyturnError
from keyturn.http.errors import error_headers
from keyturn.http.security import content_security_policy
from keyturn.i18n.jinja import install as install_i18n
from keyturn.passkeys.aaguid import provider_name
from keyturn.settings import Settings, SettingsError

TEMPLATES_DIR = Path(__file__).parent.parent / "web" / "templates"
BRAND_STYLESHEET = "/brand.css"
_environments: dict[Path | None, Jinja2Templates] = {}
UNKNOWN_PROVIDER = i18n.N_("Unknown provider")


def brand_stylesheet(branding: Branding) -> str | None:
    """The URL of the stylesheet setting the brand's colours, versioned by its content (so a
    changed colour is fetched at once while an unchanged one stays cached)."""
    if not branding.styled:
        return None
    version = hashlib.sha256(json.dumps(branding.css_variables(), sort_keys=True).encode()).hexdigest()
    return f"{BRAND_STYLESHEET}?v={version[:12]}"


def page_templates(operator_dir: Path | None = None) -> Jinja2Templates:
    """The templates for one overrides folder (none: Keyturn's only). Templates never change
    under a running process: no mtime check on every render (auto_reload)."""
    if operator_dir not in _environments:
        folders = [str(operator_dir)] if operator_dir else []
        environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader([*folders, str(TEMPLATES_DIR)]),
            autoescape=jinja2.select_autoescape(),
            auto_reload=False,
        )
        install_i18n(environment)
        environment.filters["provider"] = lambda aaguid: (
            provider_name(aaguid) or i18n.current().gettext(UNKNOWN_PROVIDER)
        )
        environment.globals["brand_stylesheet"] = brand_stylesheet
        _environments[operator_dir] = Jinja2Templates(env=environment)
    return _environments[operator_dir]


def check_overrides(operator_dir: Path) -> list[str]:
    """Problems with an overrides folder: a file that overrides no page (a typo would be
    silently ignored), or a template that does not parse. Files named `_*.html` are the
    operator's own partials (included or extended by an override): parsed, never pages."""
    known = {path.name for path in TEMPLATES_DIR.glob("*.html")}
    environment = page_templates(operator_dir).env
    problems = []
    for path in sorted(operator_dir.glob("*.html")):
        if path.name not in known and not path.name.startswith("_"):
            problems.append(f"{path.name} overrides no page (pages: {', '.join(sorted(known))})")
            continue
        try:
            environment.parse(path.read_text())
        except jinja2.TemplateSyntaxError as exc:
            problems.append(f"{path.name} line {exc.lineno}: {exc.message}")
    return problems


def require_valid_overrides(settings: Settings) -> None:
    """Refuse to start with an overrides folder that has problems (`check_overrides`)."""
    folder = settings.pages.templates_dir
    if folder is not None and (problems := check_overrides(folder)):
        raise SettingsError(f"pages.templates_dir {folder}: " + "; ".join(problems))


def page_csp(
    tenant: TenantSettings | None,
    *,
    form_targets: tuple[str, ...] = (),
    captcha_origins: tuple[str, ...] = (),
) -> str:
    """The CSP of a page: the defaults, widened exactly for this tenant's brand assets and for
    what the page itself needs (a client's redirect origin, the captcha provider)."""
    branding = tenant.branding if tenant is not None else Branding()
    return content_security_policy(
        form_targets=form_targets,
        captcha_origins=captcha_origins,
        image_origins=branding.image_origins,
        style_origins=branding.style_origins,
    )


_DEFAULT_TENANT = TenantSettings()


def page_translator(request: Request, context: dict[str, Any] | None = None) -> i18n.Translator:
    """The translator of this request under its tenant's `ui` settings."""
    tenant = (context or {}).get("tenant")
    if not isinstance(tenant, TenantSettings):
        ctx = getattr(request.state, "ctx", None)
        tenant = ctx.tenant if ctx is not None else _DEFAULT_TENANT
    return i18n.translator(tenant.ui)


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    form_targets: tuple[str, ...] = (),
    captcha_origins: tuple[str, ...] = (),
) -> HTMLResponse:
    """The page in the request's locale (the template renders here, synchronously), with its CSP."""
    ctx = getattr(request.state, "ctx", None)
    operator_dir = ctx.settings.pages.templates_dir if ctx is not None else None
    active = page_translator(request, context)
    token = i18n.activate(active)
    try:
        response = page_templates(operator_dir).TemplateResponse(
            request, template, {**context, "i18n": active}, status_code=status
        )
    finally:
        i18n.deactivate(token)
    response.headers["content-security-policy"] = page_csp(
        context.get("tenant"), form_targets=form_targets, captcha_origins=captcha_origins
    )
    return response


def error_page(request: Request, error: KeyturnError) -> HTMLResponse:
    """A friendly page for a browser's navigation that failed (an outage: "try again")."""
    ctx = getattr(request.state, "ctx", None)
    tenant = ctx.tenant if ctx is not None else None
    response = render(
        request, "error.html", {"error": error, "tenant": tenant, "page": {}}, status=error.status
    )
    response.headers.update(error_headers(error))
    return response
