"""/api/v2/users/{id}/sessions: a user's live sessions in Auth0's shape (read:sessions), and
ending them all at once (delete:sessions, 202 as Auth0 answers)."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from tests.management.conftest import PASSWORD, Api, assert_error
from tests.support import browser, store
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
