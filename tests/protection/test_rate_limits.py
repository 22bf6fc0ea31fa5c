"""Endpoint rate limits (`attack_protection.rate_limits`), counted on the database and on Redis:
past a rate, 429 with Retry-After and nothing else done; per address, per identifier, per
client; /api/v2 with Auth0's 429 and x-ratelimit-* headers; changed at run time."""

from __future__ import annotations

import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from keyturn.domain.tenant import TenantSettings
from keyturn.errors import KeyturnError
from keyturn.oidc.clients import NewClient
from keyturn.store.sql.tables import email_codes
from tests.management.conftest import Api, assert_error, client_credentials, machine_client
from tests.support import browser, store

LIMITS = "/attack_protection/rate_limits"
HOUR = 3600


def set_rate(client: TestClient, group: str, which: str, rate: str | None) -> None:
    store.set_tenant(client, f"{LIMITS}/{group}/{which}", rate)


def assert_too_many(response: Any, *, window: int = HOUR) -> None:
    """429, the one text, and a Retry-After within the window."""
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["retry-after"]) <= window


def identify(client: TestClient, email: str) -> Any:
    flow = browser.open_page(client, "/login")
    return client.post(f"/login/flows/{flow.flow_id}/identify", json={"email": email}, headers=flow.headers)


def options(client: TestClient, page: str) -> Any:
    flow = browser.open_page(client, f"/{page}")
    body = {"email": "new@example.com"} if page == "signup" else None
    return client.post(f"/{page}/flows/{flow.flow_id}/passkey/options", json=body, headers=flow.headers)


# --- the pages ---------------------------------------------------------------------------


def test_passkey_options_per_address_login_and_signup_share_the_count(
    peer_client: TestClient, counters: str | None
) -> None:
    set_rate(peer_client, "passkey_options", "per_ip", "3/hour")
    if counters is None:  # in the database only when taken out of redis_only
        for _ in range(5):
            assert options(peer_client, "login").status_code == 200
        store.set_tenant(peer_client, f"{LIMITS}/redis_only", [])
    statuses = [options(peer_client, page).status_code for page in ("login", "signup", "login")]
    assert statuses == [200, 200, 200]
    before = browser.storage(peer_client)
    events = len(store.events_of(peer_client))
    for page in ("login", "signup"):
        refused = options(peer_client, page)
        assert_too_many(refused)
        assert refused.json() == {
            "error": "too_many_requests",
            "error_description": "Too many requests. Please try again in a while.",
        }
    assert browser.storage(peer_client) == before
    assert len(store.events_of(peer_client)) == events  # the refused sign-up options recorded nothing


def test_identifier_step_per_identifier_and_per_address(peer_client: TestClient) -> None:
    set_rate(peer_client, "identifier", "per_identifier", "2/hour")
    set_rate(peer_client, "identifier", "per_ip", "5/hour")
    assert [identify(peer_client, "Ada@Example.com ").status_code for _ in range(2)] == [200, 200]
    assert_too_many(identify(peer_client, "ada@example.com"))  # the same identifier, normalised
    assert identify(peer_client, "bob@example.com").status_code == 200  # another identifier
    # this address made 4 counted requests: one more passes, then every identifier is refused
    assert identify(peer_client, "carol@example.com").status_code == 200
    assert_too_many(identify(peer_client, "dan@example.com"))
    assert_too_many(identify(peer_client, "not even an email"))


def test_sign_up_per_identifier_creates_nothing_past_the_limit(peer_client: TestClient) -> None:
    set_rate(peer_client, "signup", "per_identifier", "2/hour")
    first = browser.signup_with_password(peer_client, "ada@example.com", "long enough password")
    assert first.status_code == 200
    browser.sign_out(peer_client)
    taken = browser.signup_with_password(peer_client, "ada@example.com", "another long password")
    assert taken.status_code != 429  # the second try is answered as before
    before = browser.storage(peer_client)
    assert_too_many(browser.signup_with_password(peer_client, "ada@example.com", "third long password"))
    assert browser.storage(peer_client) == before
    assert (
        browser.signup_with_password(peer_client, "bob@example.com", "long enough password").status_code
        == 200
    )


def test_typed_codes_per_address_across_codes(peer_client: TestClient) -> None:
    assert (
        browser.signup_with_password(peer_client, "ada@example.com", "long enough password").status_code
        == 200
    )
    set_rate(peer_client, "email_code", "per_ip", "2/hour")
    account = browser.open_page(peer_client, "/account")

    def type_code(code: str) -> Any:
        return peer_client.post(
            "/account/verify", data={"csrf": account.csrf, "code": code}, follow_redirects=False
        )

    assert [type_code("000000").status_code for _ in range(2)] == [400, 400]
    attempts = _code_attempts(peer_client)
    before = browser.storage(peer_client)
    assert_too_many(type_code("000000"))
    assert _code_attempts(peer_client) == attempts  # the refused try was not counted against the code
    assert browser.storage(peer_client) == before


def _code_attempts(client: TestClient) -> list[int]:
    index = list(email_codes.c.keys()).index("attempts")
    return [row[index] for row in browser.storage(client)["email_codes"]]


def test_disabled_and_allowlisted(peer_client: TestClient) -> None:
    set_rate(peer_client, "identifier", "per_ip", "1/hour")
    store.set_tenant(peer_client, f"{LIMITS}/allowlist", ["198.51.100.0/24"])
    assert [identify(peer_client, f"u{n}@example.com").status_code for n in range(3)] == [200] * 3
    store.set_tenant(peer_client, f"{LIMITS}/allowlist", [])
    store.set_tenant(peer_client, f"{LIMITS}/enabled", False)
    assert [identify(peer_client, f"v{n}@example.com").status_code for n in range(3)] == [200] * 3
    store.set_tenant(peer_client, f"{LIMITS}/enabled", True)
    assert identify(peer_client, "w@example.com").status_code == 200
    assert_too_many(identify(peer_client, "x@example.com"))


def test_bad_rates_are_refused_and_change_nothing(client: TestClient) -> None:
    for path, value in (
        ("passkey_options/per_ip", "300 a minute"),
        ("passkey_options/per_ip", "10/month"),
        ("passkey_options/per_ip", "0/minute"),
        ("token/per_identifier", "5/minute"),
        ("redis_only", ["not_a_group"]),
    ):
        with pytest.raises(KeyturnError):
            store.set_tenant(client, f"{LIMITS}/{path}", value)
    tenant = store.in_context(client, _rate_limits)
    assert tenant == TenantSettings().attack_protection.rate_limits.model_dump(mode="json")
    set_rate(client, "passkey_options", "per_ip", "10 per 5 Minutes")
    assert store.in_context(client, _rate_limits)["passkey_options"]["per_ip"] == "10/5 minutes"


async def _rate_limits(ctx: Any) -> dict[str, Any]:
    document: dict[str, Any] = ctx.tenant.attack_protection.rate_limits.model_dump(mode="json")
    return document


# --- the token endpoint ------------------------------------------------------------------


def _machine(client: TestClient, name: str) -> NewClient:
    return machine_client(client, ["read:users"], name=name)


def test_token_endpoint_per_client_one_client_limited_does_not_limit_another(peer_client: TestClient) -> None:
    first, second = _machine(peer_client, "first"), _machine(peer_client, "second")
    set_rate(peer_client, "token", "per_client", "3/hour")
    assert client_credentials(peer_client, first).status_code == 200
    wrong = peer_client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(first.client.client_id, "a guessed secret"),
    )
    assert wrong.status_code == 401  # guessing the secret counts against the client too
    assert client_credentials(peer_client, first).status_code == 200
    before = browser.storage(peer_client)
    refused = client_credentials(peer_client, first)
    assert_too_many(refused)
    assert refused.json() == {
        "error": "too_many_requests",
        "error_description": "Too many requests. Please try again in a while.",
    }
    assert refused.headers["cache-control"] == "no-store"
    assert browser.storage(peer_client) == before  # no token issued
    assert client_credentials(peer_client, second).status_code == 200


# --- /api/v2 -----------------------------------------------------------------------------


@pytest.fixture
def peer_api(peer_client: TestClient) -> Api:
    return Api(peer_client)


def test_management_headers_on_every_answer_and_auth0_429(peer_api: Api, peer_client: TestClient) -> None:
    peer_api.token()  # minted before the limit is lowered
    other = peer_api.token(("read:users",))
    set_rate(peer_client, "management_api", "per_client", "4/hour")
    started = time.time()
    answers = [
        peer_api.get("/users"),
        peer_api.get("/users/auth0|nobody"),  # 404
        peer_api.post("/users", json={"email": 5}),  # 400
        peer_api.get("/logs", scopes=("read:users",)),  # 403, another client
    ]
    finished = time.time()
    assert [a.status_code for a in answers] == [200, 404, 400, 403]
    for answer in answers:
        assert answer.headers["x-ratelimit-limit"] == "4"
        assert started <= int(answer.headers["x-ratelimit-reset"]) <= finished + HOUR + 1
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["3", "2", "1", "3"]
    assert peer_api.get("/users").headers["x-ratelimit-remaining"] == "0"
    before = browser.storage(peer_client)
    refused = peer_api.post("/users", json={"email": "new@example.com"})
    body = assert_error(refused, 429, "too_many_requests")
    assert body["message"] == "Too many requests. Please try again in a while."
    assert 1 <= int(refused.headers["retry-after"]) <= HOUR
    assert refused.headers["x-ratelimit-remaining"] == "0" and refused.headers["x-ratelimit-limit"] == "4"
    assert browser.storage(peer_client) == before  # no user created
    assert peer_api.get("/users", token=other).status_code == 200  # the other client still may


def test_management_openapi_documents_429(peer_api: Api, peer_client: TestClient) -> None:
    document = peer_client.get("/api/v2/openapi.json").json()
    operation = document["paths"]["/users"]["get"]
    assert operation["responses"]["429"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorOut"
    }
