"""Auth0's session endpoints: a user's live sessions in Auth0's shape (read:sessions), ending
them all at once (delete:sessions, 202 as Auth0 answers), one session looked up, deleted or
revoked with the refresh tokens granted in it, and revoke-access."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from keyturn.oidc.clients import NewClient
from tests.management.conftest import PASSWORD, Api, assert_error, secret_of
from tests.support import browser, oidc, store
from tests.support.browser import storage

EMAIL = "ada@example.com"
SESSION_FIELDS = {
    "id",
    "user_id",
    "created_at",
    "updated_at",
    "authenticated_at",
    "expires_at",
    "last_interacted_at",
    "device",
    "clients",
    "authentication",
    "cookie",
    "session_metadata",
}


def signed_in_twice(client: TestClient, api: Api, clock: FrozenClock) -> str:
    """Ada signs up (one session), signs in from a second browser a minute later (two)."""
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    client.cookies.clear()
    clock.advance(minutes=1)
    client.headers["user-agent"] = "phone-agent/1.0"
    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 200
    client.cookies.clear()
    user_id: str = store.user_of(client, EMAIL).id
    api.token()
    return user_id


def test_list_a_users_sessions_newest_first_in_auth0_shape(
    client: TestClient, api: Api, clock: FrozenClock
) -> None:
    user_id = signed_in_twice(client, api, clock)

    body: dict[str, Any] = api.ok(api.get(f"/users/{user_id}/sessions"))

    assert set(body) == {"sessions", "next"} and body["next"] is None
    newest, oldest = body["sessions"]
    assert set(newest) == SESSION_FIELDS
    assert newest["user_id"] == user_id
    assert newest["created_at"] == "2026-11-25T12:01:00Z"
    assert oldest["created_at"] == "2026-11-25T12:00:00Z"
    assert newest["device"]["initial_user_agent"] == "phone-agent/1.0"
    assert newest["authentication"] == {"methods": [{"name": "pwd", "timestamp": "2026-11-25T12:01:00Z"}]}
    assert newest["authenticated_at"] == "2026-11-25T12:01:00Z"
    assert oldest["expires_at"] > oldest["created_at"]


def test_sessions_page_with_from_and_take(client: TestClient, api: Api, clock: FrozenClock) -> None:
    user_id = signed_in_twice(client, api, clock)
    everything = api.ok(api.get(f"/users/{user_id}/sessions"))["sessions"]

    first = api.ok(api.get(f"/users/{user_id}/sessions", params={"take": 1}))
    assert [s["id"] for s in first["sessions"]] == [everything[0]["id"]]
    assert first["next"] == everything[1]["id"]
    second = api.ok(api.get(f"/users/{user_id}/sessions", params={"take": 1, "from": first["next"]}))
    assert [s["id"] for s in second["sessions"]] == [everything[1]["id"]] and second["next"] is None
    assert_error(api.get(f"/users/{user_id}/sessions", params={"take": 0}), 400)


def test_delete_ends_every_session_at_once(client: TestClient, api: Api, clock: FrozenClock) -> None:
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    kept_cookies = dict(client.cookies)
    client.cookies.clear()
    user_id = store.user_of(client, EMAIL).id
    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 200
    client.cookies.clear()

    response = api.delete(f"/users/{user_id}/sessions")

    assert response.status_code == 202 and response.content == b""
    assert api.ok(api.get(f"/users/{user_id}/sessions")) == {"sessions": [], "next": None}
    client.cookies.update(kept_cookies)
    assert client.get("/account", follow_redirects=False).status_code == 303
    (event,) = store.events_of(client, "sapi", user_id=user_id)
    assert event.details["operation"] == "delete_user_sessions" and event.details["ended"] == 2


def test_an_unknown_user_is_404_and_nothing_changes(client: TestClient, api: Api, clock: FrozenClock) -> None:
    signed_in_twice(client, api, clock)
    before = storage(client)

    for method in ("GET", "DELETE"):
        body = assert_error(api.request(method, "/users/nobody/sessions"), 404, "inexistent_user")
        assert body["message"] == "The user does not exist."
    assert storage(client) == before


# --- one session: look it up, delete it, revoke it with its refresh tokens --------------------


def signed_in_with_app(client: TestClient, api: Api, clock: FrozenClock) -> tuple[str, str, NewClient, str]:
    """Ada signs up on the laptop and an app gets an offline refresh token in that session;
    she signs in on the phone a minute later. (user id, laptop session id, app, its token)."""
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    app = oidc.register(client)
    code = oidc.code_for(client, app, None, scope="openid email offline_access")
    token: str = oidc.exchange(client, app, code, None).json()["refresh_token"]
    client.cookies.clear()
    clock.advance(minutes=1)
    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 200
    client.cookies.clear()
    user_id: str = store.user_of(client, EMAIL).id
    laptop = api.ok(api.get(f"/users/{user_id}/sessions"))["sessions"][-1]["id"]
    return user_id, laptop, app, token


def refreshes(client: TestClient, app: NewClient, token: str) -> bool:
    data = {"grant_type": "refresh_token", "refresh_token": token}
    response = client.post("/oauth2/token", data=data, auth=(app.client.client_id, secret_of(app)))
    assert response.status_code in (200, 400), response.text
    return response.status_code == 200


def live_sessions(api: Api, user_id: str) -> list[str]:
    return [s["id"] for s in api.ok(api.get(f"/users/{user_id}/sessions"))["sessions"]]


def test_get_one_session_in_auth0_shape(client: TestClient, api: Api, clock: FrozenClock) -> None:
    user_id, laptop, _, _ = signed_in_with_app(client, api, clock)

    body = api.ok(api.get(f"/sessions/{laptop}"))

    assert set(body) == SESSION_FIELDS
    assert (body["id"], body["user_id"], body["created_at"]) == (laptop, user_id, "2026-11-25T12:00:00Z")
    assert_error(api.get(f"/sessions/{laptop}", scopes=("delete:sessions",)), 403)


def test_delete_one_session_keeps_its_refresh_tokens(
    client: TestClient, api: Api, clock: FrozenClock
) -> None:
    user_id, laptop, app, token = signed_in_with_app(client, api, clock)

    response = api.delete(f"/sessions/{laptop}")

    assert response.status_code == 202 and response.content == b""
    assert laptop not in live_sessions(api, user_id) and len(live_sessions(api, user_id)) == 1
    assert refreshes(client, app, token)  # Auth0's DELETE ends the session only
    (event,) = store.events_of(client, "sapi", user_id=user_id)
    assert event.details["operation"] == "delete_session" and event.details["revoked_grants"] == 0


def test_revoke_one_session_takes_its_refresh_tokens(
    client: TestClient, api: Api, clock: FrozenClock
) -> None:
    user_id, laptop, app, token = signed_in_with_app(client, api, clock)

    response = api.post(f"/sessions/{laptop}/revoke")

    assert response.status_code == 202 and response.content == b""
    assert laptop not in live_sessions(api, user_id)
    assert not refreshes(client, app, token)
    (event,) = store.events_of(client, "sapi", user_id=user_id)
    assert event.details["operation"] == "revoke_session" and event.details["revoked_grants"] == 1


def test_revoke_access_ends_every_session_and_refresh_token(
    client: TestClient, api: Api, clock: FrozenClock
) -> None:
    user_id, _, app, token = signed_in_with_app(client, api, clock)

    response = api.post(f"/users/{user_id}/revoke-access", json={})

    assert response.status_code == 202
    assert live_sessions(api, user_id) == []
    assert not refreshes(client, app, token)


def test_revoke_access_can_keep_the_refresh_tokens(client: TestClient, api: Api, clock: FrozenClock) -> None:
    user_id, laptop, app, token = signed_in_with_app(client, api, clock)

    body = {"session_id": laptop, "preserve_refresh_tokens": True}
    assert api.post(f"/users/{user_id}/revoke-access", json=body).status_code == 202

    assert laptop not in live_sessions(api, user_id) and len(live_sessions(api, user_id)) == 1
    assert refreshes(client, app, token)


def test_unknown_sessions_and_bad_bodies_are_refused_and_change_nothing(
    client: TestClient, api: Api, clock: FrozenClock
) -> None:
    user_id, laptop, _, _ = signed_in_with_app(client, api, clock)
    api.token(("read:sessions",))
    before = storage(client)

    for method, path in (
        ("GET", "/sessions/nope"),
        ("DELETE", "/sessions/nope"),
        ("POST", "/sessions/nope/revoke"),
    ):
        body = assert_error(api.request(method, path), 404)
        assert body["message"] == "That session has already ended."
    assert_error(api.post(f"/users/{user_id}/revoke-access", json={"session_id": "nope"}), 404)
    assert_error(api.post(f"/users/{user_id}/revoke-access", json={"everything": True}), 400)
    assert_error(api.post(f"/users/{user_id}/revoke-access", json={"preserve_refresh_tokens": "yes"}), 400)
    assert_error(api.post("/users/nobody/revoke-access", json={}), 404, "inexistent_user")
    assert_error(api.post(f"/sessions/{laptop}/revoke", scopes=("read:sessions",)), 403)
    assert storage(client) == before
