"""Passkeys offered after a sign-in, over HTTP: progressive enrollment after a password sign-in
(the prompt, its stored answers, the automatic upgrade and the one place UP=0 is accepted),
and local enrollment after a sign-in with another device's passkey.

The page's script (keyturn.js setupEnroll) is driven here the way it calls the server; the
browser journeys themselves are in tests/e2e_clock.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from httpx2 import Response
from starlette.testclient import TestClient
from webauthn.helpers import bytes_to_base64url

from keyturn.clock import FrozenClock
from keyturn.domain.enrollment import EnrollmentChoice
from keyturn.domain.identity import User
from keyturn.domain.oidc import AuthorizationRequest
from keyturn.http.security import BINDING_COOKIE
from keyturn.ids import hash_token
from keyturn.oidc.authorization import AUTHORIZATION_PARAM
from keyturn.web.enrollment import DEVICE_CHOICE_COOKIE
from tests.support import browser, oidc, store
from tests.support.browser import ORIGIN, storage
from tests.support.soft_authenticator import CredentialExcluded, SoftAuthenticator

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
OFFER = re.compile(r"^/enroll/[A-Za-z0-9_-]+$")


# --- helpers -------------------------------------------------------------------------------


def password_user(client: TestClient, email: str = EMAIL) -> User:
    response = browser.signup_with_password(client, email, PASSWORD)
    assert response.status_code == 200, response.text
    browser.sign_out(client)
    return store.user_of(client, email)


def password_sign_in(client: TestClient, *, can_create: bool = True, path: str = "/login") -> str:
    """Sign in with the password as the login page's script does; where it goes next."""
    flow = browser.open_page(client, path)
    body = {"method": "password", "email": EMAIL, "password": PASSWORD, "can_create_passkey": can_create}
    response = client.post(f"/login/flows/{flow.flow_id}", json=body, headers=flow.headers)
    assert response.status_code == 200, response.text
    redirect_to: str = response.json()["redirect_to"]
    return redirect_to


def passkey_sign_in(client: TestClient, authenticator: SoftAuthenticator, *, can_create: bool = True) -> str:
    flow, options = browser.login_options(client)
    credential = authenticator.get(options, origin=ORIGIN)
    body = {"method": "passkey", "credential": credential, "can_create_passkey": can_create}
    response = client.post(f"/login/flows/{flow.flow_id}", json=body, headers=flow.headers)
    assert response.status_code == 200, response.text
    redirect_to: str = response.json()["redirect_to"]
    return redirect_to


def offer_data(client: TestClient, offer: str) -> dict[str, Any]:
    page = client.get(offer, follow_redirects=False)
    assert page.status_code == 200, page.text
    return browser.page_data(page)


def options(client: TestClient, offer: str, *, conditional: bool) -> Response:
    data = offer_data(client, offer)
    return client.post(
        f"/enroll/{data['flow_id']}/options",
        json={"conditional": conditional},
        headers={"x-csrf-token": data["csrf"]},
    )


def create(
    client: TestClient, offer: str, authenticator: SoftAuthenticator, *, conditional: bool = False
) -> tuple[Response, dict[str, Any]]:
    """Ask for creation options, let the authenticator answer, post it; the answer and the credential."""
    data = offer_data(client, offer)
    headers = {"x-csrf-token": data["csrf"]}
    asked = client.post(
        f"/enroll/{data['flow_id']}/options", json={"conditional": conditional}, headers=headers
    )
    assert asked.status_code == 200, asked.text
    credential = authenticator.create(asked.json(), origin=ORIGIN)
    return client.post(
        f"/enroll/{data['flow_id']}", json={"credential": credential}, headers=headers
    ), credential


def post_credential(client: TestClient, offer: str, credential: dict[str, Any]) -> Response:
    data = offer_data(client, offer)
    return client.post(
        f"/enroll/{data['flow_id']}", json={"credential": credential}, headers={"x-csrf-token": data["csrf"]}
    )


def choose(client: TestClient, offer: str, choice: str) -> Response:
    data = offer_data(client, offer)
    return client.post(
        f"/enroll/{data['flow_id']}/choice",
        data={"csrf": data["csrf"], "choice": choice},
        follow_redirects=False,
    )


def choice_of(client: TestClient, user: User) -> EnrollmentChoice | None:
    return store.read(client, lambda tx: tx.get_enrollment_choice(user.id))


def enrollment_events(client: TestClient, user: User, kind: str) -> list[dict[str, Any]]:
    return [dict(e.details or {}) for e in store.events_of(client, kind, user_id=user.id)]


@pytest.fixture
def prompt_only(client: TestClient) -> None:
    """The prompt alone (no automatic upgrade): what most of these tests look at."""
    store.set_tenant(client, "/passkey_options/progressive_enrollment_mode", "prompt")


# --- progressive enrollment: when it is offered -------------------------------------------------


def test_a_password_sign_in_without_a_passkey_is_offered_one_and_the_page_goes_on_to_account(
    client: TestClient,
) -> None:
    password_user(client)
    offer = password_sign_in(client)

    assert OFFER.match(offer), offer
    data = offer_data(client, offer)
    assert data["mode"] == "enroll"
    assert data["kind"] == "progressive"
    assert data["prompt"] is True and data["automatic"] is True  # mode "both", the default
    assert data["next"] == "/account"
    page = client.get(offer).text
    for label in ("Create a passkey", "Not now", "Don't ask again"):
        assert label in page
    assert client.get("/account").status_code == 200  # signed in already: the offer blocks nothing


def test_no_offer_when_the_browser_cannot_create_a_passkey(client: TestClient) -> None:
    password_user(client)
    assert password_sign_in(client, can_create=False) == "/account"


def test_no_offer_to_a_user_with_a_passkey(client: TestClient, authenticator: SoftAuthenticator) -> None:
    user = password_user(client)
    password_sign_in(client, can_create=False)
    browser.sign_out(client)
    offer = password_sign_in(client)
    response, _ = create(client, offer, authenticator)
    assert response.status_code == 200, response.text
    assert len(store.passkeys_of(client, user.id)) == 1
    browser.sign_out(client)

    assert password_sign_in(client) == "/account"


def test_no_offer_when_progressive_enrollment_is_off(client: TestClient) -> None:
    password_user(client)
    store.set_tenant(client, "/passkey_options/progressive_enrollment_enabled", False)
    assert password_sign_in(client) == "/account"


def test_no_offer_when_passkeys_are_off(client: TestClient) -> None:
    password_user(client)
    store.set_tenant(client, "/authentication_methods/passkey/enabled", False)
    assert password_sign_in(client) == "/account"


def test_no_offer_after_a_sign_in_with_a_passkey_of_this_device(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    browser.sign_out(client)
    assert passkey_sign_in(client, authenticator) == "/account"


# --- progressive enrollment: the answers ---------------------------------------------------------


def test_not_now_snoozes_the_offer_for_the_tenants_days_then_it_comes_back(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator, prompt_only: None
) -> None:
    user = password_user(client)
    offer = password_sign_in(client)

    answered = choose(client, offer, "not_now")

    assert answered.status_code == 303
    assert answered.headers["location"] == "/account"
    stored = choice_of(client, user)
    assert stored is not None
    assert stored.snoozed_until == clock.now() + timedelta(days=14)
    assert stored.declined_at is None
    browser.sign_out(client)

    clock.advance(days=13, hours=23)
    assert password_sign_in(client) == "/account"
    browser.sign_out(client)

    clock.advance(hours=1)
    offer = password_sign_in(client)
    assert OFFER.match(offer)
    response, _ = create(client, offer, authenticator)
    assert response.status_code == 200, response.text
    assert response.json()["redirect_to"] == "/account"
    [passkey] = store.passkeys_of(client, user.id)
    [event] = enrollment_events(client, user, "gd_enrollment_complete")
    assert event["enrollment"] == "progressive"
    assert event["passkey_id"] == passkey.id


def test_the_snooze_is_the_tenants_setting(client: TestClient, clock: FrozenClock, prompt_only: None) -> None:
    user = password_user(client)
    store.set_tenant(client, "/passkey_options/progressive_enrollment_snooze_days", 3)
    choose(client, password_sign_in(client), "not_now")
    stored = choice_of(client, user)
    assert stored is not None and stored.snoozed_until == clock.now() + timedelta(days=3)


def test_dont_ask_again_is_stored_and_holds_for_good(
    client: TestClient, clock: FrozenClock, prompt_only: None
) -> None:
    user = password_user(client)
    answered = choose(client, password_sign_in(client), "never")

    assert answered.status_code == 303 and answered.headers["location"] == "/account"
    stored = choice_of(client, user)
    assert stored is not None and stored.declined_at == clock.now() and stored.snoozed_until is None
    browser.sign_out(client)

    clock.advance(days=400)
    assert password_sign_in(client) == "/account"


def test_the_choice_belongs_to_the_user_not_the_browser(client: TestClient, prompt_only: None) -> None:
    password_user(client)
    password_user(client, "grace@example.com")
    choose(client, password_sign_in(client), "never")
    browser.sign_out(client)

    flow = browser.open_page(client, "/login")
    body = {
        "method": "password",
        "email": "grace@example.com",
        "password": PASSWORD,
        "can_create_passkey": True,
    }
    response = client.post(f"/login/flows/{flow.flow_id}", json=body, headers=flow.headers)
    assert OFFER.match(response.json()["redirect_to"])


@pytest.mark.parametrize("choice", ["later", "", "NEVER"])
def test_an_unknown_choice_is_refused_and_stores_nothing(client: TestClient, choice: str) -> None:
    password_user(client)
    offer = password_sign_in(client)
    before = storage(client)

    answered = choose(client, offer, choice)

    assert answered.status_code == 400
    assert "Choose Not now or Don" in answered.text
    assert storage(client) == before


def test_a_choice_without_the_pages_token_is_refused_and_stores_nothing(client: TestClient) -> None:
    password_user(client)
    offer = password_sign_in(client)
    data = offer_data(client, offer)
    before = storage(client)

    answered = client.post(
        f"/enroll/{data['flow_id']}/choice", data={"choice": "never"}, follow_redirects=False
    )

    assert answered.status_code == 403
    assert storage(client) == before


def test_an_offer_is_only_its_users(client: TestClient) -> None:
    """Another account signed in in this browser since: the offer's calls are refused, its page goes on."""
    password_user(client)
    password_user(client, "grace@example.com")
    offer = password_sign_in(client)
    data = offer_data(client, offer)
    browser.sign_out(client)
    flow = browser.open_page(client, "/login")
    body = {"method": "password", "email": "grace@example.com", "password": PASSWORD}
    assert client.post(f"/login/flows/{flow.flow_id}", json=body, headers=flow.headers).status_code == 200
    before = storage(client)

    page = client.get(offer, follow_redirects=False)
    answered = client.post(
        f"/enroll/{data['flow_id']}/choice",
        data={"csrf": data["csrf"], "choice": "never"},
        follow_redirects=False,
    )

    assert page.status_code == 303 and page.headers["location"] == "/account"
    assert answered.status_code == 403
    assert storage(client) == before


def test_an_offer_that_does_not_open_goes_on_to_the_account(client: TestClient) -> None:
    password_user(client)
    password_sign_in(client)
    page = client.get("/enroll/not-a-sealed-offer", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/account"


# --- never in the way ------------------------------------------------------------------------------


def test_a_failed_creation_changes_nothing_and_the_sign_in_stands(
    client: TestClient, authenticator: SoftAuthenticator, prompt_only: None
) -> None:
    user = password_user(client)
    offer = password_sign_in(client)
    asked = options(client, offer, conditional=False)
    credential = authenticator.create(asked.json(), origin="https://evil.example")
    before = storage(client)

    refused = post_credential(client, offer, credential)

    assert refused.status_code == 400
    assert refused.json()["error"] == "origin_mismatch"
    assert storage(client) == before
    [failure] = enrollment_events(client, user, "gd_webauthn_enrollment_failed")
    assert failure == {"error": "origin_mismatch", "enrollment": "progressive"}
    assert client.get("/account").status_code == 200  # where the page goes next: still signed in


def test_an_oidc_sign_in_goes_through_the_offer_and_on_to_the_client(client: TestClient) -> None:
    app = oidc.register(client)
    password_user(client)
    login_url = oidc.authorize(client, app, oidc.Pkce.new()).headers["location"]

    offer = password_sign_in(client, path=login_url)
    next_url = offer_data(client, offer)["next"]
    answered = choose(client, offer, "not_now")

    assert next_url.startswith("/oauth2/authorize/resume/")
    assert answered.headers["location"] == next_url
    resumed = client.get(next_url, follow_redirects=False)
    assert resumed.status_code in (302, 303)
    assert "code" in oidc.redirect_params(resumed)


def test_prompt_none_gives_its_code_without_an_offer(client: TestClient) -> None:
    app = oidc.register(client)
    password_user(client)
    password_sign_in(client, can_create=False)  # signed in; an offer would still be due

    response = oidc.authorize(client, app, oidc.Pkce.new(), prompt="none")

    assert response.headers["location"].startswith(oidc.REDIRECT_URI + "?")
    assert "code" in oidc.redirect_params(response)


def test_a_sign_in_continuing_a_prompt_none_request_is_never_offered_a_passkey(
    client: TestClient, clock: FrozenClock
) -> None:
    """Defence in depth: prompt=none never reaches a login page, but were one to continue such
    a request, its sign-in would still go straight on."""
    app = oidc.register(client)
    password_user(client)
    binding = client.cookies.get(BINDING_COOKIE)
    assert binding is not None
    request = AuthorizationRequest(
        id="parked-prompt-none",
        client_id=app.client.client_id,
        redirect_uri=oidc.REDIRECT_URI,
        scope=("openid",),
        state="s",
        nonce=None,
        code_challenge=None,
        prompt=("none",),
        max_age=None,
        login_hint=None,
        acr_values=(),
        audience=None,
        browser_binding=hash_token(binding),
        created_at=clock.now(),
        expires_at=clock.now() + timedelta(minutes=30),
    )
    store.write(client, lambda tx: tx.save_authorization_request(request))

    redirect_to = password_sign_in(client, path=f"/login?{AUTHORIZATION_PARAM}={request.id}")

    assert redirect_to == f"/oauth2/authorize/resume/{request.id}"


# --- the automatic upgrade: UP=0 accepted once, there only ---------------------------------------


def test_the_automatic_upgrade_is_accepted_without_user_presence_right_after_the_password(
    client: TestClient, clock: FrozenClock
) -> None:
    user = password_user(client)
    offer = password_sign_in(client)
    silent = SoftAuthenticator(user_present=False, user_verified=False)
    clock.advance(seconds=30)

    response, _ = create(client, offer, silent, conditional=True)

    assert response.status_code == 200, response.text
    assert response.json()["redirect_to"] == "/account"
    assert len(store.passkeys_of(client, user.id)) == 1
    [event] = enrollment_events(client, user, "gd_enrollment_complete")
    assert event["enrollment"] == "progressive"


def test_a_conditional_creation_with_the_user_present_is_accepted_too(client: TestClient) -> None:
    user = password_user(client)
    response, _ = create(client, password_sign_in(client), SoftAuthenticator(), conditional=True)
    assert response.status_code == 200, response.text
    assert len(store.passkeys_of(client, user.id)) == 1


def test_the_automatic_upgrade_is_refused_a_minute_after_the_password_sign_in(
    client: TestClient, clock: FrozenClock
) -> None:
    user = password_user(client)
    offer = password_sign_in(client)
    asked = options(client, offer, conditional=True)  # in time
    credential = SoftAuthenticator(user_present=False).create(asked.json(), origin=ORIGIN)
    clock.advance(seconds=61)
    client.get("/account")  # the session's last-active time moves now, not during the refusal
    before = storage(client)

    refused = post_credential(client, offer, credential)

    assert refused.status_code == 400
    assert refused.json()["error"] == "passkey_verification_failed"
    assert storage(client) == before
    assert store.passkeys_of(client, user.id) == []
    [failure] = enrollment_events(client, user, "gd_webauthn_enrollment_failed")
    assert failure["enrollment"] == "progressive"
    # and no more conditional options for it
    late = options(client, offer, conditional=True)
    assert late.status_code == 403
    assert late.json()["error"] == "automatic_upgrade_not_offered"
    assert offer_data(client, offer)["automatic"] is False


def test_user_presence_is_required_for_a_creation_not_begun_as_conditional(
    client: TestClient, prompt_only: None
) -> None:
    user = password_user(client)
    offer = password_sign_in(client)
    asked = options(client, offer, conditional=False)
    credential = SoftAuthenticator(user_present=False).create(asked.json(), origin=ORIGIN)
    before = storage(client)

    refused = post_credential(client, offer, credential)

    assert refused.status_code == 400
    assert refused.json()["error"] == "passkey_verification_failed"
    assert storage(client) == before
    assert store.passkeys_of(client, user.id) == []


def test_a_conditional_creation_is_not_offered_in_prompt_mode(client: TestClient, prompt_only: None) -> None:
    password_user(client)
    offer = password_sign_in(client)
    assert offer_data(client, offer)["automatic"] is False
    refused = options(client, offer, conditional=True)
    assert refused.status_code == 403
    assert refused.json()["error"] == "automatic_upgrade_not_offered"


def test_automatic_mode_shows_no_prompt(client: TestClient) -> None:
    password_user(client)
    store.set_tenant(client, "/passkey_options/progressive_enrollment_mode", "automatic")
    data = offer_data(client, password_sign_in(client))
    assert data["automatic"] is True and data["prompt"] is False


def test_an_automatic_upgrade_replayed_is_refused(client: TestClient) -> None:
    user = password_user(client)
    offer = password_sign_in(client)
    response, credential = create(client, offer, SoftAuthenticator(user_present=False), conditional=True)
    assert response.status_code == 200, response.text
    before = storage(client)

    replayed = post_credential(client, offer, credential)

    assert replayed.status_code == 400
    assert replayed.json()["error"] == "challenge_invalid"
    assert storage(client) == before
    assert len(store.passkeys_of(client, user.id)) == 1


def test_user_presence_is_required_when_adding_a_passkey_on_the_account_page(client: TestClient) -> None:
    user = password_user(client)
    password_sign_in(client, can_create=False)
    account = browser.open_page(client, "/account")
    started = client.post("/account/passkeys/options", headers={"x-csrf-token": account.csrf})
    assert started.status_code == 200, started.text
    body = started.json()
    credential = SoftAuthenticator(user_present=False).create(body["options"], origin=ORIGIN)
    before = storage(client)

    refused = client.post(
        "/account/passkeys",
        json={"flow_id": body["flow_id"], "credential": credential},
        headers={"x-csrf-token": body["csrf"]},
    )

    assert refused.status_code == 400
    assert refused.json()["error"] == "passkey_verification_failed"
    assert storage(client) == before
    assert store.passkeys_of(client, user.id) == []


def test_user_presence_is_required_at_sign_up(client: TestClient) -> None:
    before = storage(client)
    flow, asked = browser.signup_options(client, EMAIL)
    credential = SoftAuthenticator(user_present=False).create(asked, origin=ORIGIN)

    refused = client.post(
        f"/signup/flows/{flow.flow_id}",
        json={"method": "passkey", "credential": credential},
        headers=flow.headers,
    )

    assert refused.status_code == 400
    assert refused.json()["error"] == "passkey_verification_failed"
    assert storage(client) == before


# --- local enrollment after a sign-in with another device's passkey ------------------------------


@pytest.fixture
def phone() -> SoftAuthenticator:
    """The phone that signs in through the QR code: a cross-platform authenticator."""
    return SoftAuthenticator(attachment="cross-platform", transports=("hybrid",))


def phone_user(client: TestClient, phone: SoftAuthenticator) -> User:
    assert browser.signup_with_passkey(client, phone, EMAIL).status_code == 200
    browser.sign_out(client)
    return store.user_of(client, EMAIL)


def test_a_sign_in_from_another_device_offers_a_passkey_on_this_one(
    client: TestClient, phone: SoftAuthenticator
) -> None:
    user = phone_user(client, phone)
    offer = passkey_sign_in(client, phone)

    assert OFFER.match(offer), offer
    data = offer_data(client, offer)
    assert data["kind"] == "local" and data["prompt"] is True and data["automatic"] is False
    assert "Create a passkey on this device" in client.get(offer).text
    asked = options(client, offer, conditional=False)
    assert asked.status_code == 200, asked.text
    body = asked.json()
    assert body["hints"] == ["client-device"]
    assert body["authenticatorSelection"]["authenticatorAttachment"] == "platform"
    [phone_passkey] = store.passkeys_of(client, user.id)
    assert [d["id"] for d in body["excludeCredentials"]] == [bytes_to_base64url(phone_passkey.credential_id)]

    laptop = SoftAuthenticator()
    created = client.post(
        f"/enroll/{data['flow_id']}",
        json={"credential": laptop.create(body, origin=ORIGIN)},
        headers={"x-csrf-token": data["csrf"]},
    )

    assert created.status_code == 200, created.text
    assert created.json()["redirect_to"] == "/account"
    assert len(store.passkeys_of(client, user.id)) == 2
    [event] = enrollment_events(client, user, "gd_enrollment_complete")[-1:]
    assert event["enrollment"] == "local"


def test_the_phone_itself_is_never_asked_again(client: TestClient, phone: SoftAuthenticator) -> None:
    """excludeCredentials names every passkey of the user: the phone refuses (InvalidStateError)."""
    phone_user(client, phone)
    asked = options(client, passkey_sign_in(client, phone), conditional=False)
    with pytest.raises(CredentialExcluded):
        phone.create(asked.json(), origin=ORIGIN)


def test_no_local_offer_when_it_is_off_or_the_browser_cannot(
    client: TestClient, phone: SoftAuthenticator
) -> None:
    phone_user(client, phone)
    assert passkey_sign_in(client, phone, can_create=False) == "/account"
    browser.sign_out(client)
    store.set_tenant(client, "/passkey_options/local_enrollment_enabled", False)
    assert passkey_sign_in(client, phone) == "/account"


def test_local_not_now_is_remembered_by_this_browser_until_the_snooze_ends(
    client: TestClient, clock: FrozenClock, phone: SoftAuthenticator
) -> None:
    phone_user(client, phone)
    offer = passkey_sign_in(client, phone)
    before = storage(client)
    answered = choose(client, offer, "not_now")

    assert answered.status_code == 303 and answered.headers["location"] == "/account"
    until = int((clock.now() + timedelta(days=14)).timestamp())
    assert client.cookies.get(DEVICE_CHOICE_COOKIE) == f"until:{until}"
    assert "max-age=34560000" in answered.headers["set-cookie"].lower()
    assert storage(client) == before, "remembered by the browser, not stored for the user"
    browser.sign_out(client)

    assert passkey_sign_in(client, phone) == "/account"
    browser.sign_out(client)
    clock.advance(days=14)
    assert OFFER.match(passkey_sign_in(client, phone))


def test_local_dont_ask_again_is_per_browser_not_per_user(
    client: TestClient, clock: FrozenClock, phone: SoftAuthenticator
) -> None:
    phone_user(client, phone)
    choose(client, passkey_sign_in(client, phone), "never")
    assert client.cookies.get(DEVICE_CHOICE_COOKIE) == "never"
    browser.sign_out(client)
    clock.advance(days=1000)
    assert passkey_sign_in(client, phone) == "/account"
    browser.sign_out(client)

    client.cookies.clear()  # another browser: never asked there
    assert OFFER.match(passkey_sign_in(client, phone))


def test_no_local_offer_after_a_security_key(client: TestClient) -> None:
    """Cross-platform, but a usb key: not another device to follow up on."""
    security_key = SoftAuthenticator(attachment="cross-platform", transports=("usb",))
    phone_user(client, security_key)
    assert passkey_sign_in(client, security_key) == "/account"


def test_no_local_offer_at_the_passkey_limit(client: TestClient, phone: SoftAuthenticator) -> None:
    phone_user(client, phone)
    store.set_tenant(client, "/passkey_options/max_passkeys_per_user", 1)
    assert passkey_sign_in(client, phone) == "/account"


def test_a_local_offer_never_accepts_a_conditional_creation(
    client: TestClient, phone: SoftAuthenticator
) -> None:
    phone_user(client, phone)
    offer = passkey_sign_in(client, phone)
    refused = options(client, offer, conditional=True)
    assert refused.status_code == 403
    assert refused.json()["error"] == "automatic_upgrade_not_offered"

    asked = options(client, offer, conditional=False)
    credential = SoftAuthenticator(user_present=False).create(asked.json(), origin=ORIGIN)
    before = storage(client)
    refused = post_credential(client, offer, credential)
    assert refused.status_code == 400 and refused.json()["error"] == "passkey_verification_failed"
    assert storage(client) == before


def test_the_offer_keeps_a_same_site_return_to(client: TestClient) -> None:
    password_user(client)
    offer = password_sign_in(client, path="/login?return_to=/account%3Fnotice%3Dx")
    assert offer_data(client, offer)["next"] == "/account?notice=x"
    assert urlsplit(choose(client, offer, "not_now").headers["location"]).path == "/account"
