"""The users' language: which locale a request gets, its catalogue, and texts formatted in it.

The locale is negotiated per request from, in order, the OIDC `ui_locales` (the query, the
parked authorization request, or the `keyturn_ui_locales` cookie that carries them through
the journey), `Accept-Language`, and the tenant's `ui.default_locale`, among the tenant's
enabled `ui.locales`. The transport records the browser's preferences (`prefer`); every
renderer asks `translator(tenant)` for a `Translator`.

Catalogues are gettext `.po` files under `i18n/locale` (`keyturn.pot` is their template),
read with Babel once per process: no compiled binaries are committed. English is the source
language: its texts are the msgids. Operators override any text per locale with
`/ui/texts/<locale>/<key>` (Auth0's custom text): the key is a message id of
`keyturn.messages` for error texts, the English text (the msgid) for everything else.
"""

from __future__ import annotations

import gettext
import re
from collections.abc import Mapping, Sequence
from contextvars import ContextVar, Token
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import cast

from babel import Locale
from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from keyturn import messages
from keyturn.domain.tenant import SHIPPED_LOCALES, UiSettings

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "keyturn"
SOURCE_LOCALE = "en"
RIGHT_TO_LEFT = frozenset({"ar", "fa", "he", "ur", "yi", "ps", "sd", "ug"})
LOCALE_COOKIE = "keyturn_ui_locales"
_TAG = re.compile(r"^[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8}){0,4}$")
MAX_TAGS = 10


def N_(text: str) -> str:
    """Marks a Python-side text for extraction; it is translated where it is shown."""
    return text


# --- preferences and negotiation ------------------------------------------------------------------


@dataclass(frozen=True)
class Preferences:
    """What the browser asked for: `ui_locales` (most wanted first) and `Accept-Language`."""

    ui_locales: tuple[str, ...] = ()
    accept_language: tuple[str, ...] = ()


NO_PREFERENCES = Preferences()
_preferences: ContextVar[Preferences | None] = ContextVar("keyturn_locale_preferences", default=None)


def parse_ui_locales(value: str | None) -> tuple[str, ...]:
    """OIDC's space-separated BCP 47 tags; anything that is not a tag is dropped."""
    if not value:
        return ()
    tags = [tag for tag in value.replace(":", " ").split() if _TAG.match(tag)]
    return tuple(tags[:MAX_TAGS])


def parse_accept_language(header: str | None) -> tuple[str, ...]:
    """RFC 9110 `Accept-Language`, by quality (ties keep their order); `*` and q=0 dropped."""
    if not header:
        return ()
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        tag = tag.strip()
        if quality > 0 and tag != "*" and _TAG.match(tag):
            weighted.append((-quality, index, tag))
    return tuple(tag for _, _, tag in sorted(weighted))[:MAX_TAGS]


def set_preferences(preferences: Preferences) -> Token[Preferences | None]:
    return _preferences.set(preferences)


def reset_preferences(token: Token[Preferences | None]) -> None:
    _preferences.reset(token)


def preferences() -> Preferences:
    """This request's; none outside a request (the CLI, the outbox): the tenant's default."""
    return _preferences.get() or NO_PREFERENCES


def prefer(ui_locales: str | None) -> None:
    """This request's `ui_locales` came from elsewhere (the parked authorization request)."""
    tags = parse_ui_locales(ui_locales)
    if tags:
        _preferences.set(replace(preferences(), ui_locales=tags))


def _match(tags: tuple[str, ...], enabled: Sequence[str]) -> str | None:
    """The first tag that is an enabled locale, exactly or by its language (de-CH → de)."""
    by_lower = {locale.lower(): locale for locale in enabled}
    for tag in tags:
        wanted = tag.lower().replace("_", "-")
        if wanted in by_lower:
            return by_lower[wanted]
        language = wanted.split("-", 1)[0]
        if language in by_lower:
            return by_lower[language]
    return None


def negotiate(prefs: Preferences, ui: UiSettings) -> str:
    """`ui_locales`, then `Accept-Language`, then the tenant's default."""
    return (
        _match(prefs.ui_locales, ui.locales) or _match(prefs.accept_language, ui.locales) or ui.default_locale
    )


# --- catalogues -----------------------------------------------------------------------------------


def po_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=len(SHIPPED_LOCALES))
def catalogue(locale: str) -> gettext.NullTranslations:
    """The locale's translations, read from its .po (fuzzy entries are not used)."""
    if locale == SOURCE_LOCALE:
        return gettext.NullTranslations()
    with po_path(locale).open("rb") as source:
        catalog = read_po(source, locale=locale, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def load_catalogues() -> None:
    """Read every shipped catalogue now (at start), not on some user's first request."""
    for locale in SHIPPED_LOCALES:
        catalogue(locale)


# --- one request's texts --------------------------------------------------------------------------


@dataclass(frozen=True)
class Translator:
    """Texts, dates and numbers in one locale, with the operator's overrides for it."""

    locale: str
    overrides: Mapping[str, str] = field(default_factory=dict)

    @property
    def translations(self) -> gettext.NullTranslations:
        return catalogue(self.locale)

    @property
    def lang(self) -> str:
        return self.locale.replace("_", "-")

    @property
    def direction(self) -> str:
        return "rtl" if self.locale.split("-")[0].split("_")[0] in RIGHT_TO_LEFT else "ltr"

    def gettext(self, text: str) -> str:
        return self.overrides.get(text) or self.translations.gettext(text)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        return self.overrides.get(singular) or self.translations.ngettext(singular, plural, count)

    def message(self, message_id: str, params: Mapping[str, object] | None = None) -> str:
        """The text of an error's message id, in this locale (an override first)."""
        source = messages.MESSAGES[message_id]
        translated = self.translations.pgettext(message_id, source)
        for template in (self.overrides.get(message_id), translated, source):
            if template:
                try:
                    return template.format(**params) if params else template
                except (KeyError, IndexError, ValueError, AttributeError):
                    continue  # an override naming a parameter the message has not: the next one
        return messages.text(message_id, params)

    def describe(self, error: object) -> str:
        """`error.description` in this locale, for anything shaped like a KeyturnError."""
        message_id = getattr(error, "message_id", None)
        if isinstance(message_id, str) and message_id in messages.MESSAGES:
            return self.message(message_id, getattr(error, "params", None))
        return str(getattr(error, "description", error))

    def date(self, moment: datetime) -> str:
        return format_date(moment, "medium", locale=_babel_locale(self.locale))

    def datetime(self, moment: datetime) -> str:
        """A date and time of day in UTC, as the locale writes them ("1 Dec 2026, 20:06 UTC")."""
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        locale = _babel_locale(self.locale)
        day = format_date(moment, "medium", locale=locale)
        time = format_time(moment, "short", tzinfo=UTC, locale=locale)
        return f"{str(locale.datetime_formats['medium']).replace('{1}', day).replace('{0}', time)} UTC"

    def number(self, value: int | float) -> str:
        return format_decimal(value, locale=_babel_locale(self.locale))


@lru_cache(maxsize=64)
def _babel_locale(tag: str) -> Locale:
    """Babel's locale object, parsed once per tag (Babel parses a string on every call)."""
    return Locale.parse(tag)


ENGLISH = Translator(SOURCE_LOCALE)


def translator(ui: UiSettings, prefs: Preferences | None = None) -> Translator:
    """The translator for this request (its preferences) under the tenant's `ui` settings."""
    locale = negotiate(prefs if prefs is not None else preferences(), ui)
    overrides = cast(Mapping[str, dict[str, str]], ui.texts)  # keys are LocaleTags, locale one of them
    return Translator(locale, overrides.get(locale, {}))


_current: ContextVar[Translator | None] = ContextVar("keyturn_translator", default=None)


def current() -> Translator:
    """The translator of the render in progress (templates' `_`, filters)."""
    return _current.get() or ENGLISH


def activate(active: Translator) -> Token[Translator | None]:
    return _current.set(active)


def deactivate(token: Token[Translator | None]) -> None:
    _current.reset(token)
