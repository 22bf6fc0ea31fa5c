"""/api/v2/users: list, page and search; create (with a password, or passkey-only); read;
update; delete with everything that hangs off the user. Auth0's shapes and messages; a
refused change leaves every row as it was."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from tests.management.conftest import PASSWORD, Api, assert_error
from tests.support import browser, oidc
from tests.support.browser import storage
from tests.support.soft_authenticator import SoftAuthenticator
from tests.support.store import get_user, passkeys_of, user_of

EMAIL = "ada@example.com"
OTHER = "bob@example.com"
NEW_PASSWORD = "a brand new passphrase"
NO_USER = "The user does not exist."


def create_users(api: Api, clock: FrozenClock, count: int) -> list[dict[str, Any]]:
    """`count` users, one second apart (the API lists oldest first)."""
    created = []
    for n in range(count):
        created.append(api.create_user(f"user{n}@example.com"))
        clock.advance(seconds=1)
    return created


def ids(users: list[dict[str, Any]]) -> list[str]:
    return [u["user_id"] for u in users]


def signed_in_with_passkey(client: TestClient, email: str = EMAIL) -> SoftAuthenticator:
    authenticator = SoftAuthenticator()
    response = browser.signup_with_passkey(client, authenticator, email)
    assert response.status_code == 200, response.text
    return authenticator


def account_status(client: TestClient) -> tuple[int, str]:
    response = client.get("/account", follow_redirects=False)
    return response.status_code, response.headers.get("location", "")


# --- list, page, search -------------------------------------------------------------------------


def test_list_users_oldest_first_in_auth0_shape(api: Api, clock: FrozenClock) -> None:
    created = create_users(api, clock, 3)

    listed = api.ok(api.get("/users"))

    assert ids(listed) == ids(created)
    first = listed[0]
    assert first == {
        "user_id": created[0]["user_id"],
        "email": "user0@example.com",
        "email_verified": False,
        "name": None,
        "created_at": "2026-11-25T12:00:00Z",
        "updated_at": "2026-11-25T12:00:00Z",
        "identities": [
            {
                "connection": "Username-Password-Authentication",
                "provider": "auth0",
                "user_id": created[0]["user_id"],
                "isSocial": False,
            }
        ],
        "blocked": False,
        "traits": {},
        "user_metadata": {},
        "app_metadata": {},
    }


def test_list_users_pages_with_totals(api: Api, clock: FrozenClock) -> None:
    created = create_users(api, clock, 5)

    page = api.ok(api.get("/users", params={"page": 1, "per_page": 2, "include_totals": "true"}))

    assert set(page) == {"start", "limit", "length", "total", "users"}
    assert (page["start"], page["limit"], page["length"], page["total"]) == (2, 2, 2, 5)
    assert ids(page["users"]) == ids(created)[2:4]
    last = api.ok(api.get("/users", params={"page": 2, "per_page": 2, "include_totals": "true"}))
    assert (last["start"], last["length"], last["total"]) == (4, 1, 5)
    assert ids(last["users"]) == ids(created)[4:]
    beyond = api.ok(api.get("/users", params={"page": 3, "per_page": 2, "include_totals": "true"}))
    assert (beyond["length"], beyond["total"], beyond["users"]) == (0, 5, [])
    bare = api.ok(api.get("/users", params={"page": 0, "per_page": 3}))
    assert ids(bare) == ids(created)[:3]


@pytest.mark.parametrize(
    "params",
    [{"per_page": 0}, {"per_page": 101}, {"page": -1}, {"page": "two"}, {"include_totals": "perhaps"}],
    ids=["per_page=0", "per_page=101", "page=-1", "page=two", "include_totals=perhaps"],
)
def test_bad_paging_parameters_are_400(api: Api, params: dict[str, Any]) -> None:
    assert_error(api.get("/users", params=params), 400, "invalid_body")


@pytest.mark.parametrize(
    "q",
    [
        'email:"bob@example.com"',
        "email:bob@example.com",
        'email:"BOB@Example.COM"',
        '  email:"bob@example.com" ',
    ],
)
def test_search_by_email(api: Api, clock: FrozenClock, q: str) -> None:
    create_users(api, clock, 2)
    bob = api.create_user(OTHER)

    found = api.ok(api.get("/users", params={"q": q, "include_totals": "true"}))

    assert found["total"] == 1
    assert ids(found["users"]) == [bob["user_id"]]


def test_search_for_an_unknown_email_finds_nobody(api: Api) -> None:
    api.create_user(EMAIL)

    assert api.ok(api.get("/users", params={"q": 'email:"nobody@example.com"'})) == []


@pytest.mark.parametrize("q", ['name:"Ada"', "ada", 'email:"a" OR email:"b"', "email:"])
def test_unsupported_searches_are_400(api: Api, q: str) -> None:
    api.create_user(EMAIL)

    body = assert_error(api.get("/users", params={"q": q}), 400, "invalid_query_string")

    assert "email" in body["message"]


def test_users_by_email(api: Api) -> None:
    ada = api.create_user(EMAIL)
    api.create_user(OTHER)

    assert ids(api.ok(api.get("/users-by-email", params={"email": "Ada@Example.com"}))) == [ada["user_id"]]
    assert api.ok(api.get("/users-by-email", params={"email": "nobody@example.com"})) == []
    assert_error(api.get("/users-by-email"), 400, "invalid_body")


# --- create ------------------------------------------------------------------------------------


def test_create_a_user_with_a_password_who_can_then_sign_in(client: TestClient, api: Api) -> None:
    body = api.ok(
        api.post(
            "/users",
            json={
                "email": " Ada@Example.COM ",
                "password": PASSWORD,
                "name": "Ada Lovelace",
                "email_verified": True,
                "connection": "Username-Password-Authentication",
            },
        ),
        201,
    )

    assert body["email"] == EMAIL
    assert body["name"] == "Ada Lovelace"
    assert body["email_verified"] is True
    assert body["identities"] == [
        {
            "connection": "Username-Password-Authentication",
            "provider": "auth0",
            "user_id": body["user_id"],
            "isSocial": False,
        }
    ]
    assert PASSWORD not in str(body)
    assert api.ok(api.get(f"/users/{body['user_id']}")) == body
    stored = user_of(client, EMAIL)
    assert stored.id == body["user_id"]
    assert stored.password_hash is not None and PASSWORD not in stored.password_hash
    assert browser.login_with_password(client, EMAIL, "wrong password!").status_code == 401
    signed_in = browser.login_with_password(client, EMAIL, PASSWORD)
    assert signed_in.status_code == 200, signed_in.text
    assert account_status(client)[0] == 200


def test_create_a_passkey_only_user(client: TestClient, api: Api) -> None:
    body = api.create_user(EMAIL)

    stored = user_of(client, EMAIL)
    assert stored.password_hash is None
    assert passkeys_of(client, stored.id) == []
    assert api.ok(api.get(f"/users/{body['user_id']}/authentication-methods")) == []
    refused = browser.login_with_password(client, EMAIL, PASSWORD)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_credentials"


@pytest.mark.parametrize("email", ["not-an-email", "ada@example", "", "ada @example.com", "@example.com"])
def test_create_with_a_bad_email_is_400_and_stores_nothing(client: TestClient, api: Api, email: str) -> None:
    api.token()
    before = storage(client)

    body = assert_error(api.post("/users", json={"email": email, "password": PASSWORD}), 400, "invalid_email")

    assert "email" in body["message"]
    assert storage(client) == before


@pytest.mark.parametrize(
    ("email", "code"),
    [
        # PostgreSQL cannot store a NUL: refused as such before any route runs.
        ("ada\x00@example.com", "invalid_characters"),
        ("ada@exa\x00mple.com", "invalid_characters"),
        ("ada\x07@example.com", "invalid_email"),
    ],
)
def test_create_with_control_characters_in_the_email_is_400(
    client: TestClient, api: Api, email: str, code: str
) -> None:
    """Not an address anyone can receive mail at, and PostgreSQL cannot even store a NUL."""
    api.token()
    before = storage(client)

    assert_error(api.post("/users", json={"email": email}), 400, code)

    assert storage(client) == before


@pytest.mark.parametrize("password", ["short", "1234567", ""])
def test_create_with_a_short_password_is_400_and_stores_nothing(
    client: TestClient, api: Api, password: str
) -> None:
    api.token()
    before = storage(client)

    body = assert_error(
        api.post("/users", json={"email": EMAIL, "password": password}), 400, "password_too_short"
    )

    assert "8" in body["message"]
    assert storage(client) == before
    assert api.ok(api.get("/users")) == []


@pytest.mark.parametrize("email", [EMAIL, "ADA@example.com", f"  {EMAIL}"])
def test_create_a_duplicate_is_409_and_changes_nothing(client: TestClient, api: Api, email: str) -> None:
    api.create_user(EMAIL, name="First")
    before = storage(client)

    body = assert_error(
        api.post("/users", json={"email": email, "name": "Second", "password": PASSWORD}), 409
    )

    assert body["message"] == "The user already exists."
    assert storage(client) == before


def test_create_in_an_unknown_connection_is_400_and_stores_nothing(client: TestClient, api: Api) -> None:
    api.token()
    before = storage(client)

    response = api.post("/users", json={"email": EMAIL, "password": PASSWORD, "connection": "google-oauth2"})

    body = assert_error(response, 400, "inexistent_connection")
    assert "Username-Password-Authentication" in body["message"]
    assert storage(client) == before


@pytest.mark.parametrize(
    "body",
    [
        {"email": EMAIL, "nickname": "ada"},
        {"email": EMAIL, "app_metadata": {"plan.tier": "pro"}},
        {"email": EMAIL, "email_verified": "yes please"},
        {"email": EMAIL, "name": "n" * 256},
        {"password": PASSWORD},
        [EMAIL],
    ],
    ids=[
        "unknown-field",
        "app_metadata-dotted-key",
        "bad-type",
        "name-too-long",
        "no-email",
        "not-an-object",
    ],
)
def test_create_with_an_invalid_body_is_400_and_stores_nothing(
    client: TestClient, api: Api, body: Any
) -> None:
    api.token()
    before = storage(client)

    assert_error(api.post("/users", json=body), 400, "invalid_body")

    assert storage(client) == before


def test_create_with_a_body_that_is_not_json_is_400_in_auth0_shape(client: TestClient, api: Api) -> None:
    api.token()
    before = storage(client)

    for content in (b'{"email": ', b"\x80\x81", b"email=ada@example.com"):
        response = api.post("/users", content=content, headers={"content-type": "application/json"})
        assert_error(response, 400)

    assert storage(client) == before


# --- read ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("user_id", ["no-such-user", "00000000-0000-0000-0000-000000000000", "x" * 300])
def test_unknown_users_are_404_with_auth0s_message(
    client: TestClient, api: Api, method: str, user_id: str
) -> None:
    api.create_user(EMAIL)
    api.token()
    before = storage(client)

    response = api.request(method, f"/users/{user_id}", json={"name": "Ghost"} if method == "PATCH" else None)

    body = assert_error(response, 404, "inexistent_user")
    assert body["message"] == NO_USER
    assert storage(client) == before


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_a_user_id_with_a_nul_is_refused_not_a_server_error(
    client: TestClient, api: Api, method: str
) -> None:
    """No user has such an id: a 404 (or a 400 for the character), never a 500 (PostgreSQL)."""
    api.create_user(EMAIL)
    api.token()
    before = storage(client)

    response = api.request(method, "/users/a%00b", json={"name": "Ghost"} if method == "PATCH" else None)

    assert response.status_code in (400, 404), response.text
    assert_error(response, response.status_code)
    assert storage(client) == before


def test_get_a_user(api: Api) -> None:
    created = api.create_user(EMAIL, name="Ada", email_verified=True)

    assert api.ok(api.get(f"/users/{created['user_id']}")) == created


# --- update --------------------------------------------------------------------------------------


def test_update_email_name_and_email_verified(client: TestClient, api: Api, clock: FrozenClock) -> None:
    created = api.create_user(EMAIL, password=PASSWORD)
    clock.advance(minutes=5)

    body = api.ok(
        api.patch(
            f"/users/{created['user_id']}",
            json={"email": "Ada.Lovelace@Example.com", "name": "Ada Lovelace", "email_verified": True},
        )
    )

    assert body["email"] == "ada.lovelace@example.com"
    assert body["name"] == "Ada Lovelace"
    assert body["email_verified"] is True
    assert body["created_at"] == created["created_at"]
    assert body["updated_at"] == "2026-11-25T12:05:00Z"
    assert api.ok(api.get(f"/users/{created['user_id']}")) == body
    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 401
    assert browser.login_with_password(client, "ada.lovelace@example.com", PASSWORD).status_code == 200


def test_a_partial_update_keeps_the_other_fields(api: Api) -> None:
    created = api.create_user(EMAIL, name="Ada", email_verified=True)

    body = api.ok(api.patch(f"/users/{created['user_id']}", json={"email_verified": False}))

    assert (body["email"], body["name"], body["email_verified"]) == (EMAIL, "Ada", False)


def test_update_the_password(client: TestClient, api: Api) -> None:
    created = api.create_user(EMAIL, password=PASSWORD)

    body = api.ok(api.patch(f"/users/{created['user_id']}", json={"password": NEW_PASSWORD}))

    assert NEW_PASSWORD not in str(body)
    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 401
    assert browser.login_with_password(client, EMAIL, NEW_PASSWORD).status_code == 200


def test_give_a_passkey_only_user_a_password(client: TestClient, api: Api) -> None:
    signed_in_with_passkey(client)
    browser.sign_out(client)
    user = user_of(client, EMAIL)

    api.ok(api.patch(f"/users/{user.id}", json={"password": PASSWORD}))

    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 200
    assert [m["type"] for m in api.ok(api.get(f"/users/{user.id}/authentication-methods"))] == [
        "password",
        "passkey",
    ]


def test_update_to_a_taken_email_is_409_and_changes_nothing(client: TestClient, api: Api) -> None:
    ada = api.create_user(EMAIL, password=PASSWORD)
    api.create_user(OTHER)
    before = storage(client)

    response = api.patch(
        f"/users/{ada['user_id']}",
        json={"email": "BOB@example.com", "name": "Not Bob", "email_verified": True},
    )

    body = assert_error(response, 409)
    assert "email" in body["message"].lower()
    assert storage(client) == before
    assert api.ok(api.get(f"/users/{ada['user_id']}")) == ada


@pytest.mark.parametrize(
    "patch",
    [
        {"password": "short"},
        {"email": "new@example.com", "password": "short"},
        {"email": "not-an-email", "name": "Ada"},
        {"name": "n" * 256},
        {"email_verified": "maybe"},
        {"nickname": "ada"},
        {"user_metadata": {"theme": "dark"}, "password": "short"},
        {"user_metadata": {"$where": "x"}},
        {"traits": {"nickname": "ada"}},
    ],
    ids=[
        "short-password",
        "email-and-short-password",
        "bad-email",
        "long-name",
        "bad-type",
        "unknown",
        "metadata-with-short-password",
        "metadata-dollar-key",
        "trait-not-in-schema",
    ],
)
def test_an_invalid_update_is_400_and_changes_nothing(
    client: TestClient, api: Api, patch: dict[str, Any]
) -> None:
    ada = api.create_user(EMAIL, password=PASSWORD, name="Ada")
    before = storage(client)

    assert_error(api.patch(f"/users/{ada['user_id']}", json=patch), 400)

    assert storage(client) == before
    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 200


def test_an_update_naming_an_unknown_connection_is_400_and_changes_nothing(
    client: TestClient, api: Api
) -> None:
    """POST refuses a connection that is not Keyturn's; so must PATCH (it accepts the field)."""
    ada = api.create_user(EMAIL, password=PASSWORD)
    before = storage(client)

    response = api.patch(f"/users/{ada['user_id']}", json={"connection": "google-oauth2", "name": "Ada"})

    assert_error(response, 400, "inexistent_connection")
    assert storage(client) == before


def test_an_update_with_a_nul_in_the_name_is_refused_not_a_server_error(client: TestClient, api: Api) -> None:
    """PostgreSQL cannot store U+0000; both backends must answer the same clean 400."""
    ada = api.create_user(EMAIL, name="Ada")
    before = storage(client)

    assert_error(api.patch(f"/users/{ada['user_id']}", json={"name": "Ada\x00Lovelace"}), 400)

    assert storage(client) == before


def test_users_by_email_with_a_nul_is_answered_not_a_server_error(api: Api) -> None:
    api.create_user(EMAIL)

    response = api.get("/users-by-email", params={"email": "ada\x00@example.com"})

    if response.status_code == 200:
        assert response.json() == []
    else:
        assert_error(response, 400)


def test_an_update_shows_in_userinfo_and_new_id_tokens(client: TestClient, api: Api) -> None:
    signed_in_with_passkey(client)
    user = user_of(client, EMAIL)
    app = oidc.register(client)
    code = oidc.code_for(client, app, None, scope="openid email profile")
    tokens = oidc.exchange(client, app, code, None).json()
    bearer = {"authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/oauth2/userinfo", headers=bearer).json() == {
        "sub": user.id,
        "email": EMAIL,
        "email_verified": False,
    }

    api.ok(api.patch(f"/users/{user.id}", json={"name": "Ada Lovelace", "email_verified": True}))

    assert client.get("/oauth2/userinfo", headers=bearer).json() == {
        "sub": user.id,
        "email": EMAIL,
        "email_verified": True,
        "name": "Ada Lovelace",
    }
    code = oidc.code_for(client, app, None, scope="openid email profile")
    id_token = oidc.exchange(client, app, code, None).json()["id_token"]
    claims = oidc.jwt_parts(id_token)[1]
    assert (claims["name"], claims["email_verified"]) == ("Ada Lovelace", True)


# --- delete --------------------------------------------------------------------------------------


def test_delete_a_user_ends_their_passkeys_sessions_and_tokens(client: TestClient, api: Api) -> None:
    authenticator = signed_in_with_passkey(client)
    user = user_of(client, EMAIL)
    app = oidc.register(client)
    code = oidc.code_for(client, app, None, scope="openid email offline_access")
    tokens = oidc.exchange(client, app, code, None).json()
    bearer = {"authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/oauth2/userinfo", headers=bearer).status_code == 200
    assert account_status(client)[0] == 200
    bob = api.create_user(OTHER, password=PASSWORD)

    response = api.delete(f"/users/{user.id}")

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert get_user(client, user.id) is None
    assert passkeys_of(client, user.id) == []
    status, location = account_status(client)
    assert (status, location.split("?")[0]) == (303, "/login")  # the browser's session is gone
    assert client.get("/oauth2/userinfo", headers=bearer).status_code == 401
    refreshed = client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(app.client.client_id, app.secret or ""),
    )
    assert refreshed.status_code == 400, refreshed.text
    assert refreshed.json()["error"] == "invalid_grant"
    again = browser.login_with_passkey(client, authenticator)
    assert again.status_code == 400, again.text
    assert again.json()["error"] == "unknown_credential"
    assert_error(api.get(f"/users/{user.id}"), 404, "inexistent_user")
    assert_error(api.delete(f"/users/{user.id}"), 404, "inexistent_user")
    assert ids(api.ok(api.get("/users"))) == [bob["user_id"]]  # nobody else was touched
    assert browser.login_with_password(client, OTHER, PASSWORD).status_code == 200


def test_a_deleted_users_email_can_sign_up_again(client: TestClient, api: Api) -> None:
    first = api.create_user(EMAIL)
    assert api.delete(f"/users/{first['user_id']}").status_code == 204

    second = api.create_user(EMAIL)

    assert second["user_id"] != first["user_id"]
