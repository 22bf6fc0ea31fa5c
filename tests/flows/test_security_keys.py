"""Security keys as a second factor (issue 12): non-discoverable WebAuthn credentials kept
apart from passkeys. They are added on /account, answer only the second-factor step (amr
"hwk"), never sign in alone and never count as passkeys."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from keyturn.http.security import SESSION_COOKIE
from tests.flows.test_second_factors import (
    EMAIL,
    STEP,
    session_amr,
    session_csrf,
    sign_out,
    signed_up,
    to_second_factor,
)
from tests.support import browser, store
from tests.support.browser import ORIGIN, storage
from tests.support.soft_authenticator import SoftAuthenticator


def security_key() -> SoftAuthenticator:
    return SoftAuthenticator(backup_eligible=False, backup_state=False, transports=("usb",))


def creation(client: TestClient) -> dict[str, Any]:
    started = client.post("/account/security-keys/options", headers={"x-csrf-token": session_csrf(client)})
    assert started.status_code == 200, started.text
    body: dict[str, Any] = started.json()
    return body


def add_key(client: TestClient, key: SoftAuthenticator) -> dict[str, Any]:
    body = creation(client)
    credential = key.create(body["options"], origin=ORIGIN)
    added = client.post(
        "/account/security-keys",
        json={"flow_id": body["flow_id"], "credential": credential},
        headers={"x-csrf-token": body["csrf"]},
    )
    assert added.status_code == 200, added.text
    options: dict[str, Any] = body["options"]
    return options


def test_a_security_key_is_a_non_discoverable_credential_stored_apart_from_passkeys(
    client: TestClient,
) -> None:
    user = signed_up(client)

    options = add_key(client, security_key())

    assert options["authenticatorSelection"]["residentKey"] == "discouraged"
    assert options["hints"] == ["security-key"]
    assert len(storage(client)["security_keys"]) == 1
    assert storage(client)["passkeys"] == []
    enrolled = store.events_of(client, "gd_enrollment_complete", user_id=user.id)
    assert enrolled[-1].details["method"] == "webauthn-roaming"
    assert "No passkeys yet." in client.get("/account").text


def test_a_security_key_never_signs_in_alone(client: TestClient) -> None:
    signed_up(client)
    key = security_key()
    add_key(client, key)
    sign_out(client)

    flow, options = browser.login_options(client)
    refused = browser.submit_passkey_login(client, flow, key.get(options, origin=ORIGIN))

    assert refused.status_code in (400, 401, 403), refused.text
    assert SESSION_COOKIE not in client.cookies


def test_the_second_factor_step_takes_the_security_key_and_the_session_shows_hwk(
    client: TestClient, clock: FrozenClock
) -> None:
    user = signed_up(client)
    key = security_key()
    add_key(client, key)
    store.set_tenant(client, "/mfa/policy", "optional")
    sign_out(client)

    step = to_second_factor(client)
    data = browser.page_data(client.get(step))
    assert data["security_key"] is True
    base = step + "/security-key"
    options = client.post(base + "/options", headers={"x-csrf-token": data["csrf"]})
    assert options.status_code == 200, options.text
    allowed = options.json()["allowCredentials"]
    assert len(allowed) == 1
    done = client.post(
        base,
        json={"credential": key.get(options.json(), origin=ORIGIN)},
        headers={"x-csrf-token": data["csrf"]},
    )

    assert done.status_code == 200, done.text
    assert done.json()["redirect_to"] == "/account"
    assert session_amr(client, clock) == ["pwd", "hwk", "mfa"]
    assert (
        store.events_of(client, "gd_auth_succeed", user_id=user.id)[-1].details["method"]
        == "webauthn-roaming"
    )


def test_another_users_security_key_does_not_answer_the_step(client: TestClient) -> None:
    signed_up(client)
    mine = security_key()
    add_key(client, mine)
    store.set_tenant(client, "/mfa/policy", "optional")
    sign_out(client)
    assert (
        browser.signup_with_password(client, "grace@example.com", "another long passphrase").status_code
        == 200
    )
    theirs = security_key()
    add_key(client, theirs)
    sign_out(client)

    step = to_second_factor(client)
    data = browser.page_data(client.get(step))
    options = client.post(step + "/security-key/options", headers={"x-csrf-token": data["csrf"]}).json()
    theirs_id = next(iter(theirs.credentials))
    forged = theirs.get(options, origin=ORIGIN, credential_id=theirs_id)
    refused = client.post(
        step + "/security-key", json={"credential": forged}, headers={"x-csrf-token": data["csrf"]}
    )

    assert refused.status_code in (400, 401, 403), refused.text
    assert SESSION_COOKIE not in client.cookies


def test_removing_a_security_key(client: TestClient) -> None:
    signed_up(client)
    add_key(client, security_key())
    (row,) = storage(client)["security_keys"]
    key_id = row[0]

    removed = client.post(
        f"/account/security-keys/{key_id}/delete", data={"csrf": session_csrf(client)}, follow_redirects=False
    )

    assert removed.status_code == 303
    assert storage(client)["security_keys"] == []
    assert EMAIL in client.get("/account").text
    assert STEP not in client.get("/account").text
