"""Re-authentication before sensitive changes on /account.

Past `privileged_session_max_age` (900 s by default) since the session's last sign-in, a
change of email or password, removing the password, and adding or removing a passkey show
**Confirm it's you** instead (403) and change nothing. Confirming with the user's password
or one of their passkeys moves the session's auth time to now and hands back the
interrupted request, which then goes ahead. A wrong answer, a tampered or foreign pending
request, or another account's passkey change nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient
from webauthn.helpers import bytes_to_base64url

from keyturn.clock import FrozenClock
from tests.support import browser, store
from tests.support.browser import ORIGIN, storage
from tests.support.soft_authenticator import SoftAuthenticator

EMAIL = "ada@example.com"
NEW_EMAIL = "ada@new.example"
PASSWORD = "correct horse battery staple"


def session_csrf(client: TestClient) -> str:
    return browser.open_page(client, "/account").csrf


def confirm_step(response: Any) -> dict[str, Any]:
    """The Confirm it's you page's data (its flow, and the sealed request it carries)."""
    assert response.status_code in (200, 403), response.text
    assert "Confirm it&#39;s you" in response.text or "Confirm it's you" in response.text
    data = browser.page_data(response)
    assert data["mode"] == "confirm" and data["pending"]
    return data


def confirm(client: TestClient, step: dict[str, Any], **body: Any) -> Any:
    return client.post(
        "/account/confirm",
        json={"flow_id": step["flow_id"], "pending": step["pending"], **body},
        headers={"x-csrf-token": step["flow_csrf"]},
    )


def confirm_options(client: TestClient, step: dict[str, Any]) -> Any:
    return client.post(
        "/account/confirm/options",
        json={"flow_id": step["flow_id"]},
        headers={"x-csrf-token": step["flow_csrf"]},
    )


def auth_time(client: TestClient, clock: FrozenClock) -> Any:
    session = store.find_session(client, client.cookies["keyturn_session"], now=clock.now())
    assert session is not None
    return session.auth_time


@pytest.fixture
def password_user(client: TestClient) -> None:
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200


def test_a_recent_sign_in_asks_for_the_new_address_code_at_once(
    client: TestClient, clock: FrozenClock, password_user: None
) -> None:
    clock.advance(seconds=900)
    response = client.post(
        "/account/email", data={"csrf": session_csrf(client), "email": NEW_EMAIL}, follow_redirects=False
    )
    assert response.headers["location"] == "/account?notice=email_code_sent"


def test_an_old_sign_in_must_confirm_with_the_password_then_the_change_goes_ahead(
    client: TestClient, clock: FrozenClock, password_user: None
) -> None:
    clock.advance(seconds=901)
    csrf = session_csrf(client)
    before = storage(client)

    asked = client.post("/account/email", data={"csrf": csrf, "email": NEW_EMAIL}, follow_redirects=False)

    assert asked.status_code == 403
    step = confirm_step(asked)
    assert NEW_EMAIL not in asked.text  # the request rides sealed, not in the page's text
    assert storage(client) == before
    signed_in_at = auth_time(client, clock)

    confirmed = confirm(client, step, method="password", password=PASSWORD)

    assert confirmed.status_code == 200, confirmed.text
    resubmit = confirmed.json()["resubmit"]
    assert resubmit == {"action": "/account/email", "fields": {"email": NEW_EMAIL, "csrf": csrf}}
    assert auth_time(client, clock) == clock.now() > signed_in_at
    done = client.post(resubmit["action"], data=resubmit["fields"], follow_redirects=False)
    assert done.headers["location"] == "/account?notice=email_code_sent"  # then the code changes it
    assert NEW_EMAIL in [to for _, _, to, *_ in storage(client)["outbox"]]  # the code, on its way
    (event,) = [e for e in store.events_of(client, "s") if e.details["prompts"][0]["name"] != "login"]
    assert event.details["authentication_method"] == "password"


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/account/password", {"current_password": PASSWORD, "new_password": "another long password"}),
        ("/account/password/delete", {}),
        ("/account/email", {"email": NEW_EMAIL}),
    ],
)
def test_every_sensitive_form_asks_and_changes_nothing(
    client: TestClient, clock: FrozenClock, password_user: None, path: str, fields: dict[str, str]
) -> None:
    clock.advance(hours=1)
    csrf = session_csrf(client)
    before = storage(client)

    response = client.post(path, data={"csrf": csrf, **fields}, follow_redirects=False)

    assert response.status_code == 403
    confirm_step(response)
    assert storage(client) == before


def test_a_wrong_password_confirms_nothing(
    client: TestClient, clock: FrozenClock, password_user: None
) -> None:
    clock.advance(seconds=901)
    step = confirm_step(
        client.post("/account/email", data={"csrf": session_csrf(client), "email": NEW_EMAIL})
    )
    signed_in_at = auth_time(client, clock)

    refused = confirm(client, step, method="password", password="not my password")

    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_credentials"
    assert auth_time(client, clock) == signed_in_at
    assert store.find_user(client, NEW_EMAIL) is None


def test_a_tampered_pending_request_is_refused_and_confirms_nothing(
    client: TestClient, clock: FrozenClock, password_user: None
) -> None:
    clock.advance(seconds=901)
    step = confirm_step(
        client.post("/account/email", data={"csrf": session_csrf(client), "email": NEW_EMAIL})
    )
    signed_in_at = auth_time(client, clock)
    tampered = {**step, "pending": step["pending"][:-4] + "AAAA"}

    refused = confirm(client, tampered, method="password", password=PASSWORD)

    assert refused.status_code == 410 and refused.json()["error"] == "flow_expired"
    assert auth_time(client, clock) == signed_in_at


def test_a_pending_request_of_another_session_is_refused(
    client: TestClient, clock: FrozenClock, password_user: None
) -> None:
    clock.advance(seconds=901)
    step = confirm_step(
        client.post("/account/email", data={"csrf": session_csrf(client), "email": NEW_EMAIL})
    )
    binding = client.cookies["keyturn_browser"]
    client.cookies.clear()
    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 200
    client.cookies.set("keyturn_browser", binding)
    before = storage(client)

    refused = confirm(client, step, method="password", password=PASSWORD)

    assert refused.status_code == 403
    assert storage(client) == before


def test_the_window_is_the_tenants_privileged_session_max_age(
    client: TestClient, clock: FrozenClock, password_user: None
) -> None:
    store.set_tenant(client, "/privileged_session_max_age", 60)
    clock.advance(seconds=61)
    response = client.post("/account/email", data={"csrf": session_csrf(client), "email": NEW_EMAIL})
    assert response.status_code == 403


def test_adding_a_passkey_after_an_old_sign_in_confirms_with_a_passkey_first(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator
) -> None:
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    clock.advance(seconds=901)
    csrf = session_csrf(client)
    before = storage(client)

    asked = client.post("/account/passkeys/options", headers={"x-csrf-token": csrf})

    assert asked.status_code == 403 and asked.json()["error"] == "reauthentication_required"
    assert storage(client) == before
    step = confirm_step(client.get("/account/confirm"))
    options = confirm_options(client, step)
    assert options.status_code == 200, options.text
    (held,) = authenticator.credentials
    assert [c["id"] for c in options.json()["options"]["allowCredentials"]] == [bytes_to_base64url(held)]
    credential = authenticator.get(options.json()["options"], origin=ORIGIN)

    confirmed = confirm(client, step, method="passkey", credential=credential)

    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json() == {"redirect_to": "/account?resume=add_passkey"}
    assert auth_time(client, clock) == clock.now()
    assert client.post("/account/passkeys/options", headers={"x-csrf-token": csrf}).status_code == 200


def test_another_accounts_passkey_cannot_confirm(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator
) -> None:
    bob = SoftAuthenticator()
    assert browser.signup_with_passkey(client, bob, "bob@example.com").status_code == 200
    client.cookies.clear()
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    clock.advance(seconds=901)
    step = confirm_step(client.get("/account/confirm"))
    options = confirm_options(client, step).json()["options"]
    (bobs_key,) = bob.credentials
    credential = bob.get(options, origin=ORIGIN, credential_id=bobs_key)
    signed_in_at = auth_time(client, clock)

    refused = confirm(client, step, method="passkey", credential=credential)

    assert refused.status_code in (400, 401, 403)
    assert auth_time(client, clock) == signed_in_at
