"""The identity schema over HTTP: sign-up and /account render and check its traits, the passkey
is named by its display-name trait, and the traits reach the ID token and userinfo by scope
(verified with joserfc, Authlib's JOSE library, against the published JWKS; the browser test
signs in through the Authlib example app)."""

from __future__ import annotations

import copy
import re
from typing import Any, cast

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, KeySetSerialization
from joserfc.jwt import JWTClaimsRegistry
from starlette.testclient import TestClient
from webauthn.helpers import bytes_to_base64url

from keyturn.domain.traits import DEFAULT_SCHEMA
from tests.support import browser, oidc, store
from tests.support.browser import ORIGIN
from tests.support.oidc import Pkce
from tests.support.soft_authenticator import SoftAuthenticator

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"


def schema_with(required: tuple[str, ...] = ("name",), **traits: dict[str, Any]) -> dict[str, Any]:
    schema = copy.deepcopy(DEFAULT_SCHEMA)
    schema["properties"].update(traits)
    schema["required"] = ["email", *required]
    return schema


NAME = {
    "type": "string",
    "title": "Full name",
    "description": "As you would like to be addressed.",
    "minLength": 1,
    "maxLength": 80,
    "x-keyturn": {"passkey": {"display_name": True}, "account": "editable"},
}
PHONE = {"type": "string", "format": "tel", "title": "Phone", "x-keyturn": {"signup": True}}
PLAN = {"type": "string", "enum": ["free", "pro"], "x-keyturn": {"signup": True, "account": "shown"}}
DEPARTMENT = {
    "type": "string",
    "x-keyturn": {
        "account": "editable",
        "oidc": {"claim": "https://example.com/department", "scope": "org"},
    },
}
SCHEMA = schema_with(name=NAME, phone_number=PHONE, plan=PLAN, department=DEPARTMENT)


@pytest.fixture
def with_schema(client: TestClient) -> TestClient:
    store.set_tenant(client, "/identity_schema", SCHEMA)
    return client


def signup_options(client: TestClient, body: dict[str, Any]) -> tuple[browser.PageFlow, Any]:
    flow = browser.open_page(client, "/signup")
    response = client.post(f"/signup/flows/{flow.flow_id}/passkey/options", json=body, headers=flow.headers)
    return flow, response


def sign_up(client: TestClient, authenticator: SoftAuthenticator, traits: dict[str, Any]) -> dict[str, Any]:
    flow, response = signup_options(client, {"email": EMAIL, "traits": traits})
    assert response.status_code == 200, response.text
    options: dict[str, Any] = response.json()
    credential = authenticator.create(options, origin=ORIGIN)
    done = client.post(
        f"/signup/flows/{flow.flow_id}",
        json={"method": "passkey", "credential": credential, "traits": traits},
        headers=flow.headers,
    )
    assert done.status_code == 200, done.text
    return options


# --- sign-up ----------------------------------------------------------------------------


def test_signup_renders_the_schema_fields(with_schema: TestClient) -> None:
    page = with_schema.get("/signup").text

    assert re.search(r'<label for="trait-name">Full name</label>', page)
    assert re.search(r'<input id="trait-name" name="traits.name" type="text"[^>]*required', page, re.S)
    assert "As you would like to be addressed." in page
    assert re.search(r'id="trait-phone_number"[^>]*type="tel"[^>]*autocomplete="tel"', page, re.S)
    assert re.search(r'<select id="trait-plan" name="traits.plan"', page)
    assert '<option value="pro">pro</option>' in page
    assert 'id="trait-department"' not in page  # not asked at sign-up


def test_default_schema_renders_no_extra_field(client: TestClient) -> None:
    assert "data-trait=" not in client.get("/signup").text


def test_passkey_signup_names_the_passkey_and_stores_the_traits(
    with_schema: TestClient, authenticator: SoftAuthenticator
) -> None:
    traits = {"name": "  Ada Lovelace ", "phone_number": "+44 20 7946 0958", "plan": "pro"}

    options = sign_up(with_schema, authenticator, traits)

    assert options["user"]["name"] == "Ada Lovelace"
    assert options["user"]["displayName"] == "Ada Lovelace"
    user = store.user_of(with_schema, EMAIL)
    assert user.traits == {"name": "Ada Lovelace", "phone_number": "+44 20 7946 0958", "plan": "pro"}


def test_without_a_display_name_trait_the_passkey_is_named_by_the_email(client: TestClient) -> None:
    _, options = browser.signup_options(client, EMAIL)

    assert options["user"]["name"] == EMAIL
    assert options["user"]["displayName"] == EMAIL


@pytest.mark.parametrize(
    ("traits", "fields"),
    [
        ({}, {"name": "This field is required."}),
        ({"name": "   "}, {"name": "This field is required."}),
        (
            {"name": "Ada", "phone_number": "call me"},
            {"phone_number": "Enter a phone number such as +44 20 7946 0958."},
        ),
        ({"name": "Ada", "plan": "gold"}, {"plan": "Choose one of the options."}),
        ({"name": "x" * 81}, {"name": "Use at most 80 characters."}),
    ],
    ids=["missing", "blank", "bad-tel", "not-in-enum", "too-long"],
)
def test_invalid_traits_refuse_the_options_by_field_and_store_nothing(
    with_schema: TestClient, traits: dict[str, Any], fields: dict[str, str]
) -> None:
    flow = browser.open_page(with_schema, "/signup")
    before = browser.storage(with_schema)

    response = with_schema.post(
        f"/signup/flows/{flow.flow_id}/passkey/options",
        json={"email": EMAIL, "traits": traits},
        headers=flow.headers,
    )

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_traits"
    assert response.json()["fields"] == fields
    assert browser.storage(with_schema) == before


def test_a_passkey_finish_with_invalid_traits_stores_nothing(
    with_schema: TestClient, authenticator: SoftAuthenticator
) -> None:
    flow, response = signup_options(with_schema, {"email": EMAIL, "traits": {"name": "Ada"}})
    credential = authenticator.create(response.json(), origin=ORIGIN)
    before = browser.storage(with_schema)

    refused = with_schema.post(
        f"/signup/flows/{flow.flow_id}",
        json={"method": "passkey", "credential": credential, "traits": {"name": ""}},
        headers=flow.headers,
    )

    assert refused.status_code == 400, refused.text
    assert refused.json()["fields"] == {"name": "This field is required."}
    assert store.find_user(with_schema, EMAIL) is None
    assert [t for t in browser.storage(with_schema) if t != "events"] == [t for t in before if t != "events"]


def test_password_signup_checks_the_traits_before_anything(with_schema: TestClient) -> None:
    flow = browser.open_page(with_schema, "/signup")
    before = browser.storage(with_schema)

    response = with_schema.post(
        f"/signup/flows/{flow.flow_id}",
        json={
            "method": "password",
            "email": EMAIL,
            "password": PASSWORD,
            "traits": {"name": "Ada", "phone_number": "nope"},
        },
        headers=flow.headers,
    )

    assert response.status_code == 400, response.text
    assert set(response.json()["fields"]) == {"phone_number"}
    assert store.find_user(with_schema, EMAIL) is None
    assert browser.storage(with_schema)["users"] == before["users"]


def test_password_signup_stores_only_the_signup_traits(with_schema: TestClient) -> None:
    flow = browser.open_page(with_schema, "/signup")

    response = with_schema.post(
        f"/signup/flows/{flow.flow_id}",
        json={
            "method": "password",
            "email": EMAIL,
            "password": PASSWORD,
            "traits": {"name": "Ada", "department": "Engines"},  # department is not asked
        },
        headers=flow.headers,
    )

    assert response.status_code == 200, response.text
    assert store.user_of(with_schema, EMAIL).traits == {"name": "Ada"}


# --- /account ---------------------------------------------------------------------------


def account_form(client: TestClient, **traits: str) -> Any:
    account = browser.open_page(client, "/account")
    data = {"csrf": account.csrf, **{f"traits.{k}": v for k, v in traits.items()}}
    return client.post("/account/profile", data=data, follow_redirects=False)


def test_account_shows_and_edits_the_schema_traits(
    with_schema: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_up(with_schema, authenticator, {"name": "Ada", "plan": "pro"})
    page = with_schema.get("/account").text
    assert re.search(r'id="trait-name" name="traits.name" type="text"\s+value="Ada"', page)
    assert re.search(r'<select id="trait-plan" name="traits.plan"[^>]*disabled', page)  # shown only
    assert 'id="trait-phone_number"' not in page  # hidden on /account

    response = account_form(with_schema, name="Ada King", department="Engines", plan="free")

    assert response.status_code == 303
    assert response.headers["location"] == "/account?notice=display_name_changed"
    user = store.user_of(with_schema, EMAIL)
    assert user.traits == {"name": "Ada King", "plan": "pro", "department": "Engines"}  # plan not editable
    data = browser.page_data(with_schema.get(response.headers["location"]))
    assert data["signal_user"] is True
    assert data["name"] == "Ada King"
    assert data["user_id"] == bytes_to_base64url(user.user_handle)


def test_an_account_change_that_keeps_the_display_name_does_not_signal(
    with_schema: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_up(with_schema, authenticator, {"name": "Ada"})

    response = account_form(with_schema, name="Ada", department="Engines")

    assert response.headers["location"] == "/account?notice=profile_saved"
    assert browser.page_data(with_schema.get(response.headers["location"]))["signal_user"] is False


def test_invalid_account_input_re_renders_with_messages_by_field_and_stores_nothing(
    with_schema: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_up(with_schema, authenticator, {"name": "Ada"})
    before = browser.storage(with_schema)

    response = account_form(with_schema, name="", department="Engines")

    assert response.status_code == 400
    assert re.search(r'id="trait-name-error"\s*>This field is required.</p>', response.text)
    assert re.search(r'id="trait-department"[^>]*value="Engines"', response.text, re.S)  # kept
    assert browser.storage(with_schema) == before


# --- claims by scope ----------------------------------------------------------------------

TRAIT_CLAIMS = ("name", "phone_number", "https://example.com/department")


def id_token_claims(client: TestClient, registered: Any, scope: str) -> dict[str, Any]:
    """The ID token of a code flow for `scope`, verified against the JWKS, its claims validated;
    userinfo answers the same trait claims for its access token."""
    pkce = Pkce.new()
    code = oidc.code_for(client, registered, pkce, scope=scope)
    body = oidc.exchange(client, registered, code, pkce).json()
    keys = KeySet.import_key_set(cast(KeySetSerialization, oidc.jwks(client)))
    token = jwt.decode(body["id_token"], keys, algorithms=["ES256", "RS256"])
    claims = dict(token.claims)
    JWTClaimsRegistry(
        now=claims["iat"],
        iss={"essential": True, "value": "http://localhost:8000"},
        aud={"essential": True, "value": registered.client.client_id},
        nonce={"essential": True, "value": "nonce-456"},
    ).validate(claims)
    userinfo = client.get("/oauth2/userinfo", headers={"authorization": f"Bearer {body['access_token']}"})
    assert userinfo.status_code == 200
    released = {k: v for k, v in claims.items() if k in TRAIT_CLAIMS}
    assert {k: v for k, v in userinfo.json().items() if k in TRAIT_CLAIMS} == released
    return claims


def test_traits_reach_the_id_token_by_scope(
    with_schema: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_up(with_schema, authenticator, {"name": "Ada", "phone_number": "+44 20 7946 0958"})
    account_form(with_schema, name="Ada", department="Engines")
    registered = oidc.register(with_schema)

    bare = id_token_claims(with_schema, registered, "openid")
    profile = id_token_claims(with_schema, registered, "openid profile")
    everything = id_token_claims(with_schema, registered, "openid profile phone org")

    assert "name" not in bare and "phone_number" not in bare
    assert profile["name"] == "Ada"
    assert "phone_number" not in profile and "https://example.com/department" not in profile
    assert everything["phone_number"] == "+44 20 7946 0958"
    assert everything["https://example.com/department"] == "Engines"


def test_a_scope_no_schema_names_is_refused(
    with_schema: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_up(with_schema, authenticator, {"name": "Ada"})
    registered = oidc.register(with_schema)

    params = oidc.redirect_params(oidc.authorize(with_schema, registered, Pkce.new(), scope="openid billing"))

    assert params["error"] == "invalid_scope"
