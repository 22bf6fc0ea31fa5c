"""Passkey journeys in a real browser: sign up, sign out, sign in (autofill and button),
add, rename, remove, and the per-user limit."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import APIRequestContext, BrowserContext, Page, expect

from keyturn.store.sql.tables import passkeys, sessions, users
from tests.e2e.conftest import KeyturnServer
from tests.e2e.pages import (
    SYNCED_SECURITY_KEY,
    AccountPage,
    LoginPage,
    SignupPage,
    VirtualAuthenticator,
    wait_until,
)
from tests.support.soft_authenticator import SoftAuthenticator

pytestmark = pytest.mark.e2e

EMAIL = "ada@example.com"
DEFAULT_LIMIT = 20  # PasskeyOptions.max_passkeys_per_user, left as shipped


def sign_up(page: Page, server: KeyturnServer, email: str = EMAIL) -> AccountPage:
    return SignupPage(page, server.base_url).open().sign_up_with_passkey(email)


def sign_out_quietly(account: AccountPage, authenticator: VirtualAuthenticator) -> LoginPage:
    """Sign out without the /login autofill request signing straight back in.

    With presence on, Chrome's virtual authenticator answers the page's conditional
    (autofill) request by itself, which is what a person picking their passkey does.
    """
    authenticator.set_presence(False)
    return account.sign_out()


def test_sign_up_with_a_passkey(
    page: Page, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    account = sign_up(page, server)

    expect(account.email).to_have_text(EMAIL)
    expect(account.passkeys).to_have_count(1)
    expect(account.passkeys.first.locator(".passkey-name")).to_have_text("Passkey")
    assert account.badges() == ["Device-bound"]  # the virtual authenticator is not backed up
    assert account.last_used() == ["Never"]
    credentials = virtual_authenticator.credentials()
    assert len(credentials) == 1
    credential = credentials[0]
    assert credential.resident
    assert credential.rp_id == "localhost"
    assert credential.user_name == EMAIL
    assert len(credential.user_handle) == 64
    [user] = server.rows(users)
    [stored] = server.rows(passkeys)
    assert user["email"] == EMAIL
    assert user["password_hash"] is None
    assert bytes(user["user_handle"]) == credential.user_handle
    assert bytes(stored["credential_id"]) == credential.credential_id
    assert server.count(sessions) == 1


def test_sign_out(
    page: Page, context: BrowserContext, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    account = sign_up(page, server)

    login = sign_out_quietly(account, virtual_authenticator)

    expect(login.email).to_be_visible()
    assert "keyturn_session" not in {cookie["name"] for cookie in context.cookies()}
    assert server.count(sessions) == 0
    page.goto(f"{server.base_url}/account")
    expect(page).to_have_url(f"{server.base_url}/login?return_to=/account")
    expect(login.email).to_be_visible()


def test_sign_in_through_autofill_after_sign_out(
    page: Page, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    login = sign_out_quietly(sign_up(page, server), virtual_authenticator)
    expect(login.email).to_have_attribute("autocomplete", "username webauthn")
    expect(login.passkey_button).to_be_visible()  # challenge_ui=both, the default
    page.wait_for_timeout(500)
    login.expect_here()  # nobody picked the passkey yet: the autofill request waits

    virtual_authenticator.set_presence(True)  # the person picks their passkey from autofill
    submissions: list[str] = []
    page.on("request", lambda r: submissions.append(r.url) if r.method == "POST" else None)
    page.reload()

    account = AccountPage(page, server.base_url)
    account.expect_here()
    expect(account.email).to_have_text(EMAIL)
    assert not any(url.endswith("/identify") for url in submissions), "signed in without Continue"
    assert account.last_used() != ["Never"]
    assert server.count(sessions) == 1
    [stored] = server.rows(passkeys)
    assert stored["last_used_at"] is not None


def test_sign_in_with_the_passkey_button(
    page: Page, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    account = sign_up(page, server)
    server.set_challenge_ui("button")
    login = account.sign_out()  # no autofill request any more, so presence can stay on

    expect(login.email).to_have_attribute("autocomplete", "username")
    options_calls: list[str] = []
    page.on("request", lambda r: options_calls.append(r.url) if r.url.endswith("/passkey/options") else None)
    page.wait_for_timeout(300)
    assert options_calls == [], "the page started a passkey request on load in button mode"
    login.expect_here()

    account = login.sign_in_with_passkey_button()

    expect(account.email).to_have_text(EMAIL)
    assert len(options_calls) == 1
    assert account.last_used() != ["Never"]
    assert len(virtual_authenticator.credentials()) == 1


@pytest.mark.parametrize(
    ("challenge_ui", "autocomplete", "button"),
    [
        ("both", "username webauthn", True),
        ("autofill", "username webauthn", False),
        ("button", "username", True),
    ],
)
def test_login_page_offers_what_challenge_ui_says(
    page: Page, server: KeyturnServer, challenge_ui: str, autocomplete: str, button: bool
) -> None:
    if challenge_ui != "both":
        server.set_challenge_ui(challenge_ui)

    login = LoginPage(page, server.base_url).open()

    expect(login.email).to_have_attribute("autocomplete", autocomplete)
    expect(login.continue_button).to_have_text("Continue")
    expect(login.passkey_button).to_have_count(1 if button else 0)


def test_add_a_second_passkey(
    page: Page, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    account = sign_up(page, server)
    # excludeCredentials stops the first authenticator from registering twice; let a
    # security key answer instead, the first one waiting for a touch that never comes.
    virtual_authenticator.set_presence(False)
    security_key = virtual_authenticator.add_another(SYNCED_SECURITY_KEY)

    account.add_passkey()

    expect(account.passkeys).to_have_count(2)
    assert account.badges() == ["Device-bound", "Synced"]
    assert len(virtual_authenticator.credentials()) == 1
    [new] = security_key.credentials()
    assert new.resident
    assert new.user_handle == virtual_authenticator.credentials()[0].user_handle  # the same account
    assert server.count(passkeys) == 2

    # The new passkey signs in on its own: after sign-out, /login's autofill request is
    # answered by the security key (the only authenticator answering) and lands on /account.
    account.sign_out_button.click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(account.email).to_have_text(EMAIL)
    assert account.last_used()[1] != "Never"


def add_second_passkey(
    account: AccountPage, authenticator: VirtualAuthenticator, name: str
) -> VirtualAuthenticator:
    authenticator.set_presence(False)
    security_key = authenticator.add_another(SYNCED_SECURITY_KEY)
    account.add_passkey()
    account.rename_passkey(1, name)
    authenticator.set_presence(True)
    return security_key


def test_remove_a_passkey_but_never_the_last(
    page: Page, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    account = sign_up(page, server)
    security_key = add_second_passkey(account, virtual_authenticator, "Security key")
    expect(account.passkeys).to_have_count(2)

    account.remove_passkey("Security key")

    expect(page).to_have_url(re.compile(r"/account\?notice=passkey_removed$"))
    expect(account.notice).to_have_text("Passkey removed.")
    expect(account.passkeys).to_have_count(1)
    expect(account.passkey("Security key")).to_have_count(0)
    assert server.count(passkeys) == 1
    # The page tells the browser which passkeys are still accepted (Signal API), and
    # Chrome drops the removed one from the security key.
    wait_until(lambda: security_key.credentials() == [], page, "Chrome kept the removed passkey")
    assert len(virtual_authenticator.credentials()) == 1

    account.remove_passkey("Passkey")

    expect(account.error).to_be_visible()
    expect(account.error).to_have_text(
        "This is your last way to sign in. Add another passkey or a password first."
    )
    expect(account.passkeys).to_have_count(1)
    account.open()
    expect(account.passkeys).to_have_count(1)
    assert server.count(passkeys) == 1
    assert len(virtual_authenticator.credentials()) == 1
    assert security_key.credentials() == []


def register_over_http(
    request: APIRequestContext, base_url: str, csrf: str, authenticator: SoftAuthenticator
) -> dict[str, Any]:
    """What /account's "Add a passkey" does, with a software authenticator and the browser's cookies."""
    headers = {"origin": base_url, "x-csrf-token": csrf}
    started = request.post("/account/passkeys/options", data={}, headers=headers)
    assert started.ok, started.text()
    body: dict[str, Any] = started.json()
    credential = authenticator.create(body["options"], origin=base_url)
    added = request.post(
        "/account/passkeys",
        data={"flow_id": body["flow_id"], "credential": credential},
        headers={"origin": base_url, "x-csrf-token": body["csrf"]},
    )
    assert added.ok, added.text()
    result: dict[str, Any] = added.json()
    return result


def test_a_21st_passkey_is_refused(
    page: Page, context: BrowserContext, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    account = sign_up(page, server)
    # One passkey per device and account (excludeCredentials), so one software device each.
    for _ in range(DEFAULT_LIMIT - 2):
        register_over_http(context.request, server.base_url, account.csrf, SoftAuthenticator())
    account.open()
    expect(account.passkeys).to_have_count(DEFAULT_LIMIT - 1)
    expect(account.add_button).to_be_enabled()

    # The 20th arrives from elsewhere while this page still offers "Add a passkey".
    register_over_http(context.request, server.base_url, account.csrf, SoftAuthenticator())
    account.add_button.click()

    expect(account.error).to_have_text(
        f"You already have {DEFAULT_LIMIT} passkeys, the most allowed. Remove one to add another."
    )
    account.expect_here()
    assert len(virtual_authenticator.credentials()) == 1  # refused before the browser made one

    account.open()
    expect(account.passkeys).to_have_count(DEFAULT_LIMIT)
    expect(account.add_button).to_be_disabled()
    expect(account.limit_note).to_have_text(
        f"You have {DEFAULT_LIMIT} passkeys, the most allowed. Remove one to add another."
    )
    refused = context.request.post(
        "/account/passkeys/options",
        data={},
        headers={"origin": server.base_url, "x-csrf-token": account.csrf},
    )
    assert refused.status == 409
    assert refused.json()["error"] == "passkey_limit_reached"
    assert server.count(passkeys) == DEFAULT_LIMIT
    assert len(virtual_authenticator.credentials()) == 1
