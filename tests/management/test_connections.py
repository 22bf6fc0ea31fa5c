"""/api/v2/connections: the tenant's one database connection, whose options are the tenant
settings under Auth0's names. A PATCH is merged, validated as a whole and saved; a bad one
is a 400 naming the key and changes nothing; a good one changes the hosted pages at once."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.management.conftest import PASSWORD, Api, assert_error
from tests.support import browser
from tests.support.browser import storage
from tests.support.soft_authenticator import SoftAuthenticator

CONNECTION = "/connections/con_keyturn"
NAME = "Username-Password-Authentication"
_EMAIL_AUTOCOMPLETE = re.compile(r'<input id="email"[^>]*?autocomplete="([^"]*)"', re.S)


def email_autocomplete(client: TestClient) -> str:
    page = client.get("/login")
    assert page.status_code == 200, page.text
    match = _EMAIL_AUTOCOMPLETE.search(page.text)
    assert match, "no email field on /login"
    return match.group(1)


def signup_page(client: TestClient) -> str:
    page = client.get("/signup")
    assert page.status_code == 200, page.text
    return page.text


def a_passkey_user(client: TestClient, email: str) -> SoftAuthenticator:
    authenticator = SoftAuthenticator()
    assert browser.signup_with_passkey(client, authenticator, email).status_code == 200
    browser.sign_out(client)
    return authenticator


# --- read ---------------------------------------------------------------------------------------


def test_the_one_connection(api: Api) -> None:
    (connection,) = api.ok(api.get("/connections"))

    assert connection["id"] == "con_keyturn"
    assert connection["name"] == NAME
    assert connection["strategy"] == "auth0"
    assert connection["realms"] == [NAME]
    assert connection["is_domain_connection"] is False
    options = connection["options"]
    assert options["authentication_methods"] == {"password": {"enabled": True}, "passkey": {"enabled": True}}
    assert options["passkey_options"] == {
        "challenge_ui": "both",
        "progressive_enrollment_enabled": True,
        "progressive_enrollment_mode": "both",
        "progressive_enrollment_snooze_days": 14,
        "local_enrollment_enabled": True,
        "max_passkeys_per_user": 20,
        "user_verification": "required",
        "allowed_credential_types": "any",
        "aaguid_allowlist": [],
        "aaguid_denylist": [],
        "attestation": "none",
    }
    assert options["rp"]["id"] == "localhost"
    assert connection["display_name"] == options["rp"]["display_name"]
    assert api.ok(api.get(CONNECTION)) == connection


@pytest.mark.parametrize(
    ("params", "found"),
    [
        ({"strategy": "auth0"}, 1),
        ({"name": NAME}, 1),
        ({"strategy": "auth0", "name": NAME}, 1),
        ({"strategy": "google-oauth2"}, 0),
        ({"name": "Other"}, 0),
    ],
)
def test_list_filters(api: Api, params: dict[str, str], found: int) -> None:
    assert len(api.ok(api.get("/connections", params=params))) == found


@pytest.mark.parametrize("method", ["GET", "PATCH"])
def test_an_unknown_connection_is_404(client: TestClient, api: Api, method: str) -> None:
    api.token()
    before = storage(client)

    response = api.request(
        method, "/connections/con_other", json={"display_name": "X"} if method == "PATCH" else None
    )

    assert_error(response, 404, "inexistent_connection")
    assert storage(client) == before


def test_creating_a_connection_is_409(client: TestClient, api: Api) -> None:
    api.token()
    before = storage(client)

    response = api.post("/connections", json={"name": "Other-Database", "strategy": "auth0"})

    body = assert_error(response, 409)
    assert NAME in body["message"]
    assert storage(client) == before
    assert len(api.ok(api.get("/connections"))) == 1


# --- refused changes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"options": {"passkey_options": {"challenge_ui": "popup"}}}, "challenge_ui"),
        (
            {
                "options": {
                    "authentication_methods": {"password": {"enabled": False}, "passkey": {"enabled": False}}
                }
            },
            "password",
        ),
        ({"options": {"colour": "blue"}}, "colour"),
        ({"options": {"passkey_options": {"timeout": 60}}}, "timeout"),
        ({"options": {"passkey_options": {"max_passkeys_per_user": 0}}}, "max_passkeys_per_user"),
        ({"options": {"passkey_options": {"user_verification": "discouraged"}}}, "user_verification"),
        ({"options": {"authentication_methods": {"password": {"enabled": "sometimes"}}}}, "enabled"),
        ({"options": {"rp": {"origins": ["https://evil.example"]}}}, "origin"),
        ({"display_name": ""}, "display_name"),
    ],
    ids=[
        "challenge_ui",
        "both-methods-off",
        "unknown-key",
        "unknown-nested-key",
        "max-passkeys-0",
        "user_verification",
        "enabled-not-bool",
        "foreign-origin",
        "empty-display-name",
    ],
)
def test_a_bad_option_is_400_naming_it_and_changes_nothing(
    client: TestClient, api: Api, body: dict[str, Any], named: str
) -> None:
    before_connection = api.ok(api.get(CONNECTION))
    before = storage(client)

    response = api.patch(CONNECTION, json=body)

    error = assert_error(response, 400)
    assert named in error["message"], error["message"]
    assert storage(client) == before
    assert api.ok(api.get(CONNECTION)) == before_connection


def test_both_methods_off_is_refused_saying_one_must_stay(client: TestClient, api: Api) -> None:
    off = {"enabled": False}
    response = api.patch(
        CONNECTION, json={"options": {"authentication_methods": {"password": off, "passkey": off}}}
    )

    message = assert_error(response, 400)["message"]
    assert "password" in message and "passkey" in message


@pytest.mark.parametrize(
    "body",
    [
        {"strategy": "google-oauth2"},
        {"options": "all of them"},
        {"options": ["passkey"]},
        {"display_name": 7},
        {"options": {"rp": "example.com"}, "display_name": "Acme"},
        {"options": {"rp": None}, "display_name": "Acme"},
    ],
    ids=["unknown-field", "options-string", "options-list", "display-name-number", "rp-string", "rp-null"],
)
def test_a_malformed_patch_is_400_and_changes_nothing(
    client: TestClient, api: Api, body: dict[str, Any]
) -> None:
    api.token()
    before = storage(client)

    assert_error(api.patch(CONNECTION, json=body), 400)

    assert storage(client) == before


# --- changes that take effect ---------------------------------------------------------------------


def test_a_patch_is_merged_key_by_key(api: Api) -> None:
    body = api.ok(api.patch(CONNECTION, json={"options": {"passkey_options": {"max_passkeys_per_user": 5}}}))

    assert body["options"]["passkey_options"] == {
        "challenge_ui": "both",
        "progressive_enrollment_enabled": True,
        "progressive_enrollment_mode": "both",
        "progressive_enrollment_snooze_days": 14,
        "local_enrollment_enabled": True,
        "max_passkeys_per_user": 5,
        "user_verification": "required",
        "allowed_credential_types": "any",
        "aaguid_allowlist": [],
        "aaguid_denylist": [],
        "attestation": "none",
    }
    assert body["options"]["authentication_methods"]["password"] == {"enabled": True}
    assert api.ok(api.get(CONNECTION)) == body


def test_display_name_is_the_relying_partys_name(api: Api) -> None:
    body = api.ok(api.patch(CONNECTION, json={"display_name": "Acme Sign-in"}))

    assert body["display_name"] == "Acme Sign-in"
    assert body["options"]["rp"]["display_name"] == "Acme Sign-in"
    assert api.ok(api.get("/connections"))[0]["display_name"] == "Acme Sign-in"


def test_challenge_ui_button_turns_off_autofill_on_login(client: TestClient, api: Api) -> None:
    assert "webauthn" in email_autocomplete(client).split()

    body = api.ok(api.patch(CONNECTION, json={"options": {"passkey_options": {"challenge_ui": "button"}}}))

    assert body["options"]["passkey_options"]["challenge_ui"] == "button"
    assert "webauthn" not in email_autocomplete(client).split()
    api.ok(api.patch(CONNECTION, json={"options": {"passkey_options": {"challenge_ui": "autofill"}}}))
    assert "webauthn" in email_autocomplete(client).split()


def test_turning_passwords_off_takes_effect_on_the_hosted_pages(client: TestClient, api: Api) -> None:
    api.create_user("ada@example.com", password=PASSWORD)
    assert "Use a password instead" in signup_page(client)

    api.ok(
        api.patch(CONNECTION, json={"options": {"authentication_methods": {"password": {"enabled": False}}}})
    )

    refused = browser.login_with_password(client, "ada@example.com", PASSWORD)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "method_disabled"
    assert "Use a password instead" not in signup_page(client)
    signup = browser.signup_with_password(client, "bob@example.com", PASSWORD)
    assert signup.status_code == 403, signup.text
    assert signup.json()["error"] == "method_disabled"
    api.ok(
        api.patch(CONNECTION, json={"options": {"authentication_methods": {"password": {"enabled": True}}}})
    )
    assert browser.login_with_password(client, "ada@example.com", PASSWORD).status_code == 200


def test_turning_passkeys_off_refuses_passkey_sign_in(client: TestClient, api: Api) -> None:
    authenticator = a_passkey_user(client, "ada@example.com")
    api.ok(
        api.patch(CONNECTION, json={"options": {"authentication_methods": {"passkey": {"enabled": False}}}})
    )

    flow = browser.open_page(client, "/login")
    refused = client.post(f"/login/flows/{flow.flow_id}/passkey/options", headers=flow.headers)

    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "method_disabled"
    assert "webauthn" not in email_autocomplete(client).split()
    api.ok(
        api.patch(CONNECTION, json={"options": {"authentication_methods": {"passkey": {"enabled": True}}}})
    )
    assert browser.login_with_passkey(client, authenticator).status_code == 200


# --- the RP ID ----------------------------------------------------------------------------------

NEW_RP = {"options": {"rp": {"id": "example.com", "origins": ["https://example.com"]}}}


@pytest.mark.parametrize(("users", "count_text"), [(1, "1 passkey "), (2, "2 passkeys")])
def test_an_rp_id_change_that_orphans_passkeys_is_409_saying_how_many(
    client: TestClient, api: Api, users: int, count_text: str
) -> None:
    for n in range(users):
        a_passkey_user(client, f"user{n}@example.com")
    before_connection = api.ok(api.get(CONNECTION))
    before = storage(client)

    response = api.patch(CONNECTION, json=NEW_RP)

    body = assert_error(response, 409, "rp_id_change_orphans_passkeys")
    assert count_text in body["message"]
    assert "force" in body["message"]
    assert storage(client) == before
    assert api.ok(api.get(CONNECTION)) == before_connection


def test_force_allows_an_rp_id_change_that_orphans_passkeys(client: TestClient, api: Api) -> None:
    a_passkey_user(client, "ada@example.com")

    body = api.ok(api.patch(CONNECTION, params={"force": "true"}, json=NEW_RP))

    assert body["options"]["rp"]["id"] == "example.com"
    assert body["options"]["rp"]["origins"] == ["https://example.com"]
    assert api.ok(api.get(CONNECTION))["options"]["rp"]["id"] == "example.com"


def test_an_rp_id_change_without_passkeys_needs_no_force(api: Api) -> None:
    api.create_user("ada@example.com", password=PASSWORD)

    body = api.ok(api.patch(CONNECTION, json=NEW_RP))

    assert body["options"]["rp"]["id"] == "example.com"
