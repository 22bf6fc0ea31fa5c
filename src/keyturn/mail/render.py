"""Rendering a message from its templates: `<name>.subject.txt`, `<name>.txt` and (optional)
`<name>.html`, looked up first in the operator's `email.templates_dir`, then in Keyturn's own.

Every template gets `product` (the tenant's display name), `public_url`, and what the
message itself passes (a link, a code…). Links are built from the configured public URL,
never from a request's Host header. A message is written in the locale of the request that
causes it (`keyturn.i18n`; the tenant's default outside a request), its texts through `{% trans %}`.
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


def render(ctx: Context, template: str, *, to_address: str, **values: Any) -> Mail:
    env = _environment(ctx.settings.email.templates_dir)
    active = i18n.translator(ctx.tenant.ui)
    context = {"product": ctx.tenant.rp.display_name, "public_url": ctx.settings.base_url, **values}
    context["i18n"] = active
    token = i18n.activate(active)
    try:
        subject = env.get_template(f"{template}.subject.txt").render(context).strip()
        text = env.get_template(f"{template}.txt").render(context)
        try:
            html: str | None = env.get_template(f"{template}.html").render(context)
        except TemplateNotFound:
            html = None
    finally:
        i18n.deactivate(token)
    return Mail(to_address=to_address, subject=" ".join(subject.split()), text=text, html=html)
