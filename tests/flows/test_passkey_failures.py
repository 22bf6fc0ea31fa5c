"""Every way a passkey ceremony must fail, and that a failure leaves nothing behind.

Each refusal is a 4xx JSON `{"error", "error_description"}` without a session, and the
store is checked afterwards: no account, no passkey, or the passkey exactly as it was.
All bytes come from the software authenticator; nothing about WebAuthn is mocked.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from httpx2 import Response
from starlette.testclient import TestClient
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from keyturn.clock import FrozenClock
from keyturn.domain.identity import Passkey
from tests.support import browser, store
from tests.support.browser import ORIGIN, PageFlow
from tests.support.soft_authenticator import SoftAuthenticator

ADA = "ada@example.com"
GRACE = "grace@example.com"
NEWCOMER = "newcomer@example.com"
WRONG_ORIGINS = ["http://localhost:8001", "http://localhost:8000/", "https://localhost:8000"]


# --- small local helpers -------------------------------------------------------------


def assert_error(response: Response, status: int, code: str) -> dict[str, Any]:
    """The refusal shape every JSON call shares; a refusal never signs anyone in."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["error"] == code, body
    assert isinstance(body["error_description"], str) and body["error_description"]
    assert "keyturn_session" not in response.cookies
    return body


def set_tenant(client: TestClient, path: str, value: object) -> None:
    store.set_tenant(client, path, value)


def passkeys_of(client: TestClient, user_id: str) -> list[Passkey]:
    return store.write(client, lambda tx: tx.list_passkeys(user_id))


def assert_no_account(client: TestClient, email: str, credential: dict[str, Any]) -> None:
    assert store.find_user(client, email) is None
    assert store.find_passkey(client, base64url_to_bytes(credential["rawId"])) is None


def assert_unchanged(client: TestClient, passkey: Passkey) -> None:
    """Sign count, backup state and last use exactly as before the refused attempt."""
    assert store.find_passkey(client, passkey.credential_id) == passkey


def only_credential(authenticator: SoftAuthenticator) -> bytes:
    [credential_id] = authenticator.credentials
    return credential_id


def registered(client: TestClient, authenticator: SoftAuthenticator, email: str) -> Passkey:
    """A passkey account, signed out again; returns its passkey as stored."""
    response = browser.signup_with_passkey(client, authenticator, email)
    assert response.status_code == 200, response.text
    browser.sign_out(client)
    passkey = store.find_passkey(client, next(reversed(authenticator.credentials)))
    assert passkey is not None
    return passkey


def hold_credential(authenticator: SoftAuthenticator, credential_id: bytes, user_handle: bytes) -> None:
    """Make the authenticator hold a key under `credential_id` that Keyturn never registered."""
    options = {
        "rp": {"id": "localhost"},
        "user": {"id": bytes_to_base64url(user_handle)},
        "challenge": bytes_to_base64url(os.urandom(32)),
        "pubKeyCredParams": [{"type": "public-key", "alg": authenticator.alg}],
    }
    authenticator.create(options, origin=ORIGIN, credential_id=credential_id)


def submit_signup(client: TestClient, flow: PageFlow, credential: object, **headers: str) -> Response:
    return client.post(
        f"/signup/flows/{flow.flow_id}",
        json={"method": "passkey", "credential": credential},
        headers={**flow.headers, **headers},
    )


def new_registration(
    client: TestClient,
    authenticator: SoftAuthenticator | None = None,
    *,
    email: str = NEWCOMER,
    **create: Any,
) -> tuple[PageFlow, dict[str, Any]]:
    """Sign-up options for `email` and the authenticator's answer (not yet submitted)."""
    flow, options = browser.signup_options(client, email)
    origin = create.pop("origin", ORIGIN)
    credential = (authenticator or SoftAuthenticator()).create(options, origin=origin, **create)
    return flow, credential


def new_assertion(
    client: TestClient, authenticator: SoftAuthenticator, **get: Any
) -> tuple[PageFlow, dict[str, Any]]:
    """Discoverable sign-in options and the authenticator's answer (not yet submitted)."""
    flow, options = browser.login_options(client)
    origin = get.pop("origin", ORIGIN)
    return flow, authenticator.get(options, origin=origin, **get)


def sign_in(client: TestClient, authenticator: SoftAuthenticator, **get: Any) -> Response:
    flow, credential = new_assertion(client, authenticator, **get)
    return browser.submit_passkey_login(client, flow, credential)


def identify(client: TestClient, email: str) -> tuple[PageFlow, dict[str, Any]]:
    flow = browser.open_page(client, "/login")
    response = client.post(
        f"/login/flows/{flow.flow_id}/identify", json={"email": email}, headers=flow.headers
    )
    assert response.status_code == 200, response.text
    options: dict[str, Any] = response.json()["passkey"]
    return flow, options


def start_add_passkey(client: TestClient) -> dict[str, Any]:
    account = browser.open_page(client, "/account")
    response = client.post("/account/passkeys/options", headers={"x-csrf-token": account.csrf})
    assert response.status_code == 200, response.text
    started: dict[str, Any] = response.json()
    return started


def finish_add_passkey(
    client: TestClient, started: dict[str, Any], credential: dict[str, Any], *, csrf: str | None = None
) -> Response:
    return client.post(
        "/account/passkeys",
        json={"flow_id": started["flow_id"], "credential": credential},
        headers={"x-csrf-token": started["csrf"] if csrf is None else csrf},
    )


def add_passkey(client: TestClient, authenticator: SoftAuthenticator) -> Response:
    started = start_add_passkey(client)
    return finish_add_passkey(client, started, authenticator.create(started["options"], origin=ORIGIN))


def delete_passkey(client: TestClient, passkey_id: str) -> None:
    account = browser.open_page(client, "/account")
    response = client.post(
        f"/account/passkeys/{passkey_id}/delete", data={"csrf": account.csrf}, follow_redirects=False
    )
    assert response.status_code == 303, response.text


@contextmanager
def another_browser(client: TestClient) -> Iterator[TestClient]:
    """A second browser on the same app: its own cookie jar, the first client's event loop."""
    other = TestClient(client.app, base_url=ORIGIN, headers={"origin": ORIGIN})
    other.portal = client.portal  # share the running app (and its database pool), not just its code
    try:
        yield other
    finally:
        other.portal = None
        other.close()


@pytest.fixture
def ada(client: TestClient, authenticator: SoftAuthenticator) -> Passkey:
    """Ada's account, one synced passkey held by `authenticator`, signed out."""
    return registered(client, authenticator, ADA)


# --- the flow: browser binding, CSRF, origin ----------------------------------------

FLOW_CALLS = {
    "login options": ("/login", "/login/flows/{id}/passkey/options", None),
    "identify": ("/login", "/login/flows/{id}/identify", {"email": ADA}),
    "login": ("/login", "/login/flows/{id}", {"method": "passkey", "credential": {}}),
    "signup options": ("/signup", "/signup/flows/{id}/passkey/options", {"email": NEWCOMER}),
    "signup": ("/signup", "/signup/flows/{id}", {"method": "passkey", "credential": {}}),
}


@pytest.mark.parametrize("call", FLOW_CALLS.values(), ids=FLOW_CALLS.keys())
def test_every_flow_call_needs_the_pages_csrf_token(client: TestClient, call: tuple[str, str, Any]) -> None:
    page, path, body = call
    flow = browser.open_page(client, page)
    url = path.format(id=flow.flow_id)

    assert_error(client.post(url, json=body, headers={"x-csrf-token": "not-the-token"}), 403, "csrf_failed")
    assert_error(client.post(url, json=body), 403, "csrf_failed")


@pytest.mark.parametrize("call", FLOW_CALLS.values(), ids=FLOW_CALLS.keys())
def test_every_flow_call_needs_the_browser_cookie(client: TestClient, call: tuple[str, str, Any]) -> None:
    page, path, body = call
    flow = browser.open_page(client, page)
    client.cookies.delete("keyturn_browser")

    response = client.post(path.format(id=flow.flow_id), json=body, headers=flow.headers)

    assert_error(response, 403, "flow_browser_mismatch")


def test_valid_assertion_without_the_browser_cookie_is_refused(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey
) -> None:
    flow, credential = new_assertion(client, authenticator)
    client.cookies.delete("keyturn_browser")

    assert_error(browser.submit_passkey_login(client, flow, credential), 403, "flow_browser_mismatch")
    assert_unchanged(client, ada)


def test_valid_registration_without_the_browser_cookie_is_refused(client: TestClient) -> None:
    flow, credential = new_registration(client)
    client.cookies.delete("keyturn_browser")

    assert_error(submit_signup(client, flow, credential), 403, "flow_browser_mismatch")
    assert_no_account(client, NEWCOMER, credential)


def test_valid_assertion_with_a_wrong_csrf_token_is_refused(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey
) -> None:
    flow, credential = new_assertion(client, authenticator)
    forged = PageFlow(flow_id=flow.flow_id, csrf="forged", data={})

    assert_error(browser.submit_passkey_login(client, forged, credential), 403, "csrf_failed")
    assert_unchanged(client, ada)


def test_valid_registration_with_a_wrong_csrf_token_is_refused(client: TestClient) -> None:
    flow, credential = new_registration(client)

    assert_error(submit_signup(client, flow, credential, **{"x-csrf-token": "forged"}), 403, "csrf_failed")
    assert_no_account(client, NEWCOMER, credential)


def test_a_call_sent_from_another_site_is_refused(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey
) -> None:
    flow, credential = new_assertion(client, authenticator)

    response = client.post(
        f"/login/flows/{flow.flow_id}",
        json={"method": "passkey", "credential": credential},
        headers={**flow.headers, "origin": "https://evil.example"},
    )

    assert_error(response, 403, "cross_site_request")
    assert_unchanged(client, ada)


def test_a_call_the_browser_marks_cross_site_is_refused(client: TestClient) -> None:
    flow, credential = new_registration(client)

    response = submit_signup(client, flow, credential, **{"sec-fetch-site": "cross-site"})

    assert_error(response, 403, "cross_site_request")
    assert_no_account(client, NEWCOMER, credential)


def test_an_unknown_flow_is_refused(client: TestClient) -> None:
    flow = browser.open_page(client, "/login")

    response = client.post(
        "/login/flows/00000000-0000-0000-0000-000000000000/passkey/options", headers=flow.headers
    )

    assert_error(response, 410, "flow_expired")


def test_an_expired_flow_is_refused(client: TestClient, clock: FrozenClock) -> None:
    flow = browser.open_page(client, "/login")
    clock.advance(seconds=3601)

    response = client.post(f"/login/flows/{flow.flow_id}/passkey/options", headers=flow.headers)

    assert_error(response, 410, "flow_expired")


def test_a_login_flow_cannot_complete_a_signup(client: TestClient) -> None:
    _, credential = new_registration(client)
    login_flow = browser.open_page(client, "/login")

    response = submit_signup(client, PageFlow(login_flow.flow_id, login_flow.csrf, {}), credential)

    assert_error(response, 410, "flow_expired")
    assert_no_account(client, NEWCOMER, credential)


# --- challenges are bound to the browser's flow -----------------------------------------


def test_another_browser_cannot_use_this_browsers_sign_in_challenge(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey
) -> None:
    flow, credential = new_assertion(client, authenticator)

    with another_browser(client) as attacker:
        attacker_flow = browser.open_page(attacker, "/login")
        response = browser.submit_passkey_login(attacker, attacker_flow, credential)

        assert_error(response, 400, "challenge_invalid")
        assert_unchanged(client, ada)
    assert browser.submit_passkey_login(client, flow, credential).status_code == 200


def test_another_browser_cannot_post_to_this_browsers_sign_in_flow(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey
) -> None:
    flow, credential = new_assertion(client, authenticator)

    with another_browser(client) as attacker:
        browser.open_page(attacker, "/login")  # the attacker's browser has a binding cookie of its own
        response = browser.submit_passkey_login(attacker, flow, credential)

        assert_error(response, 403, "flow_browser_mismatch")
        assert_unchanged(client, ada)
    assert browser.submit_passkey_login(client, flow, credential).status_code == 200


def test_another_browser_cannot_use_this_browsers_signup_challenge(client: TestClient) -> None:
    _, credential = new_registration(client)

    with another_browser(client) as attacker:
        attacker_flow = browser.open_page(attacker, "/signup")
        response = submit_signup(attacker, attacker_flow, credential)

        assert_error(response, 400, "challenge_invalid")
    assert_no_account(client, NEWCOMER, credential)


def test_a_challenge_works_only_in_the_flow_it_was_issued_to(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey
) -> None:
    _, credential = new_assertion(client, authenticator)
    other_tab = browser.open_page(client, "/login")

    assert_error(browser.submit_passkey_login(client, other_tab, credential), 400, "challenge_invalid")
    assert_unchanged(client, ada)


def test_an_assertion_for_a_challenge_never_issued_is_refused(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey
) -> None:
    invented = bytes_to_base64url(os.urandom(32))

    response = sign_in(client, authenticator, challenge_override=invented)

    assert_error(response, 400, "challenge_invalid")
    assert_unchanged(client, ada)


# --- challenges are single-use and short-lived -------------------------------------------


def test_a_replayed_assertion_is_refused(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey
) -> None:
    flow, credential = new_assertion(client, authenticator)
    assert browser.submit_passkey_login(client, flow, credential).status_code == 200
    after_first = store.find_passkey(client, ada.credential_id)
    assert after_first is not None
    browser.sign_out(client)

    assert_error(browser.submit_passkey_login(client, flow, credential), 400, "challenge_invalid")
    assert_unchanged(client, after_first)


def test_a_replayed_registration_is_refused(client: TestClient) -> None:
    flow, credential = new_registration(client)
    assert submit_signup(client, flow, credential).status_code == 200
    user = store.find_user(client, NEWCOMER)
    assert user is not None

    assert_error(submit_signup(client, flow, credential), 400, "challenge_invalid")
    assert len(passkeys_of(client, user.id)) == 1


def test_a_sign_in_challenge_expires_after_five_minutes(
    client: TestClient, authenticator: SoftAuthenticator, clock: FrozenClock, ada: Passkey
) -> None:
    flow, credential = new_assertion(client, authenticator)
    clock.advance(seconds=301)

    assert_error(browser.submit_passkey_login(client, flow, credential), 400, "challenge_invalid")
    assert_unchanged(client, ada)


def test_a_sign_in_challenge_still_works_just_before_five_minutes(
    client: TestClient, authenticator: SoftAuthenticator, clock: FrozenClock, ada: Passkey
) -> None:
    flow, credential = new_assertion(client, authenticator)
    clock.advance(seconds=299)

    assert browser.submit_passkey_login(client, flow, credential).status_code == 200


def test_a_signup_challenge_expires_after_five_minutes(client: TestClient, clock: FrozenClock) -> None:
    flow, credential = new_registration(client)
    clock.advance(seconds=301)

    assert_error(submit_signup(client, flow, credential), 400, "challenge_invalid")
    assert_no_account(client, NEWCOMER, credential)


def test_a_failed_sign_in_uses_up_its_challenge(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey
) -> None:
    flow, credential = new_assertion(client, authenticator)
    tampered = flip_last_byte(credential, "signature")
    assert_error(browser.submit_passkey_login(client, flow, tampered), 400, "passkey_verification_failed")

    assert_error(browser.submit_passkey_login(client, flow, credential), 400, "challenge_invalid")
    assert_unchanged(client, ada)


def test_a_failed_registration_uses_up_its_challenge(client: TestClient) -> None:
    flow, options = browser.signup_options(client, NEWCOMER)
    authenticator = SoftAuthenticator()
    wrong = authenticator.create(options, origin="http://localhost:8001")
    assert_error(submit_signup(client, flow, wrong), 400, "origin_mismatch")

    right = authenticator.create(options, origin=ORIGIN)

    assert_error(submit_signup(client, flow, right), 400, "challenge_invalid")
    assert_no_account(client, NEWCOMER, right)


def flip_last_byte(credential: dict[str, Any], field: str) -> dict[str, Any]:
    raw = bytearray(base64url_to_bytes(credential["response"][field]))
    raw[-1] ^= 0x01
    return {**credential, "response": {**credential["response"], field: bytes_to_base64url(bytes(raw))}}


# --- where the ceremony ran: Keyturn's own checks ------------------------------------------


def test_a_cross_origin_assertion_is_refused(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey
) -> None:
    response = sign_in(client, authenticator, cross_origin=True)

    assert_error(response, 400, "cross_origin_refused")
    assert_unchanged(client, ada)


def test_a_cross_origin_registration_is_refused(client: TestClient) -> None:
    flow, credential = new_registration(client, cross_origin=True)

    assert_error(submit_signup(client, flow, credential), 400, "cross_origin_refused")
    assert_no_account(client, NEWCOMER, credential)


@pytest.mark.parametrize("top_origin", ["https://evil.example", ORIGIN])
def test_an_assertion_from_a_framed_page_is_refused(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey, top_origin: str
) -> None:
    response = sign_in(client, authenticator, cross_origin=False, top_origin=top_origin)

    assert_error(response, 400, "cross_origin_refused")
    assert_unchanged(client, ada)


@pytest.mark.parametrize("top_origin", ["https://evil.example", ORIGIN])
def test_a_registration_from_a_framed_page_is_refused(client: TestClient, top_origin: str) -> None:
    flow, credential = new_registration(client, cross_origin=False, top_origin=top_origin)

    assert_error(submit_signup(client, flow, credential), 400, "cross_origin_refused")
    assert_no_account(client, NEWCOMER, credential)


@pytest.mark.parametrize("origin", WRONG_ORIGINS)
def test_an_assertion_from_another_origin_is_refused(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey, origin: str
) -> None:
    response = sign_in(client, authenticator, origin=origin, credential_id=ada.credential_id)

    assert_error(response, 400, "origin_mismatch")
    assert_unchanged(client, ada)


@pytest.mark.parametrize("origin", WRONG_ORIGINS)
def test_a_registration_from_another_origin_is_refused(client: TestClient, origin: str) -> None:
    flow, credential = new_registration(client, origin=origin)

    assert_error(submit_signup(client, flow, credential), 400, "origin_mismatch")
    assert_no_account(client, NEWCOMER, credential)


def test_an_assertion_for_another_rp_id_is_refused(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey
) -> None:
    flow, options = browser.login_options(client)
    options["rpId"] = "evil.example"  # the authenticator signs evil.example's RP ID hash
    credential = authenticator.get(options, origin=ORIGIN, credential_id=ada.credential_id)

    assert_error(browser.submit_passkey_login(client, flow, credential), 400, "passkey_verification_failed")
    assert_unchanged(client, ada)


def test_a_registration_for_another_rp_id_is_refused(client: TestClient) -> None:
    flow, options = browser.signup_options(client, NEWCOMER)
    options["rp"]["id"] = "evil.example"
    credential = SoftAuthenticator().create(options, origin=ORIGIN)

    assert_error(submit_signup(client, flow, credential), 400, "passkey_verification_failed")
    assert_no_account(client, NEWCOMER, credential)


# --- what the authenticator reports --------------------------------------------------------


def test_an_assertion_without_user_verification_is_refused_when_required(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey
) -> None:
    authenticator.user_verified = False

    assert_error(sign_in(client, authenticator), 400, "passkey_verification_failed")
    assert_unchanged(client, ada)


def test_a_registration_without_user_verification_is_refused_when_required(client: TestClient) -> None:
    flow, credential = new_registration(client, SoftAuthenticator(user_verified=False))

    assert_error(submit_signup(client, flow, credential), 400, "passkey_verification_failed")
    assert_no_account(client, NEWCOMER, credential)


def test_a_tampered_signature_is_refused(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey
) -> None:
    flow, credential = new_assertion(client, authenticator)

    response = browser.submit_passkey_login(client, flow, flip_last_byte(credential, "signature"))

    assert_error(response, 400, "passkey_verification_failed")
    assert_unchanged(client, ada)


def test_tampered_authenticator_data_is_refused(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey
) -> None:
    flow, credential = new_assertion(client, authenticator)

    response = browser.submit_passkey_login(client, flow, flip_last_byte(credential, "authenticatorData"))

    assert_error(response, 400, "passkey_verification_failed")
    assert_unchanged(client, ada)


def test_an_assertion_signed_by_another_key_under_the_same_credential_id_is_refused(
    client: TestClient, ada: Passkey
) -> None:
    impostor = SoftAuthenticator()
    hold_credential(impostor, ada.credential_id, ada.user_handle)

    assert_error(sign_in(client, impostor), 400, "passkey_verification_failed")
    assert_unchanged(client, ada)


def test_a_registration_claiming_backup_without_eligibility_is_refused(client: TestClient) -> None:
    # BS set without BE is invalid (WebAuthn L3 §6.1); the library raises its own exception type.
    flow, credential = new_registration(client, SoftAuthenticator(backup_eligible=False, backup_state=True))

    assert_error(submit_signup(client, flow, credential), 400, "passkey_verification_failed")
    assert_no_account(client, NEWCOMER, credential)


# --- credential ids ----------------------------------------------------------------------


def test_a_registration_with_a_1024_byte_credential_id_is_refused(client: TestClient) -> None:
    flow, credential = new_registration(client, credential_id=b"\x07" * 1024)

    assert_error(submit_signup(client, flow, credential), 400, "invalid_response")
    assert_no_account(client, NEWCOMER, credential)


def test_an_assertion_with_a_1024_byte_credential_id_is_refused(client: TestClient, ada: Passkey) -> None:
    authenticator = SoftAuthenticator()
    hold_credential(authenticator, b"\x07" * 1024, ada.user_handle)

    assert_error(sign_in(client, authenticator), 400, "invalid_response")
    assert_unchanged(client, ada)


def test_a_registration_whose_raw_id_is_not_the_attested_credential_id_is_refused(client: TestClient) -> None:
    # rawId must be the credential id inside authenticatorData (WebAuthn L3 §7.1); otherwise the
    # 1023-byte limit is checked on one id and another is stored.
    flow, credential = new_registration(client, credential_id=b"\x07" * 1024)
    short = bytes_to_base64url(b"\x08" * 16)
    credential = {**credential, "id": short, "rawId": short}

    response = submit_signup(client, flow, credential)

    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"] in {"invalid_response", "passkey_verification_failed"}
    assert store.find_user(client, NEWCOMER) is None
    assert store.find_passkey(client, b"\x07" * 1024) is None
    assert store.find_passkey(client, b"\x08" * 16) is None


# --- whose passkey is it ----------------------------------------------------------------


def test_an_assertion_naming_another_users_handle_is_refused(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey
) -> None:
    grace = registered(client, SoftAuthenticator(), GRACE)

    response = sign_in(client, authenticator, user_handle_override=grace.user_handle)

    assert_error(response, 400, "user_handle_mismatch")
    assert_unchanged(client, ada)


def test_a_discoverable_assertion_without_a_user_handle_is_refused(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey
) -> None:
    flow, credential = new_assertion(client, authenticator)
    del credential["response"]["userHandle"]

    assert_error(browser.submit_passkey_login(client, flow, credential), 400, "invalid_response")
    assert_unchanged(client, ada)


def test_identifier_first_refuses_a_passkey_it_did_not_offer(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey
) -> None:
    graces_phone = SoftAuthenticator()
    grace = registered(client, graces_phone, GRACE)
    flow, options = identify(client, ADA)

    credential = graces_phone.get(options, origin=ORIGIN, credential_id=grace.credential_id)

    assert_error(browser.submit_passkey_login(client, flow, credential), 400, "credential_not_allowed")
    assert_unchanged(client, grace)
    assert_unchanged(client, ada)


def test_identifier_first_for_an_unknown_email_refuses_a_real_passkey(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey
) -> None:
    flow, options = identify(client, "nobody@example.com")

    credential = authenticator.get(options, origin=ORIGIN, credential_id=ada.credential_id)

    assert_error(browser.submit_passkey_login(client, flow, credential), 400, "credential_not_allowed")
    assert_unchanged(client, ada)


def test_a_deleted_passkey_is_reported_as_unknown_for_the_signal_api(client: TestClient) -> None:
    laptop, phone = SoftAuthenticator(), SoftAuthenticator()
    assert browser.signup_with_passkey(client, laptop, ADA).status_code == 200
    assert add_passkey(client, phone).status_code == 200
    old = store.find_passkey(client, only_credential(laptop))
    assert old is not None
    delete_passkey(client, old.id)
    browser.sign_out(client)

    body = assert_error(sign_in(client, laptop), 400, "unknown_credential")

    assert body["credential_id"] == bytes_to_base64url(old.credential_id)
    assert body["rp_id"] == "localhost"
    assert store.find_passkey(client, old.credential_id) is None


def test_a_passkey_never_registered_here_is_reported_as_unknown(client: TestClient, ada: Passkey) -> None:
    stranger = SoftAuthenticator()
    credential_id = os.urandom(32)
    hold_credential(stranger, credential_id, ada.user_handle)

    body = assert_error(sign_in(client, stranger), 400, "unknown_credential")

    assert body["credential_id"] == bytes_to_base64url(credential_id)
    assert body["rp_id"] == "localhost"
    assert store.find_passkey(client, credential_id) is None


# --- sign count and backup eligibility -----------------------------------------------------


@pytest.mark.parametrize("received", [0, 4, 5])
def test_a_sign_count_not_above_the_stored_one_is_refused_as_a_possible_clone(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey, received: int
) -> None:
    assert browser.login_with_passkey(client, authenticator, sign_count_override=5).status_code == 200
    browser.sign_out(client)
    stored = store.find_passkey(client, ada.credential_id)
    assert stored is not None and stored.sign_count == 5

    response = sign_in(client, authenticator, sign_count_override=received)

    assert_error(response, 400, "possible_cloned_passkey")
    assert_unchanged(client, stored)


def test_a_non_zero_count_for_a_passkey_stored_at_zero_must_still_grow(client: TestClient) -> None:
    # Stored 0, received 0 is the synced case (accepted); after a real count, 0 is refused.
    counting = SoftAuthenticator(counter_step=1)
    passkey = registered(client, counting, ADA)
    assert passkey.sign_count == 0
    assert browser.login_with_passkey(client, counting).status_code == 200
    browser.sign_out(client)
    stored = store.find_passkey(client, passkey.credential_id)
    assert stored is not None and stored.sign_count == 1

    assert_error(sign_in(client, counting, sign_count_override=0), 400, "possible_cloned_passkey")
    assert_unchanged(client, stored)


def test_a_refused_possible_clone_is_logged_as_a_security_event(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey, caplog: pytest.LogCaptureFixture
) -> None:
    assert browser.login_with_passkey(client, authenticator, sign_count_override=5).status_code == 200
    browser.sign_out(client)

    with caplog.at_level(logging.WARNING, logger="keyturn.security"):
        assert_error(sign_in(client, authenticator, sign_count_override=5), 400, "possible_cloned_passkey")

    [record] = [r for r in caplog.records if r.name == "keyturn.security"]
    assert record.levelno == logging.WARNING
    assert getattr(record, "passkey_id", None) == ada.id


def test_a_passkey_that_lost_backup_eligibility_is_refused(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey
) -> None:
    assert ada.backup_eligible is True

    response = sign_in(client, authenticator, backup_eligible_override=False)

    assert_error(response, 400, "backup_eligibility_changed")
    assert_unchanged(client, ada)


def test_a_device_bound_passkey_that_became_backup_eligible_is_refused(client: TestClient) -> None:
    device_bound = SoftAuthenticator(backup_eligible=False, backup_state=False)
    passkey = registered(client, device_bound, ADA)

    response = sign_in(client, device_bound, backup_eligible_override=True)

    assert_error(response, 400, "backup_eligibility_changed")
    assert_unchanged(client, passkey)


# --- one credential, one account -----------------------------------------------------------


def test_signup_for_an_email_that_has_an_account_is_refused(client: TestClient, ada: Passkey) -> None:
    flow, credential = new_registration(client, email=ADA)

    assert_error(submit_signup(client, flow, credential), 409, "account_exists")
    assert store.find_passkey(client, base64url_to_bytes(credential["rawId"])) is None
    assert len(passkeys_of(client, ada.user_id)) == 1


def test_signup_reusing_a_registered_credential_id_is_refused_as_such(
    client: TestClient, ada: Passkey
) -> None:
    # WebAuthn L3 §7.1 step 26: a known credential id fails the ceremony. The newcomer has no
    # account, so "an account with this email already exists" would be the wrong thing to say.
    flow, credential = new_registration(client, credential_id=ada.credential_id)

    assert_error(submit_signup(client, flow, credential), 409, "credential_exists")
    assert store.find_user(client, NEWCOMER) is None
    assert_unchanged(client, ada)


def test_adding_a_credential_id_the_account_already_has_is_refused(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    assert browser.signup_with_passkey(client, authenticator, ADA).status_code == 200
    passkey = store.find_passkey(client, only_credential(authenticator))
    assert passkey is not None
    started = start_add_passkey(client)
    options = {**started["options"], "excludeCredentials": []}  # an authenticator that ignores it
    credential = SoftAuthenticator().create(options, origin=ORIGIN, credential_id=passkey.credential_id)

    assert_error(finish_add_passkey(client, started, credential), 409, "credential_exists")
    assert passkeys_of(client, passkey.user_id) == [passkey]


def test_adding_another_users_credential_id_is_refused(client: TestClient, ada: Passkey) -> None:
    assert browser.signup_with_passkey(client, SoftAuthenticator(), GRACE).status_code == 200
    grace = store.find_user(client, GRACE)
    assert grace is not None
    started = start_add_passkey(client)

    credential = SoftAuthenticator().create(
        started["options"], origin=ORIGIN, credential_id=ada.credential_id
    )

    assert_error(finish_add_passkey(client, started, credential), 409, "credential_exists")
    assert len(passkeys_of(client, grace.id)) == 1
    assert_unchanged(client, ada)


# --- at most max_passkeys_per_user ---------------------------------------------------------


def fill_up_to(client: TestClient, count: int) -> str:
    """Sign up with one passkey, then add passkeys from /account until the user has `count`."""
    assert browser.signup_with_passkey(client, SoftAuthenticator(), ADA).status_code == 200
    user = store.find_user(client, ADA)
    assert user is not None
    for _ in range(count - 1):
        assert add_passkey(client, SoftAuthenticator()).status_code == 200
    assert len(passkeys_of(client, user.id)) == count
    return user.id


def test_the_21st_passkey_is_refused_before_the_ceremony(client: TestClient) -> None:
    user_id = fill_up_to(client, 20)
    account = browser.open_page(client, "/account")

    response = client.post("/account/passkeys/options", headers={"x-csrf-token": account.csrf})

    assert_error(response, 409, "passkey_limit_reached")
    assert len(passkeys_of(client, user_id)) == 20


def test_the_21st_passkey_is_refused_when_the_limit_was_reached_during_the_ceremony(
    client: TestClient,
) -> None:
    user_id = fill_up_to(client, 19)
    slow_tab = start_add_passkey(client)
    assert add_passkey(client, SoftAuthenticator()).status_code == 200  # the 20th, from another tab
    credential = SoftAuthenticator().create(slow_tab["options"], origin=ORIGIN)

    assert_error(finish_add_passkey(client, slow_tab, credential), 409, "passkey_limit_reached")
    assert len(passkeys_of(client, user_id)) == 20
    assert store.find_passkey(client, base64url_to_bytes(credential["rawId"])) is None


def test_the_limit_follows_the_tenant_setting(client: TestClient) -> None:
    set_tenant(client, "/passkey_options/max_passkeys_per_user", 2)
    user_id = fill_up_to(client, 2)
    account = browser.open_page(client, "/account")

    response = client.post("/account/passkeys/options", headers={"x-csrf-token": account.csrf})

    assert_error(response, 409, "passkey_limit_reached")
    assert len(passkeys_of(client, user_id)) == 2


# --- adding a passkey from /account ----------------------------------------------------------


def test_add_passkey_options_need_a_session(client: TestClient) -> None:
    browser.open_page(client, "/login")

    assert_error(
        client.post("/account/passkeys/options", headers={"x-csrf-token": "x"}), 401, "unauthenticated"
    )


def test_add_passkey_options_need_the_sessions_csrf_token(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey
) -> None:
    assert browser.login_with_passkey(client, authenticator).status_code == 200

    response = client.post("/account/passkeys/options", headers={"x-csrf-token": "forged"})

    assert_error(response, 403, "csrf_failed")


def test_adding_a_passkey_needs_the_flows_csrf_token(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    browser.signup_with_passkey(client, authenticator, ADA)
    started = start_add_passkey(client)
    credential = SoftAuthenticator().create(started["options"], origin=ORIGIN)

    response = finish_add_passkey(client, started, credential, csrf="forged")

    assert_error(response, 403, "csrf_failed")
    assert store.find_passkey(client, base64url_to_bytes(credential["rawId"])) is None


def test_adding_a_passkey_from_another_origin_is_refused(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    browser.signup_with_passkey(client, authenticator, ADA)
    started = start_add_passkey(client)
    credential = SoftAuthenticator().create(started["options"], origin="http://localhost:8001")

    assert_error(finish_add_passkey(client, started, credential), 400, "origin_mismatch")
    assert store.find_passkey(client, base64url_to_bytes(credential["rawId"])) is None


def test_a_passkey_cannot_be_added_through_another_accounts_flow(client: TestClient) -> None:
    assert browser.signup_with_passkey(client, SoftAuthenticator(), ADA).status_code == 200
    adas_flow = start_add_passkey(client)
    browser.sign_out(client)
    assert browser.signup_with_passkey(client, SoftAuthenticator(), GRACE).status_code == 200
    credential = SoftAuthenticator().create(adas_flow["options"], origin=ORIGIN)

    assert_error(finish_add_passkey(client, adas_flow, credential), 403, "flow_user_mismatch")
    assert store.find_passkey(client, base64url_to_bytes(credential["rawId"])) is None


# --- passkeys turned off ----------------------------------------------------------------------


def test_passkey_options_are_refused_when_passkeys_are_off(client: TestClient, ada: Passkey) -> None:
    set_tenant(client, "/authentication_methods/passkey/enabled", False)
    login = browser.open_page(client, "/login")
    signup = browser.open_page(client, "/signup")

    refused_login = client.post(f"/login/flows/{login.flow_id}/passkey/options", headers=login.headers)
    refused_signup = client.post(
        f"/signup/flows/{signup.flow_id}/passkey/options", json={"email": NEWCOMER}, headers=signup.headers
    )

    assert_error(refused_login, 403, "method_disabled")
    assert_error(refused_signup, 403, "method_disabled")


def test_a_sign_in_begun_before_passkeys_were_turned_off_is_refused(
    client: TestClient, authenticator: SoftAuthenticator, ada: Passkey
) -> None:
    flow, credential = new_assertion(client, authenticator)
    set_tenant(client, "/authentication_methods/passkey/enabled", False)

    assert_error(browser.submit_passkey_login(client, flow, credential), 403, "method_disabled")
    assert_unchanged(client, ada)


def test_a_signup_begun_before_passkeys_were_turned_off_is_refused(client: TestClient) -> None:
    flow, credential = new_registration(client)
    set_tenant(client, "/authentication_methods/passkey/enabled", False)

    assert_error(submit_signup(client, flow, credential), 403, "method_disabled")
    assert_no_account(client, NEWCOMER, credential)
