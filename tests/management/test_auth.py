"""Who may call /api/v2: a live client_credentials JWT issued for the API's audience, holding the
scope each endpoint needs (Auth0's scope names). Anything else is a 401 (no, bad, expired,
revoked or foreign token) or a 403 insufficient_scope, in Auth0's error shape, and changes
nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from tests.management.conftest import (
    ALL_SCOPES,
    API,
    AUDIENCE,
    PASSWORD,
    Api,
    assert_error,
    client_credentials,
    machine_client,
    secret_of,
)
from tests.support import browser, oidc
from tests.support.browser import storage
from tests.support.soft_authenticator import SoftAuthenticator

OTHER_API = "https://api.example/"


def assert_unauthenticated(response: Any) -> None:
    assert_error(response, 401)
    assert response.headers["www-authenticate"].lower().startswith("bearer")


# --- no token, bad tokens -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/users"), ("POST", "/users"), ("PATCH", "/connections/con_keyturn"), ("GET", "/logs")],
)
def test_a_request_without_a_token_is_401_with_a_bearer_challenge(
    client: TestClient, method: str, path: str
) -> None:
    before = storage(client)

    response = client.request(method, API + path, json={"email": "ada@example.com"})

    assert_unauthenticated(response)
    assert storage(client) == before


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer", "Bearer ", "Basic b3BzOnNlY3JldA==", "Token abc.def.ghi", "bearer-ish abc"],
)
def test_an_authorization_header_without_a_bearer_token_is_401(
    client: TestClient, authorization: str
) -> None:
    response = client.get(API + "/users", headers={"authorization": authorization})

    assert_unauthenticated(response)


def test_a_request_without_a_token_is_401_even_when_its_body_is_not_json(client: TestClient) -> None:
    """Authentication comes first: an anonymous caller learns nothing about the body's parsing."""
    before = storage(client)

    response = client.post(
        API + "/users", content=b'{"email": "ada@example.com"', headers={"content-type": "application/json"}
    )

    assert_unauthenticated(response)
    assert storage(client) == before


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        "a.b.c",
        "eyJhbGciOiJFUzI1NiJ9.e30.c2lnbmF0dXJl",  # a well-formed JWT nobody issued
        "x" * 43,  # an opaque-looking token
    ],
)
def test_malformed_and_unknown_tokens_are_401(client: TestClient, token: str) -> None:
    response = client.get(API + "/users", headers={"authorization": f"Bearer {token}"})

    assert_unauthenticated(response)


def test_a_users_opaque_access_token_and_id_token_are_401(client: TestClient) -> None:
    """Tokens an OIDC app got for a user are not for this API, whatever they carry."""
    assert browser.signup_with_passkey(client, SoftAuthenticator(), "ada@example.com").status_code == 200
    app = oidc.register(client)
    code = oidc.code_for(client, app, None, scope="openid email profile")
    tokens = oidc.exchange(client, app, code, None).json()
    assert (
        client.get(  # the access token is live (for userinfo)
            "/oauth2/userinfo", headers={"authorization": f"Bearer {tokens['access_token']}"}
        ).status_code
        == 200
    )

    for token in (tokens["access_token"], tokens["id_token"]):
        assert_unauthenticated(client.get(API + "/users", headers={"authorization": f"Bearer {token}"}))


def test_a_client_credentials_jwt_for_another_api_is_401(client: TestClient) -> None:
    """Same client, same scopes, same signing keys: only the audience differs."""
    machine = machine_client(client, ["read:users"], audiences=[OTHER_API])
    foreign = client_credentials(client, machine, audience=OTHER_API)
    ours = client_credentials(client, machine, audience=AUDIENCE)
    assert foreign.status_code == ours.status_code == 200, foreign.text + ours.text
    assert oidc.jwt_parts(foreign.json()["access_token"])[1]["aud"] == OTHER_API

    response = client.get(
        API + "/users", headers={"authorization": f"Bearer {foreign.json()['access_token']}"}
    )

    assert_unauthenticated(response)
    good = client.get(API + "/users", headers={"authorization": f"Bearer {ours.json()['access_token']}"})
    assert good.status_code == 200, good.text


def test_the_default_audience_of_a_management_client_is_the_api(client: TestClient) -> None:
    machine = machine_client(client, ["read:users"])

    token = client_credentials(client, machine).json()["access_token"]

    header, claims = oidc.jwt_parts(token)
    assert header["typ"] == "at+jwt"
    assert claims["aud"] == AUDIENCE
    assert claims["scope"] == "read:users"
    assert claims["client_id"] == machine.client.client_id


def test_an_expired_token_is_401(client: TestClient, api: Api, clock: FrozenClock) -> None:
    ttl = browser.runtime(client).settings.access_token_ttl_seconds
    token = api.token()
    clock.advance(seconds=ttl - 1)
    assert api.get("/users", token=token).status_code == 200

    clock.advance(seconds=1)

    assert_unauthenticated(api.get("/users", token=token))
    assert_unauthenticated(api.post("/users", token=token, json={"email": "ada@example.com"}))


def test_a_revoked_token_is_401_and_a_fresh_one_works(client: TestClient, api: Api) -> None:
    token = api.token()
    assert api.get("/users", token=token).status_code == 200
    machine = api.machine()

    revoked = client.post(
        "/oauth2/revoke", data={"token": token}, auth=(machine.client.client_id, secret_of(machine))
    )

    assert revoked.status_code == 200, revoked.text
    assert_unauthenticated(api.get("/users", token=token))
    fresh = client_credentials(client, machine).json()["access_token"]
    assert api.get("/users", token=fresh).status_code == 200


def test_forged_tokens_are_401(client: TestClient, api: Api) -> None:
    """A real token re-signed with `none`, or with its scope widened under the old signature."""
    token = api.token(["read:users"])
    header, claims = oidc.jwt_parts(token)
    signature = token.split(".")[2]
    unsigned = f"{oidc.b64url(json.dumps({**header, 'alg': 'none'}).encode())}.{token.split('.')[1]}."
    widened = {**claims, "scope": " ".join(ALL_SCOPES)}
    tampered = f"{token.split('.')[0]}.{oidc.b64url(json.dumps(widened).encode())}.{signature}"
    before = storage(client)

    for forged in (unsigned, tampered):
        assert_unauthenticated(api.get("/users", token=forged))
        assert_unauthenticated(api.post("/users", token=forged, json={"email": "eve@example.com"}))

    assert storage(client) == before


# --- scopes ---------------------------------------------------------------------------------------


def test_a_token_without_the_scope_is_403_insufficient_scope_and_changes_nothing(
    client: TestClient, api: Api
) -> None:
    api.token(["read:users"])
    before = storage(client)

    response = api.post(
        "/users", scopes=["read:users"], json={"email": "ada@example.com", "password": PASSWORD}
    )

    body = assert_error(response, 403, "insufficient_scope")
    assert "create:users" in body["message"]
    assert storage(client) == before
    assert api.get("/users", scopes=["read:users"]).json() == []


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # an OpenAPI path template; {ids} are filled from the world below
    scope: str
    success: int
    json: dict[str, Any] | None = None
    params: dict[str, str] | None = None

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


ENDPOINTS = [
    Endpoint("GET", "/users", "read:users", 200),
    Endpoint("POST", "/users", "create:users", 201, json={"email": "new@example.com"}),
    Endpoint("GET", "/users-by-email", "read:users", 200, params={"email": "ada@example.com"}),
    Endpoint("GET", "/users/{user_id}", "read:users", 200),
    Endpoint("PATCH", "/users/{user_id}", "update:users", 200, json={"name": "Ada"}),
    Endpoint("DELETE", "/users/{user_id}", "delete:users", 204),
    Endpoint("GET", "/users/{user_id}/logs", "read:logs", 200),
    Endpoint("GET", "/users/{user_id}/sessions", "read:sessions", 200),
    Endpoint("DELETE", "/users/{user_id}/sessions", "delete:sessions", 202),
    Endpoint("POST", "/users/{user_id}/revoke-access", "delete:sessions", 202, json={}),
    Endpoint("GET", "/sessions/{session_id}", "read:sessions", 200),
    Endpoint("DELETE", "/sessions/{session_id}", "delete:sessions", 202),
    Endpoint("POST", "/sessions/{session_id}/revoke", "delete:sessions", 202),
    Endpoint("GET", "/connections", "read:connections", 200),
    Endpoint("POST", "/connections", "create:connections", 409, json={"name": "Other"}),
    Endpoint("GET", "/connections/{connection_id}", "read:connections", 200),
    Endpoint(
        "PATCH", "/connections/{connection_id}", "update:connections", 200, json={"display_name": "Acme"}
    ),
    Endpoint("GET", "/logs", "read:logs", 200),
    Endpoint("GET", "/logs/{log_id}", "read:logs", 200),
    Endpoint("GET", "/hooks", "read:hooks", 200),
    Endpoint("POST", "/hooks", "create:hooks", 201, json={"url": "https://hooks.example/post-login"}),
    Endpoint("DELETE", "/hooks/{hook_id}", "delete:hooks", 204),
    Endpoint("GET", "/user-blocks", "read:users", 200, params={"identifier": "ada@example.com"}),
    Endpoint("DELETE", "/user-blocks", "update:users", 204, params={"identifier": "ada@example.com"}),
    Endpoint("GET", "/user-blocks/{user_id}", "read:users", 200),
    Endpoint("DELETE", "/user-blocks/{user_id}", "update:users", 204),
    Endpoint("GET", "/attack-protection/brute-force-protection", "read:attack_protection", 200),
    Endpoint(
        "PATCH",
        "/attack-protection/brute-force-protection",
        "update:attack_protection",
        200,
        json={"max_attempts": 5},
    ),
    Endpoint("GET", "/attack-protection/suspicious-ip-throttling", "read:attack_protection", 200),
    Endpoint(
        "PATCH",
        "/attack-protection/suspicious-ip-throttling",
        "update:attack_protection",
        200,
        json={"enabled": True},
    ),
    Endpoint("GET", "/attack-protection/breached-password-detection", "read:attack_protection", 200),
    Endpoint(
        "PATCH",
        "/attack-protection/breached-password-detection",
        "update:attack_protection",
        200,
        json={"shields": ["block"]},
    ),
]
for _base in ("/users/{user_id}/authentication-methods", "/users/{user_id}/authentication_methods"):
    _one = _base + "/{authentication_method_id}"
    ENDPOINTS += [
        Endpoint("GET", _base, "read:authentication_methods", 200),
        Endpoint("DELETE", _base, "delete:authentication_methods", 204),
        Endpoint("GET", _one, "read:authentication_methods", 200),
        Endpoint("PATCH", _one, "update:authentication_methods", 200, json={"name": "Work laptop"}),
        Endpoint("DELETE", _one, "delete:authentication_methods", 204),
    ]


def _world(client: TestClient, api: Api) -> dict[str, str]:
    """A user with a passkey and a live session, a hook, and a log event to point at."""
    assert browser.signup_with_passkey(client, SoftAuthenticator(), "ada@example.com").status_code == 200
    client.cookies.clear()  # the session lives on
    user = api.ok(api.get("/users-by-email", params={"email": "ada@example.com"}))[0]
    (session,) = api.ok(api.get(f"/users/{user['user_id']}/sessions"))["sessions"]
    passkey = api.ok(api.get(f"/users/{user['user_id']}/authentication-methods"))[-1]
    hook = api.ok(api.post("/hooks", json={"url": "https://hooks.example/first"}), 201)
    return {
        "user_id": user["user_id"],
        "authentication_method_id": passkey["id"],
        "connection_id": "con_keyturn",
        "log_id": api.ok(api.get("/logs"))[0]["log_id"],
        "hook_id": hook["id"],
        "session_id": session["id"],
    }


def _call(api: Api, endpoint: Endpoint, ids: dict[str, str], scopes: list[str]) -> Any:
    return api.request(
        endpoint.method,
        endpoint.path.format(**ids),
        scopes=scopes,
        json=endpoint.json,
        params=endpoint.params,
    )


def test_the_scope_table_covers_every_operation(client: TestClient) -> None:
    document = client.get(API + "/openapi.json").json()
    operations = {(m.upper(), p) for p, methods in document["paths"].items() for m in methods}

    assert {(e.method, e.path) for e in ENDPOINTS} == operations


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.id)
def test_each_endpoint_refuses_a_token_with_every_scope_but_its_own(
    client: TestClient, api: Api, endpoint: Endpoint
) -> None:
    ids = _world(client, api)
    # Auth0 also lets read:logs_users read one user's logs: it is no "other" scope there.
    accepted = (
        {endpoint.scope, "read:logs_users"} if endpoint.path.endswith("{user_id}/logs") else {endpoint.scope}
    )
    others = [s for s in ALL_SCOPES if s not in accepted]
    api.token(others)
    before = storage(client)

    response = _call(api, endpoint, ids, others)

    body = assert_error(response, 403, "insufficient_scope")
    assert endpoint.scope in body["message"]
    assert storage(client) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.id)
def test_each_endpoint_accepts_a_token_with_only_its_scope(
    client: TestClient, api: Api, endpoint: Endpoint
) -> None:
    ids = _world(client, api)

    response = _call(api, endpoint, ids, [endpoint.scope])

    assert response.status_code == endpoint.success, response.text


def test_read_logs_users_alone_reads_a_users_logs(client: TestClient, api: Api) -> None:
    """Auth0 lists `read:logs read:logs_users` for GET /users/{id}/logs: either scope will do.
    Keyturn defines read:logs_users (MANAGEMENT_SCOPES) but no endpoint accepts it."""
    ids = _world(client, api)

    response = api.get(f"/users/{ids['user_id']}/logs", scopes=["read:logs_users"])

    assert response.status_code == 200, response.text
    assert response.json(), "the user's signup is in their logs"
    assert {event["user_id"] for event in response.json()} == {ids["user_id"]}
