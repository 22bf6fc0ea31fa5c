"""Which passkeys a tenant accepts (`passkey_options.allowed_credential_types`, the AAGUID
allow- and deny-lists): refused at registration with nothing stored, and at every sign-in, so
a tightened policy also stops passkeys registered before it. The software authenticator makes
real credentials with the backup-eligible flag and the AAGUID a test chooses."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from starlette.testclient import TestClient
from webauthn.helpers import base64url_to_bytes

from keyturn.errors import ConfigError
from tests.flows.test_passkey_failures import assert_error, new_registration, sign_in, submit_signup
from tests.support import browser, store
from tests.support.soft_authenticator import SoftAuthenticator

EMAIL = "ada@example.com"
YUBIKEY = uuid.UUID("cb69481e-8ff7-4039-93ec-0a2729a154a8")  # a device-bound security key model
SYNCED = uuid.UUID("fbfc3007-154e-4ecc-8c0b-6e020557d7bd")  # iCloud Keychain's AAGUID


def security_key() -> SoftAuthenticator:
    return SoftAuthenticator(aaguid=YUBIKEY.bytes, backup_eligible=False, backup_state=False)


def synced_passkey() -> SoftAuthenticator:
    return SoftAuthenticator(aaguid=SYNCED.bytes, backup_eligible=True, backup_state=True)


def refused_signup(client: TestClient, authenticator: SoftAuthenticator, code: str) -> dict[str, Any]:
    flow, credential = new_registration(client, authenticator, email=EMAIL)
    body = assert_error(submit_signup(client, flow, credential), 400, code)
    assert store.find_user(client, EMAIL) is None
    assert store.find_passkey(client, base64url_to_bytes(credential["rawId"])) is None
    return body


@pytest.mark.parametrize(
    ("policy", "refused", "code"),
    [
        ("device_bound", synced_passkey, "synced_passkey_not_allowed"),
        ("synced", security_key, "device_bound_passkey_not_allowed"),
    ],
)
def test_a_passkey_of_the_wrong_kind_is_refused_at_sign_up_and_nothing_is_stored(
    client: TestClient, policy: str, refused: Any, code: str
) -> None:
    store.set_tenant(client, "/passkey_options/allowed_credential_types", policy)

    body = refused_signup(client, refused(), code)

    assert body["error_description"].startswith("Only ")
    (failed,) = store.events_of(client, "fs")
    assert failed.details["error"] == code


@pytest.mark.parametrize(("policy", "accepted"), [("device_bound", security_key), ("synced", synced_passkey)])
def test_a_passkey_of_the_right_kind_signs_up_and_in(client: TestClient, policy: str, accepted: Any) -> None:
    store.set_tenant(client, "/passkey_options/allowed_credential_types", policy)
    authenticator = accepted()

    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    browser.sign_out(client)
    assert sign_in(client, authenticator).status_code == 200


def test_tightening_the_policy_stops_a_synced_passkey_registered_before(client: TestClient) -> None:
    authenticator = synced_passkey()
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    browser.sign_out(client)
    (passkey,) = store.passkeys_of(client, store.user_of(client, EMAIL).id)
    store.set_tenant(client, "/passkey_options/allowed_credential_types", "device_bound")

    assert_error(sign_in(client, authenticator), 400, "synced_passkey_not_allowed")

    assert store.passkeys_of(client, passkey.user_id) == [passkey]  # its sign count did not move
    (failed,) = store.events_of(client, "passkey_challenge_failed")
    assert failed.details["error"] == "synced_passkey_not_allowed"
    store.set_tenant(client, "/passkey_options/allowed_credential_types", "any")
    assert sign_in(client, authenticator).status_code == 200


def test_a_denied_model_is_refused_at_sign_up_and_at_sign_in(client: TestClient) -> None:
    registered = synced_passkey()
    assert browser.signup_with_passkey(client, registered, EMAIL).status_code == 200
    browser.sign_out(client)
    store.set_tenant(client, "/passkey_options/aaguid_denylist", [str(SYNCED).upper()])

    assert_error(sign_in(client, registered), 400, "authenticator_not_allowed")
    user_id = store.user_of(client, EMAIL).id
    store.write(client, lambda tx: tx.delete_user(user_id))
    refused_signup(client, synced_passkey(), "authenticator_not_allowed")
    assert browser.signup_with_passkey(client, security_key(), EMAIL).status_code == 200  # another model


def test_an_allowlist_admits_only_its_models(client: TestClient) -> None:
    store.set_tenant(client, "/passkey_options/aaguid_allowlist", [str(YUBIKEY)])

    refused_signup(client, synced_passkey(), "authenticator_not_allowed")
    assert browser.signup_with_passkey(client, security_key(), EMAIL).status_code == 200


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("/passkey_options/aaguid_denylist", ["not-an-aaguid"]),
        ("/passkey_options/aaguid_allowlist", ["cb69481e8ff7403993ec0a2729a154a8"]),
        ("/passkey_options/allowed_credential_types", "hardware"),
    ],
)
def test_bad_policy_settings_are_refused_and_change_nothing(
    client: TestClient, path: str, value: object
) -> None:
    before = browser.storage(client)

    with pytest.raises(ConfigError):
        store.set_tenant(client, path, value)

    assert browser.storage(client) == before
