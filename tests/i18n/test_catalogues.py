"""The catalogues are current and complete: every text the sources name is in keyturn.pot and
translated in every shipped locale, with the same placeholders as its English.

On failure the lists name the missing texts per locale: run `scripts/i18n update`, then
`scripts/i18n todo <locale>` / `scripts/i18n fill <locale> <file>` (see the README)."""

from __future__ import annotations

import pytest
from babel.messages.catalog import Catalog

from keyturn import messages
from keyturn.domain.tenant import SHIPPED_LOCALES
from keyturn.i18n import catalogue, catalogues, po_path

LOCALES = catalogues.translated_locales()


@pytest.fixture(scope="module")
def sources() -> Catalog:
    return catalogues.extract()


def test_the_extraction_finds_every_kind_of_source(sources: Catalog) -> None:
    found = catalogues.keys(sources)
    assert ("invalid_email", messages.MESSAGES["invalid_email"]) in found  # the error catalogue
    assert (None, "Sign in with a passkey") in found  # a page
    assert (None, "Your verification code is:") in found  # an email
    assert (None, "Checking your passkey…") in found  # the page script's texts
    assert (None, "Passkey added.") in found  # an N_() text in Python
    assert not any(context in messages.OPERATOR_ONLY for context, _ in found)
    assert len(found) > 250


def test_the_checked_in_template_is_current(sources: Catalog) -> None:
    """keyturn.pot is what the sources say today (`scripts/i18n update` rewrites it)."""
    checked_in = catalogues.keys(catalogues.read(catalogues.POT))
    assert sorted(map(catalogues.label, catalogues.keys(sources) - checked_in)) == []
    assert sorted(map(catalogues.label, checked_in - catalogues.keys(sources))) == []


def test_every_shipped_locale_has_a_catalogue() -> None:
    assert set(SHIPPED_LOCALES) == {"en", "de", "fr", "es", "ja"}
    for locale in LOCALES:
        assert po_path(locale).exists(), locale


@pytest.mark.parametrize("locale", LOCALES)
def test_every_text_is_translated(locale: str, sources: Catalog) -> None:
    assert catalogues.missing(locale, sources) == []


@pytest.mark.parametrize("locale", LOCALES)
def test_translations_keep_their_placeholders(locale: str) -> None:
    assert catalogues.placeholder_mismatches(locale) == []


def test_a_missing_text_is_named_by_locale() -> None:
    """The completeness check can fail, and names what a locale lacks (a text another helper
    added, say), not what it has."""
    template = Catalog(domain="keyturn")
    template.add("Sign in with a passkey")
    template.add("Brand new text")
    template.add(messages.MESSAGES["invalid_email"], context="invalid_email")
    assert catalogues.missing("de", template) == ["Brand new text"]
    assert catalogues.missing("ja", template) == ["Brand new text"]


def test_catalogues_load_from_the_po_files() -> None:
    assert catalogue("de").gettext("Sign in with a passkey") == "Mit Passkey anmelden"
    assert catalogue("ja").pgettext("invalid_email", messages.MESSAGES["invalid_email"]).endswith("。")
    assert catalogue("en").gettext("Sign in") == "Sign in"
