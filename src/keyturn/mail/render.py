"""Rendering a message from its templates: `<name>.subject.txt`, `<name>.txt` and (optional)
`<name>.html`, looked up first in the operator's `email.templates_dir`, then in Keyturn's own.

Every template gets `product` (the brand's product name, else the tenant's display name),
`public_url`, `logo_url` (absolute, or None), `primary_color` and `background_color`
(`#rrggbb` or None), and what the message itself passes (a link, a code…). Each body is then
laid in `layout.html` / `layout.txt` (overridable too) as `body`: the brand's logo and name
around every message. Links are built from the configured public URL, never from a
request's Host header. A message is written in the locale of the request that causes it
(`keyturn.i18n`; the tenant's default outside a request), its texts through `{% trans %}`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    select_autoescape,
)
from markupsafe import Markup

from keyturn import i18n
from keyturn.context import Context
from keyturn.domain.mail import Mail
from keyturn.i18n.jinja import install as install_i18n

BUILT_IN = Path(__file__).with_name("templates")
_environments: dict[Path | None, Environment] = {}


def _environment(operator_dir: Path | None) -> Environment:
    if operator_dir not in _environments:
        loaders = [FileSystemLoader(str(operator_dir))] if operator_dir else []
        _environments[operator_dir] = Environment(
            loader=ChoiceLoader([*loaders, FileSystemLoader(str(BUILT_IN))]),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,  # a template naming what the message does not give fails loudly
            keep_trailing_newline=True,
        )
        install_i18n(_environments[operator_dir])
    return _environments[operator_dir]


def link(ctx: Context, path: str) -> str:
    """An absolute link into Keyturn, from the configured public URL."""
    return f"{ctx.settings.base_url}{path}"


def brand_values(ctx: Context) -> dict[str, Any]:
    """What every template gets from the brand (see the module's docstring)."""
    branding = ctx.tenant.branding
    logo = branding.logo
    return {
        "product": ctx.tenant.product_name,
        "public_url": ctx.settings.base_url,
        "logo_url": link(ctx, logo) if logo and logo.startswith("/") else logo,
        "primary_color": branding.primary_color,
        "background_color": branding.background_color,
    }


def render(ctx: Context, template: str, *, to_address: str, **values: Any) -> Mail:
    env = _environment(ctx.settings.email.templates_dir)
    active = i18n.translator(ctx.tenant.ui)
    context = {**brand_values(ctx), **values, "i18n": active}
    token = i18n.activate(active)
    try:
        subject = env.get_template(f"{template}.subject.txt").render(context).strip()
        text_body = env.get_template(f"{template}.txt").render(context)
        text = env.get_template("layout.txt").render({**context, "body": text_body.rstrip("\n")})
        try:
            html_body = env.get_template(f"{template}.html").render(context)
        except TemplateNotFound:
            html: str | None = None
        else:
            body = Markup(html_body)  # noqa: S704 - the output of an autoescaped template
            html = env.get_template("layout.html").render({**context, "body": body})
    finally:
        i18n.deactivate(token)
    return Mail(to_address=to_address, subject=" ".join(subject.split()), text=text, html=html)
