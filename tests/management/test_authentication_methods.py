"""/api/v2/users/{id}/authentication-methods (and Auth0's older underscore path, which must
behave identically): a user's password (that it exists, never anything of it) and passkeys
with their WebAuthn facts; operators rename passkeys and revoke them, effective at once."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from starlette.testclient import TestClient
from webauthn.helpers import bytes_to_base64url

from keyturn.clock import FrozenClock
from keyturn.domain.identity import User
from tests.management.conftest import PASSWORD, Api, assert_error
from tests.support import browser
from tests.support.browser import storage
from tests.support.soft_authenticator import SoftAuthenticator
from tests.support.store import passkeys_of, user_of

EMAIL = "ada@example.com"
BASES = ["/users/{user_id}/authentication-methods", "/users/{user_id}/authentication_methods"]
SOFT_AAGUID = "6b657974-7572-6e2d-736f-667461757468"  # b"keyturn-softauth"
NO_METHOD = "The authentication method does not exist."
NO_USER = "The user does not exist."
PASSKEY_FIELDS = {
    "id",
    "type",
    "created_at",
    "name",
    "key_id",
    "public_key",
    "credential_device_type",
    "credential_backed_up",
    "transports",
    "user_handle",
    "identity_user_id",
    "user_agent",
    "aaguid",
    "aaguid_name",
    "attestation",
    "relying_party_identifier",
    "usage",
    "last_auth_at",
}


@pytest.fixture(params=BASES, ids=["hyphen", "underscore"])
def base(request: pytest.FixtureRequest) -> str:
    path: str = request.param
    return path


def add_passkey_on_account(client: TestClient, authenticator: SoftAuthenticator) -> None:
    csrf = browser.open_page(client, "/account").csrf
    started = client.post("/account/passkeys/options", headers={"x-csrf-token": csrf})
    assert started.status_code == 200, started.text
    body = started.json()
    credential = authenticator.create(body["options"], origin=browser.ORIGIN)
    added = client.post(
        "/account/passkeys",
        json={"flow_id": body["flow_id"], "credential": credential},
        headers={"x-csrf-token": body["csrf"]},
    )
    assert added.status_code == 200, added.text


def passkey_user(client: TestClient, email: str = EMAIL) -> tuple[User, SoftAuthenticator]:
    """Signed up with one synced passkey, then signed out."""
    authenticator = SoftAuthenticator()
    assert browser.signup_with_passkey(client, authenticator, email).status_code == 200
    browser.sign_out(client)
    return user_of(client, email), authenticator


def two_passkeys_and_a_password(
    client: TestClient, api: Api, clock: FrozenClock
) -> tuple[User, SoftAuthenticator, SoftAuthenticator]:
    """A device-bound passkey at sign-up, a synced one a minute later, then a password."""
    bound = SoftAuthenticator(backup_eligible=False, backup_state=False, transports=("usb",))
    assert browser.signup_with_passkey(client, bound, EMAIL).status_code == 200
    clock.advance(minutes=1)
    synced = SoftAuthenticator()
    add_passkey_on_account(client, synced)
    browser.sign_out(client)
    user = user_of(client, EMAIL)
    clock.advance(minutes=1)
    api.ok(api.patch(f"/users/{user.id}", json={"password": PASSWORD}))
    return user_of(client, EMAIL), bound, synced


def methods_path(base: str, user_id: str, method_id: str | None = None) -> str:
    path = base.format(user_id=user_id)
    return path if method_id is None else f"{path}/{method_id}"


def sign_in_with(client: TestClient, authenticator: SoftAuthenticator) -> Any:
    response = browser.login_with_passkey(client, authenticator)
    if response.status_code == 200:
        browser.sign_out(client)
    return response


# --- list and read --------------------------------------------------------------------------------


def test_list_the_password_then_passkeys_by_creation(
    client: TestClient, api: Api, clock: FrozenClock, base: str
) -> None:
    user, bound, synced = two_passkeys_and_a_password(client, api, clock)
    stored = passkeys_of(client, user.id)

    methods = api.ok(api.get(methods_path(base, user.id)))

    assert [m["type"] for m in methods] == ["password", "passkey", "passkey"]
    password, first, second = methods
    assert [first["id"], second["id"]] == [p.id for p in stored]
    assert {k for k, v in password.items() if v is not None} == {
        "id",
        "type",
        "created_at",
        "identity_user_id",
        "usage",
    }
    assert password["identity_user_id"] == user.id
    assert password["usage"] == ["primary"]
    assert user.password_hash is not None
    assert user.password_hash not in str(methods) and PASSWORD not in str(methods)
    assert set(first) == set(second) == PASSKEY_FIELDS
    assert first == {
        "id": stored[0].id,
        "type": "passkey",
        "created_at": "2026-11-25T12:00:00Z",
        "name": "Passkey",
        "key_id": bytes_to_base64url(next(iter(bound.credentials))),
        "public_key": base64.b64encode(stored[0].public_key).decode(),
        "credential_device_type": "single_device",
        "credential_backed_up": False,
        "transports": ["usb"],
        "user_handle": bytes_to_base64url(user.user_handle),
        "identity_user_id": user.id,
        "user_agent": "testclient",
        "aaguid": SOFT_AAGUID,
        "aaguid_name": None,  # not in the AAGUID list
        "attestation": {
            "format": "none",
            "type": "none",
            "verified": False,
            "provider": None,
            "certification_level": None,
        },
        "relying_party_identifier": "localhost",
        "usage": ["primary"],
        "last_auth_at": None,
    }
    assert second["created_at"] == "2026-11-25T12:01:00Z"
    assert second["key_id"] == bytes_to_base64url(next(iter(synced.credentials)))
    assert (second["credential_device_type"], second["credential_backed_up"]) == ("multi_device", True)
    assert second["transports"] == ["internal", "hybrid"]
    assert second["last_auth_at"] is None


def test_last_auth_at_is_set_by_a_sign_in(
    client: TestClient, api: Api, clock: FrozenClock, base: str
) -> None:
    user, authenticator = passkey_user(client)
    clock.advance(hours=2)

    assert sign_in_with(client, authenticator).status_code == 200

    (passkey,) = api.ok(api.get(methods_path(base, user.id)))
    assert passkey["last_auth_at"] == "2026-11-25T14:00:00Z"
    assert passkey["created_at"] == "2026-11-25T12:00:00Z"


def test_get_one_method(client: TestClient, api: Api, clock: FrozenClock, base: str) -> None:
    user, _, _ = two_passkeys_and_a_password(client, api, clock)
    listed = api.ok(api.get(methods_path(base, user.id)))

    for method in listed:
        assert api.ok(api.get(methods_path(base, user.id, method["id"]))) == method


def test_both_paths_answer_the_same(client: TestClient, api: Api, clock: FrozenClock) -> None:
    user, _, _ = two_passkeys_and_a_password(client, api, clock)

    hyphen, underscore = (api.ok(api.get(methods_path(b, user.id))) for b in BASES)

    assert hyphen == underscore


def test_a_user_without_methods_has_an_empty_list(api: Api, base: str) -> None:
    user = api.create_user(EMAIL)

    assert api.ok(api.get(methods_path(base, user["user_id"]))) == []


# --- 404s ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "json"),
    [
        ("GET", "", None),
        ("DELETE", "", None),
        ("GET", "/some-id", None),
        ("PATCH", "/some-id", {"name": "x"}),
        ("DELETE", "/some-id", None),
    ],
)
def test_an_unknown_user_is_404(
    client: TestClient, api: Api, base: str, method: str, suffix: str, json: dict[str, str] | None
) -> None:
    api.token()
    before = storage(client)

    response = api.request(method, methods_path(base, "no-such-user") + suffix, json=json)

    body = assert_error(response, 404, "inexistent_user")
    assert body["message"] == NO_USER
    assert storage(client) == before


@pytest.mark.parametrize(
    ("method", "json"), [("GET", None), ("PATCH", {"name": "Mine now"}), ("DELETE", None)]
)
def test_an_unknown_method_or_another_users_passkey_is_404(
    client: TestClient, api: Api, base: str, method: str, json: dict[str, str] | None
) -> None:
    ada, _ = passkey_user(client)
    bob, bob_authenticator = passkey_user(client, "bob@example.com")
    bobs_passkey = passkeys_of(client, bob.id)[0]
    api.token()
    before = storage(client)

    for method_id in ("no-such-method", bobs_passkey.id, f"password|{bob.id}"):
        response = api.request(method, methods_path(base, ada.id, method_id), json=json)
        body = assert_error(response, 404, "authenticator_not_found")
        assert body["message"] == NO_METHOD

    assert storage(client) == before
    assert sign_in_with(client, bob_authenticator).status_code == 200


# --- rename -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [("Work laptop", "Work laptop"), ("  Work \t laptop  ", "Work laptop"), ("n" * 64, "n" * 64)],
)
def test_rename_a_passkey(client: TestClient, api: Api, base: str, given: str, stored: str) -> None:
    user, _ = passkey_user(client)
    passkey_id = passkeys_of(client, user.id)[0].id

    body = api.ok(api.patch(methods_path(base, user.id, passkey_id), json={"name": given}))

    assert body["name"] == stored
    assert passkeys_of(client, user.id)[0].name == stored
    assert api.ok(api.get(methods_path(base, user.id, passkey_id))) == body


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "   "},
        {"name": "\t\n"},
        {"name": "n" * 65},
        {},
        {"name": 7},
        {"name": "ok", "x": 1},
        {"name": "Work\x00laptop"},  # PostgreSQL cannot store U+0000: refused alike on both backends
    ],
    ids=["empty", "spaces", "whitespace", "too-long", "missing", "not-a-string", "unknown-field", "nul"],
)
def test_a_bad_name_is_400_and_changes_nothing(client: TestClient, api: Api, base: str, body: Any) -> None:
    user, _ = passkey_user(client)
    passkey_id = passkeys_of(client, user.id)[0].id
    api.token()
    before = storage(client)

    response = api.patch(methods_path(base, user.id, passkey_id), json=body)

    assert_error(response, 400)
    assert storage(client) == before
    assert passkeys_of(client, user.id)[0].name == "Passkey"


def test_the_password_has_no_name_to_change(client: TestClient, api: Api, base: str) -> None:
    user = api.create_user(EMAIL, password=PASSWORD)
    before = storage(client)

    response = api.patch(
        methods_path(base, user["user_id"], f"password|{user['user_id']}"), json={"name": "x"}
    )

    assert response.status_code in (400, 404), response.text
    assert_error(response, response.status_code)
    assert storage(client) == before


# --- revoke -------------------------------------------------------------------------------------


def test_delete_one_passkey_and_the_next_sign_in_with_it_fails(
    client: TestClient, api: Api, clock: FrozenClock, base: str
) -> None:
    user, bound, synced = two_passkeys_and_a_password(client, api, clock)
    revoked = passkeys_of(client, user.id)[0]

    response = api.delete(methods_path(base, user.id, revoked.id))

    assert response.status_code == 204, response.text
    assert response.content == b""
    remaining = [p.id for p in passkeys_of(client, user.id)]
    assert len(remaining) == 1 and revoked.id not in remaining
    refused = browser.login_with_passkey(client, bound)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "unknown_credential"
    assert sign_in_with(client, synced).status_code == 200
    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 200
    assert_error(api.get(methods_path(base, user.id, revoked.id)), 404, "authenticator_not_found")
    assert_error(api.delete(methods_path(base, user.id, revoked.id)), 404, "authenticator_not_found")


def test_an_operator_may_delete_the_last_passkey(client: TestClient, api: Api, base: str) -> None:
    user, authenticator = passkey_user(client)
    passkey_id = passkeys_of(client, user.id)[0].id

    assert api.delete(methods_path(base, user.id, passkey_id)).status_code == 204

    assert passkeys_of(client, user.id) == []
    assert api.ok(api.get(methods_path(base, user.id))) == []
    refused = browser.login_with_passkey(client, authenticator)
    assert refused.json()["error"] == "unknown_credential"


def test_delete_the_password_keeps_the_passkeys(
    client: TestClient, api: Api, clock: FrozenClock, base: str
) -> None:
    user, bound, _ = two_passkeys_and_a_password(client, api, clock)

    assert api.delete(methods_path(base, user.id, f"password|{user.id}")).status_code == 204

    assert user_of(client, EMAIL).password_hash is None
    assert [m["type"] for m in api.ok(api.get(methods_path(base, user.id)))] == ["passkey", "passkey"]
    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 401
    assert sign_in_with(client, bound).status_code == 200


def test_delete_all_revokes_every_passkey_and_keeps_the_password(
    client: TestClient, api: Api, clock: FrozenClock, base: str
) -> None:
    user, bound, synced = two_passkeys_and_a_password(client, api, clock)
    other, other_authenticator = passkey_user(client, "bob@example.com")

    response = api.delete(methods_path(base, user.id))

    assert response.status_code == 204, response.text
    assert passkeys_of(client, user.id) == []
    assert [m["type"] for m in api.ok(api.get(methods_path(base, user.id)))] == ["password"]
    for authenticator in (bound, synced):
        refused = browser.login_with_passkey(client, authenticator)
        assert refused.json()["error"] == "unknown_credential", refused.text
    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 200
    browser.sign_out(client)
    assert len(passkeys_of(client, other.id)) == 1  # nobody else's
    assert sign_in_with(client, other_authenticator).status_code == 200


def test_delete_all_of_a_user_without_passkeys_is_204(client: TestClient, api: Api, base: str) -> None:
    user = api.create_user(EMAIL, password=PASSWORD)

    assert api.delete(methods_path(base, user["user_id"])).status_code == 204

    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 200
