"""/admin/users: Search users, a user's page, and every change on it.

Each change goes through operations.users / sessions / blocks and records `sapi` naming the
operator; bad input re-renders with the message next to its field and changes nothing.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.testclient import TestClient

from tests.support import admin, browser, store
from tests.support.soft_authenticator import SoftAuthenticator

OWNER = "owner@example.com"
GOOGLE = bytes.fromhex("ea9b8d664d011d213ce4b6b48cb575d4")  # Google Password Manager in the AAGUID list


def post(client: TestClient, path: str, form: dict[str, str] | None = None) -> Any:
    csrf = admin.form_csrf(client.get("/admin/users").text)
    return client.post(path, data={**(form or {}), "csrf": csrf}, follow_redirects=False)


def changes(client: TestClient) -> list[Any]:
    """The operator's `sapi` events, their own enrollment left out."""
    return [
        e
        for e in store.events_of(client, "sapi")
        if e.details["actor"] == OWNER and e.details["operation"] != "enroll_operator"
    ]


def operations(client: TestClient) -> list[str]:
    return [e.details["operation"] for e in changes(client)]


def sign_up(client: TestClient, email: str, key: SoftAuthenticator | None = None) -> SoftAuthenticator:
    key = key or SoftAuthenticator(aaguid=GOOGLE)
    assert browser.signup_with_passkey(client, key, email).status_code == 200
    browser.sign_out(client)
    return key


def test_search_users_finds_by_email_prefix_and_pages(client: TestClient) -> None:
    admin.operator_signed_in(client)
    for n in range(23):
        browser.signup_with_password(client, f"ada{n:02}@example.com", "correct horse battery")
        browser.sign_out(client)
    browser.signup_with_password(client, "grace@example.org", "correct horse battery")
    page = client.get("/admin/users", params={"q": "ADA"})
    assert page.status_code == 200
    assert "23 users matching" in page.text
    assert len(re.findall(r'data-user="ada\d\d@example.com"', page.text)) == 20
    assert "grace@example.org" not in page.text
    second = client.get("/admin/users", params={"q": "ada", "page": "1"})
    assert len(re.findall(r'data-user="ada\d\d@example.com"', second.text)) == 3
    assert "Page 2 of 2" in second.text
    exact = client.get("/admin/users", params={"q": "grace@example.org"})
    assert re.findall(r'data-user="([^"]+)"', exact.text) == ["grace@example.org"]
    wildcard = client.get("/admin/users", params={"q": "%"})  # LIKE's wildcards are literal
    assert "0 users" in wildcard.text


def test_a_users_page_shows_passkeys_password_sessions_and_events(client: TestClient) -> None:
    key = SoftAuthenticator(aaguid=GOOGLE, transports=("internal", "hybrid"))
    assert browser.signup_with_passkey(client, key, "ada@example.com").status_code == 200
    admin.operator_signed_in(client)
    user = store.user_of(client, "ada@example.com")
    page = client.get(f"/admin/users/{user.id}")
    assert page.status_code == 200
    assert "Google Password Manager" in page.text
    assert 'src="/admin/icons/google-password-manager-icon.svg"' in page.text
    assert "Synced" in page.text and "internal, hybrid" in page.text
    assert 'data-password="none"' in page.text
    assert len(re.findall(r"data-session=", page.text)) == 1
    assert "<code>ss</code>" in page.text  # the signup event
    icon = client.get("/admin/icons/google-password-manager-icon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert client.get("/admin/icons/..%2Fadmin.css").status_code == 404
    assert client.get("/admin/users/no-such-user").status_code == 404


def test_revoking_a_passkey_makes_the_users_next_sign_in_with_it_fail(client: TestClient) -> None:
    key = sign_up(client, "ada@example.com")
    admin.operator_signed_in(client)
    user = store.user_of(client, "ada@example.com")
    [passkey] = store.passkeys_of(client, user.id)
    answer = post(client, f"/admin/users/{user.id}/passkeys/{passkey.id}/revoke")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/admin/users/{user.id}?notice=passkey_revoked"
    assert store.passkeys_of(client, user.id) == []
    refused = browser.login_with_passkey(client, key)
    assert refused.status_code == 400
    assert refused.json()["error"] == "unknown_credential"
    [event] = changes(client)
    assert event.details["operation"] == "delete_authentication_method"
    assert event.details["authenticator_id"] == passkey.id and event.user_id == user.id


def test_renaming_a_passkey_and_a_bad_name_next_to_its_field(client: TestClient) -> None:
    sign_up(client, "ada@example.com")
    admin.operator_signed_in(client)
    user = store.user_of(client, "ada@example.com")
    [passkey] = store.passkeys_of(client, user.id)
    path = f"/admin/users/{user.id}/passkeys/{passkey.id}/rename"
    bad = post(client, path, {"name": "   "})
    assert bad.status_code == 400
    assert f'id="name-{passkey.id}-error"' in bad.text and 'aria-invalid="true"' in bad.text
    assert store.passkeys_of(client, user.id)[0].name == passkey.name
    assert operations(client) == []
    assert post(client, path, {"name": "Ada's phone"}).status_code == 303
    assert store.passkeys_of(client, user.id)[0].name == "Ada's phone"
    assert operations(client) == ["rename_authentication_method"]
    assert post(client, f"/admin/users/{user.id}/passkeys/nope/rename", {"name": "x"}).status_code == 404


def test_revoking_a_session_signs_the_user_out(client: TestClient) -> None:
    key = SoftAuthenticator()
    assert browser.signup_with_passkey(client, key, "ada@example.com").status_code == 200
    assert client.get("/account", follow_redirects=False).status_code == 200
    admin.operator_signed_in(client)
    user = store.user_of(client, "ada@example.com")
    page = client.get(f"/admin/users/{user.id}")
    [session_id] = re.findall(r'data-session="([^"]+)"', page.text)
    assert post(client, f"/admin/users/{user.id}/sessions/{session_id}/revoke").status_code == 303
    assert client.get("/account", follow_redirects=False).status_code in (302, 303)
    assert operations(client) == ["revoke_access"]
    assert post(client, f"/admin/users/{user.id}/sessions/{session_id}/revoke").status_code == 404


def test_removing_the_password(client: TestClient) -> None:
    browser.signup_with_password(client, "ada@example.com", "correct horse battery")
    browser.sign_out(client)
    admin.operator_signed_in(client)
    user = store.user_of(client, "ada@example.com")
    assert 'data-password="set"' in client.get(f"/admin/users/{user.id}").text
    assert post(client, f"/admin/users/{user.id}/password/remove").status_code == 303
    assert store.user_of(client, "ada@example.com").has_password is False
    assert browser.login_with_password(client, "ada@example.com", "correct horse battery").status_code >= 400


def test_creating_a_user_and_bad_input_next_to_its_field(client: TestClient) -> None:
    admin.operator_signed_in(client)
    bad = post(client, "/admin/users", {"email": "not-an-email", "password": "x"})
    assert bad.status_code == 400
    assert 'id="email-error"' in bad.text and "Enter a valid email address." in bad.text
    assert 'value="not-an-email"' in bad.text
    short = post(client, "/admin/users", {"email": "ada@example.com", "password": "short"})
    assert short.status_code == 400 and 'id="password-error"' in short.text
    assert 'value="short"' not in short.text  # a password is never echoed
    assert store.find_user(client, "ada@example.com") is None
    made = post(client, "/admin/users", {"email": "Ada@Example.com", "name": "Ada", "email_verified": "on"})
    assert made.status_code == 303
    user = store.user_of(client, "ada@example.com")
    assert (user.name, user.email_verified, user.has_password) == ("Ada", True, False)
    taken = post(client, "/admin/users", {"email": "ada@example.com"})
    assert taken.status_code == 409 and "The user already exists." in taken.text
    assert operations(client) == ["create_user"]


def test_deleting_a_user_needs_their_email_typed(client: TestClient) -> None:
    sign_up(client, "ada@example.com")
    admin.operator_signed_in(client)
    user = store.user_of(client, "ada@example.com")
    wrong = post(client, f"/admin/users/{user.id}/delete", {"confirm_email": "someone@example.com"})
    assert wrong.status_code == 400 and 'id="confirm_email-error"' in wrong.text
    assert store.get_user(client, user.id) is not None
    done = post(client, f"/admin/users/{user.id}/delete", {"confirm_email": "ada@example.com"})
    assert done.status_code == 303 and done.headers["location"] == "/admin/users?notice=user_deleted"
    assert store.get_user(client, user.id) is None
    assert store.passkeys_of(client, user.id) == []
    assert operations(client) == ["delete_user"]


def test_a_viewer_sees_no_change_buttons_and_every_post_is_403(client: TestClient) -> None:
    sign_up(client, "ada@example.com")
    admin.operator_signed_in(client, "viewer@example.com", "viewer")
    user = store.user_of(client, "ada@example.com")
    [passkey] = store.passkeys_of(client, user.id)
    page = client.get(f"/admin/users/{user.id}")
    assert page.status_code == 200
    for absent in ("Revoke", "Rename", "Delete user", "Create user", "Unblock"):
        assert f">{absent}</button>" not in page.text
    assert "Create a user" not in client.get("/admin/users").text
    csrf = admin.form_csrf(page.text)
    for path, form in (
        ("/admin/users", {"email": "x@example.com"}),
        (f"/admin/users/{user.id}/passkeys/{passkey.id}/revoke", {}),
        (f"/admin/users/{user.id}/passkeys/{passkey.id}/rename", {"name": "x"}),
        (f"/admin/users/{user.id}/password/remove", {}),
        (f"/admin/users/{user.id}/unblock", {}),
        (f"/admin/users/{user.id}/delete", {"confirm_email": "ada@example.com"}),
    ):
        answer = client.post(path, data={**form, "csrf": csrf})
        assert (answer.status_code, answer.text) == (403, "Forbidden."), path
    assert len(store.passkeys_of(client, user.id)) == 1 and store.find_user(client, "x@example.com") is None
    assert [e for e in store.events_of(client, "sapi") if e.details["actor"] == "viewer@example.com"] == [
        e for e in store.events_of(client, "sapi") if e.details["operation"] == "enroll_operator"
    ]


def test_a_change_without_the_csrf_token_changes_nothing(client: TestClient) -> None:
    sign_up(client, "ada@example.com")
    admin.operator_signed_in(client)
    user = store.user_of(client, "ada@example.com")
    answer = client.post(f"/admin/users/{user.id}/delete", data={"confirm_email": "ada@example.com"})
    assert answer.status_code == 403 and answer.json()["error"] == "csrf_failed"
    assert store.get_user(client, user.id) is not None
