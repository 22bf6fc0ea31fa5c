"""Passkey sign-in over HTTP: discoverable (button/autofill) and identifier-first, and its records.

Every assertion is signed by the software authenticator's real keys.
"""

from __future__ import annotations

from typing import Any

import pytest
from httpx2 import Response
from starlette.testclient import TestClient
from webauthn.helpers import base64url_to_bytes

from keyturn.clock import FrozenClock
from keyturn.domain.identity import Passkey, User
from keyturn.store.cache import PRIOR_COUNTS
from tests.support import browser, store
from tests.support.browser import PageFlow
from tests.support.soft_authenticator import SoftAuthenticator

EMAIL = "ada@example.com"


# --- small local helpers -------------------------------------------------------------


def set_tenant(client: TestClient, path: str, value: object) -> None:
    store.set_tenant(client, path, value)


def stored_passkey(client: TestClient, credential_id: bytes) -> Passkey:
    passkey = store.write(client, lambda tx: tx.find_passkey(credential_id))
    assert passkey is not None
    return passkey


def only_credential(authenticator: SoftAuthenticator) -> bytes:
    [credential_id] = authenticator.credentials
    return credential_id


def registered(client: TestClient, authenticator: SoftAuthenticator, email: str = EMAIL) -> User:
    """A passkey account, signed out again, as a returning visitor would be."""
    response = browser.signup_with_passkey(client, authenticator, email)
    assert response.status_code == 200, response.text
    browser.sign_out(client)
    return store.user_of(client, email)


def add_passkey(client: TestClient, authenticator: SoftAuthenticator) -> None:
    """Add one more passkey from /account (the client must be signed in)."""
    account = browser.open_page(client, "/account")
    started = client.post("/account/passkeys/options", headers={"x-csrf-token": account.csrf}).json()
    credential = authenticator.create(started["options"], origin=browser.ORIGIN)
    response = client.post(
        "/account/passkeys",
        json={"flow_id": started["flow_id"], "credential": credential},
        headers={"x-csrf-token": started["csrf"]},
    )
    assert response.status_code == 200, response.text


def identify(client: TestClient, email: str) -> tuple[PageFlow, dict[str, Any]]:
    flow = browser.open_page(client, "/login")
    response = client.post(
        f"/login/flows/{flow.flow_id}/identify", json={"email": email}, headers=flow.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return flow, body


def allowed_ids(options: dict[str, Any]) -> list[bytes]:
    return [base64url_to_bytes(d["id"]) for d in options.get("allowCredentials") or []]


def sign_in(client: TestClient, authenticator: SoftAuthenticator, **get_kwargs: Any) -> Response:
    response = browser.login_with_passkey(client, authenticator, **get_kwargs)
    assert response.status_code == 200, response.text
    browser.sign_out(client)
    return response


# --- authentication options -----------------------------------------------------------


def test_discoverable_options_name_no_credentials(client: TestClient) -> None:
    _, options = browser.login_options(client)

    assert not options.get("allowCredentials")
    assert options["rpId"] == "localhost"
    assert options["timeout"] == 300_000


def test_discoverable_options_require_user_verification_by_default(client: TestClient) -> None:
    _, options = browser.login_options(client)

    assert options["userVerification"] == "required"


def test_discoverable_options_prefer_user_verification_when_the_tenant_says_so(client: TestClient) -> None:
    set_tenant(client, "/passkey_options/user_verification", "preferred")

    _, options = browser.login_options(client)

    assert options["userVerification"] == "preferred"


def test_authentication_challenge_is_sealed_fresh_and_long_enough(client: TestClient) -> None:
    """The challenge carries its facts sealed (AES-256-GCM with a random 96-bit nonce), so it
    is at least the 16 random bytes WebAuthn asks for, and never repeats."""
    _, first = browser.login_options(client)
    _, second = browser.login_options(client)

    first_bytes, second_bytes = (
        base64url_to_bytes(first["challenge"]),
        base64url_to_bytes(second["challenge"]),
    )
    assert len(first_bytes) >= 32 and len(second_bytes) >= 32
    assert first_bytes[:12] != second_bytes[:12]  # fresh nonces
    assert first_bytes != second_bytes


# --- discoverable sign-in -------------------------------------------------------------


def test_discoverable_sign_in_starts_a_session(client: TestClient, authenticator: SoftAuthenticator) -> None:
    registered(client, authenticator)

    response = browser.login_with_passkey(client, authenticator)

    assert response.status_code == 200, response.text
    assert response.json() == {"redirect_to": "/account"}
    assert "keyturn_session" in response.cookies
    assert EMAIL in client.get("/account").text


def test_sign_in_records_when_the_passkey_was_last_used(
    client: TestClient, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    registered(client, authenticator)
    clock.advance(hours=2)

    sign_in(client, authenticator)

    passkey = stored_passkey(client, only_credential(authenticator))
    assert passkey.last_used_at == clock.now()
    assert passkey.created_at < passkey.last_used_at


def test_sign_in_with_one_passkey_touches_only_that_passkey(client: TestClient, clock: FrozenClock) -> None:
    laptop, phone = SoftAuthenticator(), SoftAuthenticator()
    browser.signup_with_passkey(client, laptop, EMAIL)
    add_passkey(client, phone)
    browser.sign_out(client)
    clock.advance(minutes=5)

    sign_in(client, phone)

    assert stored_passkey(client, only_credential(phone)).last_used_at == clock.now()
    assert stored_passkey(client, only_credential(laptop)).last_used_at is None


def test_user_verification_preferred_accepts_an_assertion_without_uv(client: TestClient) -> None:
    set_tenant(client, "/passkey_options/user_verification", "preferred")
    authenticator = SoftAuthenticator(user_verified=False)
    registered(client, authenticator)

    response = browser.login_with_passkey(client, authenticator)

    assert response.status_code == 200, response.text


# --- identifier-first -----------------------------------------------------------------


def test_identify_offers_exactly_the_accounts_passkeys(client: TestClient) -> None:
    laptop, phone = SoftAuthenticator(), SoftAuthenticator()
    browser.signup_with_passkey(client, laptop, EMAIL)
    add_passkey(client, phone)
    browser.sign_out(client)

    _, answer = identify(client, EMAIL)

    assert sorted(allowed_ids(answer["passkey"])) == sorted([*laptop.credentials, *phone.credentials])
    assert answer["password"] is True
    assert answer["unknown_account"] is False
    assert len(base64url_to_bytes(answer["passkey"]["challenge"])) >= 32


def test_identifier_first_sign_in_starts_a_session(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    registered(client, authenticator)
    flow, answer = identify(client, EMAIL)

    response = browser.submit_passkey_login(
        client, flow, authenticator.get(answer["passkey"], origin=browser.ORIGIN)
    )

    assert response.status_code == 200, response.text
    assert EMAIL in client.get("/account").text


def test_identifier_first_assertion_without_user_handle_is_accepted(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    # WebAuthn L3 §7.2 step 6: with allowCredentials the user is already known; userHandle may be null.
    registered(client, authenticator)
    flow, answer = identify(client, EMAIL)
    credential = authenticator.get(answer["passkey"], origin=browser.ORIGIN)
    del credential["response"]["userHandle"]

    response = browser.submit_passkey_login(client, flow, credential)

    assert response.status_code == 200, response.text


def test_identify_answers_an_unknown_email_in_the_same_shape(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    registered(client, authenticator)

    _, known = identify(client, EMAIL)
    _, unknown = identify(client, "nobody@example.com")

    assert unknown.keys() == known.keys()
    assert unknown["passkey"].keys() == known["passkey"].keys()
    # the stand-in's count is drawn per email from the stored counts (a prior while few exist);
    # each entry has the keys a stored passkey's has
    stand_ins = unknown["passkey"]["allowCredentials"]
    assert 1 <= len(stand_ins) <= max(PRIOR_COUNTS)
    known_keys = known["passkey"]["allowCredentials"][0].keys()
    assert all(entry.keys() == known_keys for entry in stand_ins)
    assert unknown["password"] is known["password"] is True
    assert unknown["unknown_account"] is known["unknown_account"] is False


def test_identify_gives_an_unknown_email_the_same_stand_in_credential_every_time(client: TestClient) -> None:
    _, first = identify(client, "nobody@example.com")
    _, again = identify(client, "Nobody@Example.com ")

    assert allowed_ids(first["passkey"]) == allowed_ids(again["passkey"])
    assert first["passkey"]["challenge"] != again["passkey"]["challenge"]


def test_identify_gives_each_unknown_email_its_own_stand_in(client: TestClient) -> None:
    _, one = identify(client, "nobody@example.com")
    _, other = identify(client, "no-one@example.com")

    assert allowed_ids(one["passkey"]) != allowed_ids(other["passkey"])


def test_identify_answers_a_password_only_account_like_an_unknown_email(client: TestClient) -> None:
    assert browser.signup_with_password(client, EMAIL, "correct horse battery staple").status_code == 200
    browser.sign_out(client)

    _, answer = identify(client, EMAIL)

    assert 1 <= len(answer["passkey"]["allowCredentials"]) <= max(PRIOR_COUNTS)  # stand-ins
    assert answer["password"] is True
    assert answer["unknown_account"] is False


def test_identify_reveals_an_unknown_email_only_when_the_tenant_opts_in(client: TestClient) -> None:
    set_tenant(client, "/login/reveal_account_existence", True)

    _, answer = identify(client, "nobody@example.com")

    assert answer == {"passkey": None, "password": False, "unknown_account": True}


def test_identify_with_reveal_on_still_offers_a_known_accounts_passkeys(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    registered(client, authenticator)
    set_tenant(client, "/login/reveal_account_existence", True)

    _, answer = identify(client, EMAIL)

    assert answer["unknown_account"] is False
    assert allowed_ids(answer["passkey"]) == list(authenticator.credentials)


# --- sign count and backup state ------------------------------------------------------


def test_synced_passkey_reporting_a_zero_counter_signs_in_again_and_again(client: TestClient) -> None:
    synced = SoftAuthenticator(counter_step=0)
    registered(client, synced)

    for _ in range(3):
        sign_in(client, synced)

    assert stored_passkey(client, only_credential(synced)).sign_count == 0


def test_each_sign_in_stores_the_new_sign_count(client: TestClient) -> None:
    counting = SoftAuthenticator(counter_step=1)
    registered(client, counting)

    sign_in(client, counting)
    sign_in(client, counting)

    assert stored_passkey(client, only_credential(counting)).sign_count == 2


def test_a_sign_count_that_jumps_ahead_is_accepted_and_stored(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    registered(client, authenticator)

    sign_in(client, authenticator, sign_count_override=41)

    assert stored_passkey(client, only_credential(authenticator)).sign_count == 41


@pytest.mark.parametrize("count", [2**31 - 1, 2**31, 2**32 - 1], ids=["2^31-1", "2^31", "2^32-1"])
def test_any_32_bit_sign_count_is_stored(
    client: TestClient, authenticator: SoftAuthenticator, count: int
) -> None:
    # authenticatorData's signCount is an unsigned 32-bit integer (WebAuthn L3 §6.1).
    registered(client, authenticator)

    response = browser.login_with_passkey(client, authenticator, sign_count_override=count)

    assert response.status_code == 200, response.text
    assert stored_passkey(client, only_credential(authenticator)).sign_count == count


def test_backup_state_is_updated_on_every_sign_in(client: TestClient) -> None:
    synced = SoftAuthenticator(backup_eligible=True, backup_state=True)
    registered(client, synced)
    credential_id = only_credential(synced)

    synced.backup_state = False
    sign_in(client, synced)
    assert stored_passkey(client, credential_id).backup_state is False

    synced.backup_state = True
    sign_in(client, synced)
    assert stored_passkey(client, credential_id).backup_state is True
