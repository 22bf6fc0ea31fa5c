"""The hosted pages in the users' language, over HTTP: ui_locales (carried through the OIDC
journey), Accept-Language, the tenant's default, the operator's texts, JSON errors' texts."""

from __future__ import annotations

import json
import re

from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from keyturn.operations.audit import CLI
from keyturn.operations.tenant_config import PatchOperation, patch_tenant
from tests.support import browser, oidc, store
from tests.support.soft_authenticator import SoftAuthenticator

_LANG = re.compile(r'<html lang="([^"]+)" dir="([^"]+)">')


def lang_of(html: str) -> tuple[str, str]:
    match = _LANG.search(html)
    assert match, "no <html lang dir>"
    return match.group(1), match.group(2)


def patch(client: TestClient, op: str, path: str, value: object = None) -> None:
    """What `keyturn config patch --add path=value` does."""
    store.in_context(client, lambda ctx: patch_tenant(ctx, [PatchOperation(op, path, value)], actor=CLI))  # type: ignore[arg-type]


def test_ui_locales_renders_german_and_carries_to_the_next_pages(client: TestClient) -> None:
    page = client.get("/login?ui_locales=de")
    assert page.status_code == 200
    assert lang_of(page.text) == ("de", "ltr")
    assert "<h1>Anmelden</h1>" in page.text
    assert "Mit Passkey anmelden" in page.text
    assert "Sign in" not in page.text
    assert page.cookies.get("keyturn_ui_locales") == "de"
    texts = re.search(r'<script type="application/json" id="kt-texts">(.*?)</script>', page.text, re.S)
    assert texts, "no kt-texts"
    assert json.loads(texts.group(1))["checking_passkey"] == "Ihr Passkey wird geprüft …"  # the script's
    signup = client.get("/signup", headers={"accept-language": "ja"})
    assert lang_of(signup.text)[0] == "de"  # ui_locales from the journey beat Accept-Language
    assert "<h1>Konto erstellen</h1>" in signup.text


def test_accept_language_renders_japanese(client: TestClient) -> None:
    page = client.get("/login", headers={"accept-language": "ja-JP,ja;q=0.9,en;q=0.5"})
    assert lang_of(page.text) == ("ja", "ltr")
    assert "<h1>ログイン</h1>" in page.text
    assert "パスキーでログイン" in page.text
    assert "keyturn_ui_locales" not in page.cookies  # only an explicit ui_locales is carried


def test_the_tenant_default_and_the_enabled_list(client: TestClient) -> None:
    assert lang_of(client.get("/login").text)[0] == "en"
    patch(client, "replace", "/ui/default_locale", "fr")
    assert "<h1>Se connecter</h1>" in client.get("/login").text
    patch(client, "replace", "/ui/locales", ["fr", "es"])
    spanish = client.get("/login", headers={"accept-language": "de, es;q=0.5"})
    assert lang_of(spanish.text)[0] == "es"  # German is not enabled: the next choice
    discovery = client.get("/.well-known/openid-configuration").json()
    assert discovery["ui_locales_supported"] == ["fr", "es"]


def test_an_oidc_authorization_carries_ui_locales_to_its_login_page(client: TestClient) -> None:
    registered = oidc.register(client)
    response = oidc.authorize(client, registered, ui_locales="fr-CA es")
    assert response.status_code in (302, 303), response.text
    login = response.headers["location"]
    assert login.startswith("/login?")
    client.cookies.delete("keyturn_ui_locales")  # the parked request alone still says French
    page = client.get(login)
    assert lang_of(page.text)[0] == "fr"
    assert "Se connecter avec une clé d’accès" in page.text


def test_json_errors_keep_their_code_and_describe_it_in_the_page_locale(client: TestClient) -> None:
    flow = browser.open_page(client, "/login?ui_locales=de")
    before = browser.storage(client)
    response = client.post(f"/login/flows/{flow.flow_id}", json={"method": "teleport"}, headers=flow.headers)
    assert response.status_code == 400
    assert response.json() == {
        "error": "unknown_method",
        "error_description": "Wählen Sie Passkey oder Passwort.",
    }
    assert browser.storage(client)["users"] == before["users"]
    client.cookies.delete("keyturn_ui_locales")
    japanese = client.post(
        f"/login/flows/{flow.flow_id}",
        json={"method": "teleport"},
        headers={**flow.headers, "accept-language": "ja"},
    )
    assert japanese.json()["error_description"] == "パスキーかパスワードを選んでください。"


def test_the_management_api_stays_english(client: TestClient) -> None:
    response = client.get("/api/v2/users", headers={"accept-language": "de"}, params={"ui_locales": "de"})
    assert response.status_code == 401
    assert response.json()["message"] == "Missing authentication."


def test_operator_overrides_a_page_text_and_an_error_text_per_locale(client: TestClient) -> None:
    patch(client, "add", "/ui/texts/de/Sign in with a passkey", "Weiter mit Passkey")
    patch(client, "add", "/ui/texts/de/unknown_method", "Passkey oder Passwort, bitte.")
    german = client.get("/login?ui_locales=de")
    assert "Weiter mit Passkey" in german.text
    assert "Mit Passkey anmelden" not in german.text
    flow = browser.page_data(german)
    refused = client.post(
        f"/login/flows/{flow['flow_id']}",
        json={"method": "teleport"},
        headers={"x-csrf-token": flow["csrf"]},
    )
    assert refused.json()["error_description"] == "Passkey oder Passwort, bitte."
    french = client.get("/login?ui_locales=fr")
    assert "Se connecter avec une clé d’accès" in french.text  # other locales keep the catalogue's


def test_a_bad_override_is_refused_and_changes_nothing(client: TestClient) -> None:
    import pytest

    from keyturn.errors import ConfigError

    with pytest.raises(ConfigError):
        patch(client, "add", "/ui/texts/xx", {"Sign in": "?"})
    with pytest.raises(ConfigError):
        patch(client, "replace", "/ui/default_locale", "ko")
    page = client.get("/login?ui_locales=de")
    assert "Mit Passkey anmelden" in page.text


def test_account_dates_are_formatted_for_the_locale(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    assert browser.signup_with_passkey(client, authenticator, "ada@example.com").status_code == 200
    german = client.get("/account?ui_locales=de")
    assert "<h1>Ihr Konto</h1>" in german.text
    assert "25.11.2026, 12:00 UTC" in german.text  # the session (the frozen clock's time)
    assert "Diese Sitzung" in german.text
    japanese = client.get("/account?ui_locales=ja")
    assert "2026/11/25 12:00 UTC" in japanese.text
    english = client.get("/account?ui_locales=en")
    assert "Nov 25, 2026, 12:00\u202fPM UTC" in english.text


def test_the_second_factor_pages_in_german(client: TestClient, clock: FrozenClock) -> None:
    from tests.flows import test_second_factors as factors

    factors.signed_up(client)
    assert "<h1>Ihr Konto</h1>" in client.get("/account?ui_locales=de").text  # carried from here on
    setup = client.post("/account/totp/start", data={"csrf": factors.session_csrf(client)})
    assert "<h1>Authenticator-App hinzufügen</h1>" in setup.text
    assert "<title>QR-Code für Ihre Authenticator-App</title>" in setup.text  # the QR code's, too
    secret = factors.add_app(client, clock)
    account = client.get("/account?notice=totp_added").text
    assert "Authenticator-App hinzugefügt." in account
    assert '<h2 id="factors-heading">Bestätigung in zwei Schritten</h2>' in account
    assert "<dt>Hinzugefügt</dt>" in account and ">25.11.2026</time>" in account  # the date filter

    store.set_tenant(client, "/mfa/policy", "optional")
    factors.sign_out(client)
    clock.advance(seconds=60)
    step = factors.to_second_factor(client)
    assert "<h1>Bestätigung in zwei Schritten</h1>" in client.get(step).text
    wrong = factors.answer(client, step, "000000" if factors.code_at(secret, clock) != "000000" else "111111")
    assert "Dieser Code ist nicht richtig." in wrong.text  # the error in the page's language
