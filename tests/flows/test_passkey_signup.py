"""Passkey registration over HTTP: sign-up, adding a passkey from /account, and what is stored.

Every ceremony uses the software authenticator's real attestation bytes.
"""

from __future__ import annotations

import struct
import uuid
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from httpx2 import Response
from starlette.testclient import TestClient
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from keyturn.clock import FrozenClock
from keyturn.domain.email import normalize_email
from keyturn.domain.identity import User
from tests.support import browser, store
from tests.support.soft_authenticator import (
    DEFAULT_AAGUID,
    EDDSA,
    ES256,
    RS256,
    CredentialExcluded,
    SoftAuthenticator,
)

EMAIL = "ada@example.com"
GOOGLE_PASSWORD_MANAGER = uuid.UUID("ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4")


# --- small local helpers -------------------------------------------------------------


def set_tenant(client: TestClient, path: str, value: object) -> None:
    store.set_tenant(client, path, value)


def signed_up(client: TestClient, authenticator: SoftAuthenticator, email: str = EMAIL) -> User:
    response = browser.signup_with_passkey(client, authenticator, email)
    assert response.status_code == 200, response.text
    user = store.find_user(client, normalize_email(email))
    assert user is not None
    return user


def add_passkey_options(client: TestClient) -> dict[str, Any]:
    """POST /account/passkeys/options with the session's CSRF token: {flow_id, csrf, options}."""
    account = browser.open_page(client, "/account")
    response = client.post("/account/passkeys/options", headers={"x-csrf-token": account.csrf})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def complete_add_passkey(client: TestClient, started: dict[str, Any], credential: dict[str, Any]) -> Response:
    return client.post(
        "/account/passkeys",
        json={"flow_id": started["flow_id"], "credential": credential},
        headers={"x-csrf-token": started["csrf"]},
    )


def add_passkey(client: TestClient, authenticator: SoftAuthenticator) -> Response:
    """The whole add-passkey ceremony from /account with another authenticator."""
    started = add_passkey_options(client)
    return complete_add_passkey(
        client, started, authenticator.create(started["options"], origin=browser.ORIGIN)
    )


def b64(value: str) -> bytes:
    return base64url_to_bytes(value)


def with_initial_sign_count(credential: dict[str, Any], count: int) -> dict[str, Any]:
    """Rewrite the counter in a "none" attestation's authData (nothing signs it), as an
    authenticator with a global counter would report it."""
    attestation = cbor2.loads(b64(credential["response"]["attestationObject"]))
    auth_data = attestation["authData"]
    attestation["authData"] = auth_data[:33] + struct.pack(">I", count) + auth_data[37:]
    response = {**credential["response"], "attestationObject": bytes_to_base64url(cbor2.dumps(attestation))}
    return {**credential, "response": response}


# --- sign-up ------------------------------------------------------------------------


def test_passkey_signup_creates_the_account_and_signs_in(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    response = browser.signup_with_passkey(client, authenticator, EMAIL)

    assert response.status_code == 200, response.text
    assert response.json() == {"redirect_to": "/account"}
    assert "keyturn_session" in response.cookies
    user = store.find_user(client, EMAIL)
    assert user is not None
    assert user.password_hash is None
    assert [p.credential_id for p in store.passkeys_of(client, user.id)] == list(authenticator.credentials)
    assert EMAIL in client.get("/account").text


def test_signup_stores_the_email_in_normal_form(client: TestClient, authenticator: SoftAuthenticator) -> None:
    signed_up(client, authenticator, "  Ada.Lovelace@Example.COM ")

    assert store.find_user(client, "ada.lovelace@example.com") is not None


@pytest.mark.parametrize("alg", [EDDSA, ES256, RS256], ids=["EdDSA", "ES256", "RS256"])
def test_signup_and_sign_in_work_with_each_offered_algorithm(client: TestClient, alg: int) -> None:
    authenticator = SoftAuthenticator(alg=alg)
    user = signed_up(client, authenticator)
    browser.sign_out(client)

    response = browser.login_with_passkey(client, authenticator)

    assert response.status_code == 200, response.text
    [passkey] = store.passkeys_of(client, user.id)
    assert cbor2.loads(passkey.public_key)[3] == alg


# --- registration options -------------------------------------------------------------


def test_registration_options_require_a_discoverable_credential(client: TestClient) -> None:
    _, options = browser.signup_options(client, EMAIL)

    selection = options["authenticatorSelection"]
    assert selection["residentKey"] == "required"
    assert selection["requireResidentKey"] is True


def test_registration_options_require_user_verification_by_default(client: TestClient) -> None:
    _, options = browser.signup_options(client, EMAIL)

    assert options["authenticatorSelection"]["userVerification"] == "required"


def test_registration_options_prefer_user_verification_when_the_tenant_says_so(client: TestClient) -> None:
    set_tenant(client, "/passkey_options/user_verification", "preferred")

    _, options = browser.signup_options(client, EMAIL)

    assert options["authenticatorSelection"]["userVerification"] == "preferred"


def test_registration_options_offer_exactly_eddsa_es256_rs256_in_that_order(client: TestClient) -> None:
    _, options = browser.signup_options(client, EMAIL)

    assert options["pubKeyCredParams"] == [
        {"type": "public-key", "alg": -8},
        {"type": "public-key", "alg": -7},
        {"type": "public-key", "alg": -257},
    ]


def test_registration_options_ask_for_no_attestation(client: TestClient) -> None:
    _, options = browser.signup_options(client, EMAIL)

    assert options["attestation"] == "none"


def test_registration_options_name_the_tenant_rp(client: TestClient) -> None:
    _, options = browser.signup_options(client, EMAIL)

    assert options["rp"] == {"id": "localhost", "name": "Keyturn"}
    assert options["user"]["name"] == EMAIL
    assert options["timeout"] == 300_000


def test_signup_options_exclude_nothing(client: TestClient) -> None:
    _, options = browser.signup_options(client, EMAIL)

    assert options.get("excludeCredentials", []) == []


def test_registration_challenge_is_32_fresh_random_bytes(client: TestClient) -> None:
    _, first = browser.signup_options(client, EMAIL)
    _, second = browser.signup_options(client, EMAIL)

    assert len(b64(first["challenge"])) >= 32
    assert len(b64(second["challenge"])) >= 32
    assert first["challenge"] != second["challenge"]


def test_user_handle_is_64_random_bytes_not_the_email_nor_the_database_id(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    flow, options = browser.signup_options(client, EMAIL)
    credential = authenticator.create(options, origin=browser.ORIGIN)
    response = client.post(
        f"/signup/flows/{flow.flow_id}",
        json={"method": "passkey", "credential": credential},
        headers=flow.headers,
    )
    assert response.status_code == 200, response.text
    user = store.find_user(client, EMAIL)
    assert user is not None

    handle = b64(options["user"]["id"])
    assert len(handle) == 64
    assert handle == user.user_handle
    assert EMAIL.encode() not in handle
    assert user.id.encode() not in handle
    assert uuid.UUID(user.id).bytes not in handle


def test_each_user_gets_a_different_user_handle(client: TestClient) -> None:
    ada = signed_up(client, SoftAuthenticator(), "ada@example.com")
    browser.sign_out(client)
    grace = signed_up(client, SoftAuthenticator(), "grace@example.com")

    assert ada.user_handle != grace.user_handle


def test_user_verification_preferred_accepts_an_authenticator_without_uv(client: TestClient) -> None:
    set_tenant(client, "/passkey_options/user_verification", "preferred")

    response = browser.signup_with_passkey(client, SoftAuthenticator(user_verified=False), EMAIL)

    assert response.status_code == 200, response.text
    assert store.find_user(client, EMAIL) is not None


def test_a_credential_id_of_1023_bytes_is_accepted(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    credential_id = bytes(range(256)) * 3 + bytes(255)
    assert len(credential_id) == 1023
    flow, options = browser.signup_options(client, EMAIL)
    credential = authenticator.create(options, origin=browser.ORIGIN, credential_id=credential_id)

    response = client.post(
        f"/signup/flows/{flow.flow_id}",
        json={"method": "passkey", "credential": credential},
        headers=flow.headers,
    )

    assert response.status_code == 200, response.text
    stored = store.write(client, lambda tx: tx.find_passkey(credential_id))
    assert stored is not None
    assert stored.credential_id == credential_id


@pytest.mark.parametrize("count", [7, 2**31, 2**32 - 1], ids=["7", "2^31", "2^32-1"])
def test_a_registration_reporting_a_non_zero_sign_count_stores_it(
    client: TestClient, authenticator: SoftAuthenticator, count: int
) -> None:
    # signCount is an unsigned 32-bit integer; authenticators with a global counter start above 0.
    flow, options = browser.signup_options(client, EMAIL)
    credential = with_initial_sign_count(authenticator.create(options, origin=browser.ORIGIN), count)

    response = client.post(
        f"/signup/flows/{flow.flow_id}",
        json={"method": "passkey", "credential": credential},
        headers=flow.headers,
    )

    assert response.status_code == 200, response.text
    stored = store.write(client, lambda tx: tx.find_passkey(next(iter(authenticator.credentials))))
    assert stored is not None
    assert stored.sign_count == count


# --- what is stored per passkey ------------------------------------------------------


def test_signup_stores_every_passkey_field(client: TestClient, clock: FrozenClock) -> None:
    authenticator = SoftAuthenticator(transports=("internal", "hybrid"))
    user_agent = "Mozilla/5.0 (KeyturnTest) Soft/1.0"
    flow, options = browser.signup_options(client, EMAIL)
    credential = authenticator.create(options, origin=browser.ORIGIN)
    response = client.post(
        f"/signup/flows/{flow.flow_id}",
        json={"method": "passkey", "credential": credential},
        headers={**flow.headers, "user-agent": user_agent},
    )
    assert response.status_code == 200, response.text
    user = store.find_user(client, EMAIL)
    assert user is not None

    [passkey] = store.passkeys_of(client, user.id)
    [(credential_id, held)] = authenticator.credentials.items()
    assert passkey.user_id == user.id
    assert passkey.credential_id == credential_id
    assert passkey.sign_count == 0
    assert passkey.aaguid == str(uuid.UUID(bytes=DEFAULT_AAGUID))
    assert passkey.transports == ("internal", "hybrid")
    assert passkey.backup_eligible is True
    assert passkey.backup_state is True
    assert passkey.user_handle == user.user_handle == b64(options["user"]["id"])
    assert passkey.rp_id == "localhost"
    assert passkey.name == "Passkey"  # the made-up AAGUID names no provider
    assert passkey.created_at == clock.now()
    assert passkey.last_used_at is None
    assert passkey.user_agent == user_agent
    cose = cbor2.loads(passkey.public_key)
    assert isinstance(held.private_key, ec.EllipticCurvePrivateKey)
    numbers = held.private_key.public_key().public_numbers()
    assert (cose[3], cose[-2], cose[-3]) == (
        ES256,
        numbers.x.to_bytes(32, "big"),
        numbers.y.to_bytes(32, "big"),
    )


def test_passkey_is_named_after_the_provider_its_aaguid_names(client: TestClient) -> None:
    user = signed_up(client, SoftAuthenticator(aaguid=GOOGLE_PASSWORD_MANAGER.bytes))

    [passkey] = store.passkeys_of(client, user.id)
    assert passkey.aaguid == str(GOOGLE_PASSWORD_MANAGER)
    assert passkey.name == "Google Password Manager"


def test_device_bound_passkey_is_stored_as_not_backup_eligible(client: TestClient) -> None:
    user = signed_up(client, SoftAuthenticator(backup_eligible=False, backup_state=False))

    [passkey] = store.passkeys_of(client, user.id)
    assert passkey.backup_eligible is False
    assert passkey.backup_state is False
    assert passkey.device_type == "single_device"


def test_synced_passkey_not_yet_backed_up_is_stored_as_such(client: TestClient) -> None:
    user = signed_up(client, SoftAuthenticator(backup_eligible=True, backup_state=False))

    [passkey] = store.passkeys_of(client, user.id)
    assert passkey.backup_eligible is True
    assert passkey.backup_state is False


# --- adding a passkey from /account ---------------------------------------------------


def test_add_passkey_options_exclude_the_users_existing_passkeys(client: TestClient) -> None:
    laptop, phone = SoftAuthenticator(), SoftAuthenticator()
    user = signed_up(client, laptop)
    assert add_passkey(client, phone).status_code == 200

    options = add_passkey_options(client)["options"]

    excluded = {b64(d["id"]) for d in options["excludeCredentials"]}
    assert excluded == {p.credential_id for p in store.passkeys_of(client, user.id)}
    assert len(excluded) == 2


def test_an_authenticator_already_holding_a_passkey_refuses_to_add_another(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    signed_up(client, authenticator)

    options = add_passkey_options(client)["options"]

    with pytest.raises(CredentialExcluded):
        authenticator.create(options, origin=browser.ORIGIN)


def test_add_passkey_options_reuse_the_users_handle(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    user = signed_up(client, authenticator)

    options = add_passkey_options(client)["options"]

    assert b64(options["user"]["id"]) == user.user_handle
    assert options["user"]["name"] == EMAIL
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["attestation"] == "none"
    assert len(b64(options["challenge"])) >= 32


def test_adding_a_passkey_stores_it_for_the_signed_in_user(
    client: TestClient, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    user = signed_up(client, authenticator)
    clock.advance(minutes=10)
    phone = SoftAuthenticator(aaguid=GOOGLE_PASSWORD_MANAGER.bytes)
    started = add_passkey_options(client)

    response = complete_add_passkey(client, started, phone.create(started["options"], origin=browser.ORIGIN))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "Google Password Manager"
    assert body["redirect_to"] == "/account?notice=passkey_added"
    first, added = store.passkeys_of(client, user.id)
    assert added.id == body["id"]
    assert added.credential_id == next(iter(phone.credentials))
    assert added.user_handle == user.user_handle == first.user_handle
    assert added.created_at == clock.now()


def test_a_passkey_added_from_account_signs_in(client: TestClient, authenticator: SoftAuthenticator) -> None:
    signed_up(client, authenticator)
    phone = SoftAuthenticator()
    assert add_passkey(client, phone).status_code == 200
    browser.sign_out(client)

    response = browser.login_with_passkey(client, phone)

    assert response.status_code == 200, response.text
