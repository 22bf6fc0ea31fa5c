"""Rendering a message from its templates: `<name>.subject.txt`, `<name>.txt` and (optional)
`<name>.html`, looked up first in the operator's `email.templates_dir`, then in Keyturn's own.

Every template gets `product` (the brand's product name, else the tenant's display name),
`public_url`, `logo_url` (absolute, or None), `primary_color` and `background_color`
(`#rrggbb` or None), and what the message itself passes (a link, a code…). Each body is then
laid in `layout.html` / `layout.txt` (overridable too) as `body`: the brand's logo and name
around every message. Links are built from the configured public URL, never from a
request's Host header.
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

from keyturn.context import Context
from keyturn.domain.mail import Mail

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
    context = {**brand_values(ctx), **values}
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
    return Mail(to_address=to_address, subject=" ".join(subject.split()), text=text, html=html)
