"""Jinja2's i18n extension wired to the translator of the render in progress.

`{% trans %}` blocks (trimmed: whitespace inside is collapsed, as the extractor does) and
`_()` / `gettext()` / `ngettext()` calls look up the active `Translator`; its variables are
escaped on HTML pages. An operator's override that names a placeholder the text does not
have falls back to the catalogue's text rather than failing the page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import Environment, pass_context
from jinja2.runtime import Context as JinjaContext
from markupsafe import Markup

from keyturn.i18n import current

EXTENSION = "jinja2.ext.i18n"


def _formatted(context: JinjaContext, translated: str, source: str, variables: dict[str, Any]) -> str:
    if not variables and "%" not in translated:  # most texts: nothing to put in, nothing to unescape
        return Markup(translated) if context.eval_ctx.autoescape else translated  # noqa: S704 - trusted text
    for template in (translated, source):
        # the catalogue's and the operator's texts are trusted markup; the variables are escaped
        text: str = Markup(template) if context.eval_ctx.autoescape else template  # noqa: S704
        try:
            return text % variables
        except (KeyError, ValueError, TypeError):
            continue
    return source


@pass_context
def _gettext(__context: JinjaContext, __text: str, **variables: Any) -> str:
    return _formatted(__context, current().gettext(__text), __text, variables)


@pass_context
def _ngettext(__context: JinjaContext, __singular: str, __plural: str, __num: int, **variables: Any) -> str:
    variables.setdefault("num", __num)
    source = __singular if __num == 1 else __plural
    return _formatted(__context, current().ngettext(__singular, __plural, __num), source, variables)


def _datetime(moment: datetime) -> str:
    return current().datetime(moment)


def _date(moment: datetime) -> str:
    return current().date(moment)


def _number(value: int | float) -> str:
    return current().number(value)


def _describe(error: object) -> str:
    return current().describe(error)


def install(env: Environment) -> None:
    """Give `env` the i18n extension and the locale-aware filters."""
    env.add_extension(EXTENSION)
    env.policies["ext.i18n.trimmed"] = True
    env.newstyle_gettext = True  # type: ignore[attr-defined]
    env.globals.update(gettext=_gettext, _=_gettext, ngettext=_ngettext)
    env.filters.update(datetime=_datetime, date=_date, number=_number, describe=_describe)
