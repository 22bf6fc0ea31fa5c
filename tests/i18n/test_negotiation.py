"""Which locale a request gets, its texts with the operator's overrides, dates and numbers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from keyturn import messages
from keyturn.domain.tenant import TenantSettings, UiSettings
from keyturn.i18n import (
    Preferences,
    Translator,
    negotiate,
    parse_accept_language,
    parse_ui_locales,
    translator,
)

ALL = UiSettings()


def test_ui_locales_come_first_then_accept_language_then_the_default() -> None:
    assert negotiate(Preferences(ui_locales=("de",), accept_language=("ja",)), ALL) == "de"
    assert negotiate(Preferences(ui_locales=(), accept_language=("ja", "fr")), ALL) == "ja"
    assert negotiate(Preferences(), ALL) == "en"
    assert negotiate(Preferences(), UiSettings(default_locale="fr")) == "fr"


def test_a_preference_no_locale_matches_falls_through() -> None:
    prefs = Preferences(ui_locales=("ko", "zh-Hant"), accept_language=("es-MX", "en"))
    assert negotiate(prefs, ALL) == "es"  # ui_locales named nothing enabled: Accept-Language decides
    assert negotiate(Preferences(accept_language=("ko",)), UiSettings(default_locale="ja")) == "ja"


def test_regions_match_their_language_and_case_does_not_matter() -> None:
    assert negotiate(Preferences(ui_locales=("DE-ch",)), ALL) == "de"
    assert negotiate(Preferences(accept_language=("fr_CA",)), ALL) == "fr"


def test_only_enabled_locales_are_chosen() -> None:
    ui = UiSettings(locales=["en", "fr"], default_locale="en")
    assert negotiate(Preferences(ui_locales=("de",), accept_language=("ja", "fr")), ui) == "fr"
    assert negotiate(Preferences(ui_locales=("de",)), ui) == "en"


def test_accept_language_is_ordered_by_quality() -> None:
    assert parse_accept_language("fr;q=0.5, ja, de;q=0.8, *;q=0.1, es;q=0") == ("ja", "de", "fr")
    assert parse_accept_language("en-US,en;q=0.9") == ("en-US", "en")
    assert parse_accept_language("garbage;;;q=x, <script>") == ()
    assert parse_accept_language(None) == ()


def test_ui_locales_are_space_separated_tags() -> None:
    assert parse_ui_locales("de-CH fr  ja") == ("de-CH", "fr", "ja")
    assert parse_ui_locales('de"; evil=1 ja') == ("ja",)
    assert parse_ui_locales("") == ()


def test_settings_refuse_a_default_that_is_not_enabled_or_an_unknown_locale() -> None:
    with pytest.raises(ValidationError, match="default_locale"):
        UiSettings(locales=["en", "de"], default_locale="ja")
    with pytest.raises(ValidationError):
        UiSettings.model_validate({"locales": ["en", "xx"]})
    with pytest.raises(ValidationError, match="each locale once"):
        UiSettings(locales=["en", "en"])
    with pytest.raises(ValidationError):
        UiSettings.model_validate({"texts": {"xx": {"Sign in": "?"}}})
    assert TenantSettings().ui.texts["de"] == {}  # /ui/texts/de/<id> can be added at once


def test_error_messages_are_translated_by_id_with_their_parameters() -> None:
    german = Translator("de")
    assert german.message("password_too_short", {"min": 12}) == (
        "Verwenden Sie ein Passwort mit mindestens 12 Zeichen."
    )
    assert Translator("en").message("password_too_short", {"min": 12}) == messages.text(
        "password_too_short", {"min": 12}
    )
    assert "パスキー" in Translator("ja").message("credential_exists")


def test_operator_overrides_win_for_error_ids_and_page_texts() -> None:
    tenant = TenantSettings.model_validate(
        {
            "ui": {
                "texts": {
                    "de": {
                        "invalid_email": "Bitte eine echte Adresse, {nobody}.",
                        "password_too_short": "Mindestens {min} Zeichen, bitte.",
                        "Sign in with a passkey": "Per Passkey rein",
                    },
                    "en": {"Sign in with a passkey": "Use your passkey"},
                }
            }
        }
    )
    german = translator(tenant.ui, Preferences(ui_locales=("de",)))
    assert german.gettext("Sign in with a passkey") == "Per Passkey rein"
    assert german.message("password_too_short", {"min": 9}) == "Mindestens 9 Zeichen, bitte."
    # an override naming a parameter the message has not falls back to the catalogue's text
    assert german.message("invalid_email", {"x": 1}) == "Geben Sie eine gültige E-Mail-Adresse ein."
    english = translator(tenant.ui, Preferences(accept_language=("en",)))
    assert english.gettext("Sign in with a passkey") == "Use your passkey"
    french = translator(tenant.ui, Preferences(ui_locales=("fr",)))
    assert french.gettext("Sign in with a passkey") == "Se connecter avec une clé d’accès"


def test_dates_and_numbers_follow_the_locale() -> None:
    moment = datetime(2026, 12, 1, 20, 6, tzinfo=UTC)
    assert Translator("en").datetime(moment) == "Dec 1, 2026, 8:06\u202fPM UTC"
    assert Translator("de").datetime(moment) == "01.12.2026, 20:06 UTC"
    assert Translator("fr").date(moment) == "1 déc. 2026"
    assert Translator("ja").datetime(moment) == "2026/12/01 20:06 UTC"
    assert Translator("de").number(1234567) == "1.234.567"
    assert Translator("fr").number(1234567) == "1\u202f234\u202f567"
    assert Translator("es").datetime(moment) == "1 dic 2026, 20:06 UTC"


def test_lang_and_dir() -> None:
    assert (Translator("ja").lang, Translator("ja").direction) == ("ja", "ltr")
    assert Translator("ar").direction == "rtl"


def test_session_devices_are_named_in_the_locale() -> None:
    from keyturn.web.account import device_label

    chrome_on_mac = (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36"
    )
    assert device_label(chrome_on_mac, Translator("de")) == "Chrome auf macOS"
    assert device_label(chrome_on_mac, Translator("ja")) == "macOS の Chrome"
    assert device_label(chrome_on_mac, Translator("en")) == "Chrome on macOS"
    assert device_label("", Translator("fr")) == "Appareil inconnu"
