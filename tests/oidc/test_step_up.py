"""Step-up (issue 12): an asked acr the session does not meet sends the browser to a passkey
step on /login instead of issuing a code; the proof joins the same session, the authorization
resumes, and the ID token (validated by Authlib's OpenID client checks) says the level met."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from keyturn.domain.assurance import ACR_MFA, ACR_PHR, ACR_PHRH
from keyturn.domain.identity import User
from keyturn.oidc.clients import NewClient
from tests.support import browser, oidc, store
from tests.support.oidc import Pkce
from tests.support.soft_authenticator import SoftAuthenticator

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"


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


@pytest.fixture
def app(client: TestClient) -> NewClient:
    return oidc.register(client)


@pytest.fixture
def ada(client: TestClient, authenticator: SoftAuthenticator) -> User:
    """Signed in with a password, and holding a passkey added on /account."""
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    add_passkey_on_account(client, authenticator)
    return store.user_of(client, EMAIL)


def step_up_page(client: TestClient, location: str) -> browser.PageFlow:
    assert location.startswith("/login?authorization_request="), location
    page = client.get(location)
    assert page.status_code == 200, page.text
    assert "Confirm it's you" in page.text
    data = browser.page_data(page)
    return browser.PageFlow(flow_id=data["flow_id"], csrf=data["csrf"], data=data)


def step_up_with_passkey(
    client: TestClient, authenticator: SoftAuthenticator, location: str, **get_kwargs: Any
) -> Any:
    flow = step_up_page(client, location)
    options = client.post(f"/login/flows/{flow.flow_id}/passkey/options", headers=flow.headers)
    assert options.status_code == 200, options.text
    assert options.json()["userVerification"] == "required"
    credential = authenticator.get(options.json(), origin=browser.ORIGIN, **get_kwargs)
    return browser.submit_passkey_login(client, flow, credential)


def tokens_for(client: TestClient, app: NewClient, pkce: Pkce, location: str) -> dict[str, Any]:
    """Follow the resume redirect to the code, and exchange it."""
    code = oidc.redirect_params(client.get(location, follow_redirects=False))["code"]
    response = oidc.exchange(client, app, code, pkce)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_password_session_steps_up_to_phr_with_its_passkey(
    client: TestClient, app: NewClient, ada: User, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    signed_in_at = int(clock.now().timestamp())
    clock.advance(minutes=5)
    pkce = Pkce.new()
    asked = oidc.authorize(client, app, pkce, acr_values=ACR_PHR)
    assert asked.status_code == 303
    stepped = step_up_with_passkey(client, authenticator, asked.headers["location"])
    assert stepped.status_code == 200, stepped.text
    body = tokens_for(client, app, pkce, stepped.json()["redirect_to"])
    now = int(clock.now().timestamp())
    claims = oidc.authlib_claims(
        client, app, body, now=now, options={"acr": {"essential": True, "values": [ACR_PHR]}}
    )
    assert claims["acr"] == ACR_PHR
    assert claims["amr"] == ["pwd", "phr"]
    assert claims["sub"] == ada.id
    assert claims["auth_time"] == now > signed_in_at  # the latest proof
    # the same session went on: still one, its proofs grown
    sessions = store.read(client, lambda tx: tx.list_user_sessions(ada.id, now=clock.now(), limit=10))
    assert len(sessions) == 1
    assert [e.method for e in sessions[0].authenticated] == ["password", "passkey"]
    step_ups = [e for e in store.events_of(client, "s", user_id=ada.id) if e.details.get("session_id")]
    assert step_ups[0].details["prompts"][0]["name"] == "step-up"


def test_the_userinfo_and_introspection_keep_the_level(
    client: TestClient, app: NewClient, ada: User, authenticator: SoftAuthenticator
) -> None:
    pkce = Pkce.new()
    asked = oidc.authorize(client, app, pkce, acr_values=ACR_PHR)
    stepped = step_up_with_passkey(client, authenticator, asked.headers["location"])
    body = tokens_for(client, app, pkce, stepped.json()["redirect_to"])
    assert app.secret is not None
    introspected = client.post(
        "/oauth2/introspect", data={"token": body["access_token"]}, auth=(app.client.client_id, app.secret)
    ).json()
    assert introspected["active"] is True
    assert introspected["acr"] == ACR_PHR


def test_a_session_that_meets_the_level_gets_a_code_at_once(
    client: TestClient, app: NewClient, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    response = oidc.authorize(client, app, Pkce.new(), acr_values=ACR_PHR)
    assert "code" in oidc.redirect_params(response)


def test_prompt_none_answers_interaction_required(client: TestClient, app: NewClient, ada: User) -> None:
    before = browser.storage(client)["authorization_requests"]
    response = oidc.authorize(client, app, Pkce.new(), acr_values=ACR_PHR, prompt="none")
    params = oidc.redirect_params(response)
    assert params["error"] == "interaction_required"
    assert params["state"] == "state-123"
    assert "code" not in params
    assert browser.storage(client)["authorization_requests"] == before  # nothing parked


def test_the_claims_parameter_asks_for_acr_as_essential(
    client: TestClient, app: NewClient, ada: User, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    pkce = Pkce.new()
    claims_param = json.dumps({"id_token": {"acr": {"essential": True, "values": [ACR_PHR]}}})
    asked = oidc.authorize(client, app, pkce, claims=claims_param)
    stepped = step_up_with_passkey(client, authenticator, asked.headers["location"])
    body = tokens_for(client, app, pkce, stepped.json()["redirect_to"])
    claims = oidc.authlib_claims(client, app, body, now=int(clock.now().timestamp()))
    assert claims["acr"] == ACR_PHR


def test_an_essential_level_the_step_up_cannot_reach_is_refused(
    client: TestClient, app: NewClient, ada: User, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    """phrh needs a passkey attested as device-bound: this one is not, so the step-up is refused
    with a stable code and an `f` event, and the session gains nothing."""
    pkce = Pkce.new()
    claims_param = json.dumps({"id_token": {"acr": {"essential": True, "value": ACR_PHRH}}})
    asked = oidc.authorize(client, app, pkce, claims=claims_param)
    refused = step_up_with_passkey(client, authenticator, asked.headers["location"])
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "attested_passkey_required"
    failures = store.events_of(client, "f", user_id=ada.id)
    assert failures[0].details["error"] == "attested_passkey_required"
    assert failures[0].details["requires"] == ACR_PHRH
    # the session gained nothing
    sessions = store.read(client, lambda tx: tx.list_user_sessions(ada.id, now=clock.now(), limit=10))
    assert [e.method for e in sessions[0].authenticated] == ["password"]


def test_a_step_up_insists_on_user_verification(
    client: TestClient, app: NewClient, ada: User, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    pkce = Pkce.new()
    asked = oidc.authorize(client, app, pkce, acr_values=ACR_PHR)
    authenticator.user_verified = False
    refused = step_up_with_passkey(client, authenticator, asked.headers["location"])
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "passkey_verification_failed"
    sessions = store.read(client, lambda tx: tx.list_user_sessions(ada.id, now=clock.now(), limit=10))
    assert [e.method for e in sessions[0].authenticated] == ["password"]


def test_a_voluntary_level_still_unmet_after_the_step_up_is_not_claimed(
    client: TestClient, app: NewClient, ada: User, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    """Asked (voluntarily) for the MFA level, the user steps up once; the code then comes with
    the acr the session really meets: the MFA acr only when its amr says mfa, else none."""
    pkce = Pkce.new()
    asked = oidc.authorize(client, app, pkce, acr_values=ACR_MFA)
    stepped = step_up_with_passkey(client, authenticator, asked.headers["location"])
    assert stepped.status_code == 200, stepped.text
    body = tokens_for(client, app, pkce, stepped.json()["redirect_to"])
    claims = oidc.authlib_claims(client, app, body, now=int(clock.now().timestamp()))
    assert ("mfa" in claims["amr"]) == (claims.get("acr") == ACR_MFA)
    assert claims.get("acr") in (None, ACR_MFA)


def test_acr_is_never_more_than_met(
    client: TestClient, app: NewClient, ada: User, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    """Asked for phrh or phr, a session stepped up with a plain passkey is told phr only."""
    pkce = Pkce.new()
    asked = oidc.authorize(client, app, pkce, acr_values=f"{ACR_PHRH} {ACR_PHR}")
    # phrh is asked first, and this passkey is not attested: refused for phrh …
    refused = step_up_with_passkey(client, authenticator, asked.headers["location"])
    assert refused.json()["error"] == "attested_passkey_required"
    # … while a session that already holds a user-verified passkey meets phr and is told so
    pkce = Pkce.new()
    browser.sign_out(client)
    assert browser.login_with_passkey(client, authenticator).status_code == 200
    code = oidc.code_for(client, app, pkce, acr_values=f"{ACR_PHRH} {ACR_PHR}")
    body = oidc.exchange(client, app, code, pkce).json()
    claims = oidc.authlib_claims(client, app, body, now=int(clock.now().timestamp()))
    assert claims["acr"] == ACR_PHR


def test_max_age_after_a_step_up_counts_from_the_step_up(
    client: TestClient, app: NewClient, ada: User, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    pkce = Pkce.new()
    clock.advance(minutes=10)
    asked = oidc.authorize(client, app, pkce, acr_values=ACR_PHR)
    stepped = step_up_with_passkey(client, authenticator, asked.headers["location"])
    stepped_at = int(clock.now().timestamp())
    tokens_for(client, app, pkce, stepped.json()["redirect_to"])
    # a minute later, max_age=300 is met by the step-up (the password was 11 minutes ago) …
    clock.advance(minutes=1)
    pkce = Pkce.new()
    code = oidc.code_for(client, app, pkce, max_age="300", acr_values=ACR_PHR)
    body = oidc.exchange(client, app, code, pkce).json()
    claims = oidc.authlib_claims(client, app, body, now=int(clock.now().timestamp()))
    assert claims["auth_time"] == stepped_at
    assert claims["acr"] == ACR_PHR
    # … and max_age=30 asks for a sign-in again
    again = oidc.authorize(client, app, Pkce.new(), max_age="30")
    assert again.headers["location"].startswith("/login?authorization_request=")


def test_a_step_up_with_another_users_passkey_is_refused(
    client: TestClient, app: NewClient, ada: User, authenticator: SoftAuthenticator
) -> None:
    other = SoftAuthenticator()
    browser.sign_out(client)
    assert browser.signup_with_passkey(client, other, "grace@example.com").status_code == 200
    browser.sign_out(client)
    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 200
    asked = oidc.authorize(client, app, Pkce.new(), acr_values=ACR_PHR)
    refused = step_up_with_passkey(client, other, asked.headers["location"])
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "flow_user_mismatch"


def test_the_step_up_page_offers_only_passkeys(client: TestClient, app: NewClient, ada: User) -> None:
    asked = oidc.authorize(client, app, Pkce.new(), acr_values=ACR_PHR)
    flow = step_up_page(client, asked.headers["location"])
    refused = client.post(
        f"/login/flows/{flow.flow_id}",
        json={"method": "password", "email": EMAIL, "password": PASSWORD},
        headers=flow.headers,
    )
    assert refused.status_code in (400, 403), refused.text
    sessions = store.events_of(client, "s", user_id=ada.id)
    assert all(e.details.get("prompts", [{}])[0].get("name") != "step-up" for e in sessions)


def test_discovery_lists_the_levels_and_the_claims_parameter(client: TestClient) -> None:
    metadata = client.get("/.well-known/openid-configuration").json()
    assert metadata["acr_values_supported"] == [ACR_PHR, ACR_PHRH, ACR_MFA]
    assert metadata["claims_parameter_supported"] is True


def test_a_malformed_claims_parameter_is_invalid_request(client: TestClient, app: NewClient) -> None:
    response = oidc.authorize(client, app, Pkce.new(), claims='{"id_token": {"acr": "phr"}}')
    assert oidc.redirect_params(response)["error"] == "invalid_request"


def test_an_essential_level_keyturn_cannot_give_is_unmet_authentication_requirements(
    client: TestClient, app: NewClient, ada: User
) -> None:
    claims_param = json.dumps({"id_token": {"acr": {"essential": True, "values": ["urn:example:gold"]}}})
    response = oidc.authorize(client, app, Pkce.new(), claims=claims_param)
    params = oidc.redirect_params(response)
    assert params["error"] == "unmet_authentication_requirements"
    assert "code" not in params
    assert browser.storage(client)["authorization_codes"] == []


def test_an_essential_level_still_unmet_after_the_step_up_fails_the_authorization(
    client: TestClient, app: NewClient, ada: User, authenticator: SoftAuthenticator
) -> None:
    """Essential MFA, stepped up with a passkey: either the session now says mfa (the passkey
    counts as two factors) and the code comes with that acr, or the authorization fails; never
    a code with a lower acr."""
    pkce = Pkce.new()
    claims_param = json.dumps({"id_token": {"acr": {"essential": True, "value": ACR_MFA}}})
    asked = oidc.authorize(client, app, pkce, claims=claims_param)
    stepped = step_up_with_passkey(client, authenticator, asked.headers["location"])
    assert stepped.status_code == 200, stepped.text
    params = oidc.redirect_params(client.get(stepped.json()["redirect_to"], follow_redirects=False))
    if "code" in params:
        body = oidc.exchange(client, app, params["code"], pkce).json()
        _, claims = oidc.jwt_parts(body["id_token"])
        assert claims["acr"] == ACR_MFA and "mfa" in claims["amr"]
    else:
        assert params["error"] == "unmet_authentication_requirements"
        assert browser.storage(client)["authorization_requests"] == []  # the request is gone
