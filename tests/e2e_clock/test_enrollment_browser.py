"""Passkeys offered after a sign-in, in Chromium with virtual authenticators: progressive
enrollment after a password (the prompt and its answers, the snooze passing on the server's
clock, the automatic upgrade) and local enrollment after a sign-in with a phone's passkey.

Chromium's virtual authenticator never answers a conditional create (`mediation: "conditional"`
goes to the browser's password manager, and the promise stays pending): here the page is shown
to ask for it and then not to hold the sign-in up (mode automatic) or to fall back on the
prompt (mode both). The server's side of the automatic upgrade (UP=0 accepted only for such a
creation, within a minute of the password) is proven by tests/flows/test_enrollment.py, whose
software authenticator can leave UP out.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from keyturn.store.sql.tables import enrollment_choices, events, passkeys
from tests.e2e.pages import (
    PHONE_AUTHENTICATOR,
    PLATFORM_AUTHENTICATOR,
    SYNCED_SECURITY_KEY,
    AccountPage,
    EnrollmentOffer,
    LoginPage,
    SignupPage,
    VirtualAuthenticator,
)
from tests.e2e_clock.conftest import ClockedServer

pytestmark = pytest.mark.e2e

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"


def password_account(page: Page, server: ClockedServer) -> None:
    SignupPage(page, server.base_url).open().sign_up_with_password(EMAIL, PASSWORD).sign_out()


def sign_in_with_password(page: Page, server: ClockedServer) -> None:
    LoginPage(page, server.base_url).open().submit_password(EMAIL, PASSWORD)


def enrollments(server: ClockedServer, kind: str) -> list[dict[str, Any]]:
    return [dict(row["details"] or {}) for row in server.rows(events) if row["type"] == kind]


def prompt_mode(server: ClockedServer) -> None:
    server.cli("config", "patch", "--replace", "/passkey_options/progressive_enrollment_mode=prompt")


def test_not_now_then_the_snooze_passes_then_a_passkey_is_created(
    page: Page, server: ClockedServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    prompt_mode(server)
    password_account(page, server)
    offer = EnrollmentOffer(page, server.base_url)
    account = AccountPage(page, server.base_url)

    sign_in_with_password(page, server)
    offer.expect_offered()
    offer.not_now.click()
    account.expect_here()
    [choice] = server.rows(enrollment_choices)
    assert choice["snoozed_until"] is not None and choice["declined_at"] is None

    account.sign_out()
    sign_in_with_password(page, server)
    account.expect_here()  # snoozed: straight on
    expect(account.passkeys).to_have_count(0)

    account.sign_out()
    server.clock.advance(days=14, minutes=1)
    sign_in_with_password(page, server)
    offer.expect_offered()
    offer.create_button().click()
    account.expect_here()
    expect(account.passkeys).to_have_count(1)
    assert len(virtual_authenticator.credentials()) == 1
    assert server.count(passkeys) == 1
    [enrolled] = enrollments(server, "gd_enrollment_complete")
    assert enrolled["enrollment"] == "progressive"

    virtual_authenticator.set_presence(False)  # else the passkey signs in at once (autofill)
    account.sign_out()
    sign_in_with_password(page, server)
    account.expect_here()  # a user with a passkey is not asked again


def test_dont_ask_again_holds_for_good(
    page: Page, server: ClockedServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    prompt_mode(server)
    password_account(page, server)
    offer = EnrollmentOffer(page, server.base_url)
    account = AccountPage(page, server.base_url)

    sign_in_with_password(page, server)
    offer.expect_offered()
    offer.dont_ask_again.click()
    account.expect_here()
    [choice] = server.rows(enrollment_choices)
    assert choice["declined_at"] is not None

    account.sign_out()
    server.clock.advance(days=400)
    sign_in_with_password(page, server)
    account.expect_here()
    assert virtual_authenticator.credentials() == []
    assert server.count(passkeys) == 0


def conditional_create_asked(requests: list[tuple[str, str | None]]) -> bool:
    return any(url.endswith("/options") and body == '{"conditional":true}' for url, body in requests)


def test_automatic_mode_asks_the_password_manager_and_goes_on_with_no_prompt(
    page: Page, server: ClockedServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    """The page asks for a conditional create and, when nothing comes of it (Chromium's virtual
    authenticator never answers one), goes on to the account: the sign-in is not held up."""
    server.cli("config", "patch", "--replace", "/passkey_options/progressive_enrollment_mode=automatic")
    password_account(page, server)
    requests: list[tuple[str, str | None]] = []
    page.on("request", lambda request: requests.append((request.url, request.post_data)))

    sign_in_with_password(page, server)

    account = AccountPage(page, server.base_url)
    expect(page).to_have_url(account.url_pattern(), timeout=15_000)
    assert conditional_create_asked(requests)
    expect(page.get_by_role("button", name="Not now")).to_have_count(0)
    assert server.count(passkeys) == 0


def test_mode_both_shows_the_prompt_when_the_automatic_upgrade_adds_nothing(
    page: Page, server: ClockedServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    password_account(page, server)  # the default mode: both
    requests: list[tuple[str, str | None]] = []
    page.on("request", lambda request: requests.append((request.url, request.post_data)))

    sign_in_with_password(page, server)

    offer = EnrollmentOffer(page, server.base_url)
    expect(offer.heading).to_have_text("Create a passkey", timeout=15_000)
    assert conditional_create_asked(requests)
    offer.create_button().click()
    account = AccountPage(page, server.base_url)
    account.expect_here()
    expect(account.passkeys).to_have_count(1)
    assert len(virtual_authenticator.credentials()) == 1


def test_no_offer_in_a_browser_without_a_platform_authenticator(
    context: BrowserContext, page: Page, server: ClockedServer
) -> None:
    """Only a security key here: no passkey can be made on this device, so the sign-in goes on."""
    VirtualAuthenticator.attach(context, page, SYNCED_SECURITY_KEY)
    password_account(page, server)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    sign_in_with_password(page, server)

    AccountPage(page, server.base_url).expect_here()
    assert not any("/enroll/" in url for url in requests)


def test_a_sign_in_with_the_phone_offers_a_passkey_on_this_device(
    context: BrowserContext, page: Page, server: ClockedServer
) -> None:
    server.set_challenge_ui("button")  # the person presses the button and picks the phone
    phone = VirtualAuthenticator.attach(context, page, PHONE_AUTHENTICATOR)
    SignupPage(page, server.base_url).open().sign_up_with_passkey(EMAIL).sign_out()
    assert len(phone.credentials()) == 1
    laptop = phone.add_another(PLATFORM_AUTHENTICATOR)  # this device, which holds no passkey yet
    offer = EnrollmentOffer(page, server.base_url)
    account = AccountPage(page, server.base_url)

    LoginPage(page, server.base_url).open().passkey_button.click()
    offer.expect_offered("Create a passkey on this device")
    offer.create_button("Create a passkey on this device").click()

    account.expect_here()
    expect(account.passkeys).to_have_count(2)
    assert len(laptop.credentials()) == 1
    assert len(phone.credentials()) == 1
    [enrolled] = [e for e in enrollments(server, "gd_enrollment_complete") if e.get("enrollment")]
    assert enrolled["enrollment"] == "local"

    account.sign_out()
    phone.remove()  # the phone is put away: this device's own passkey signs in now
    LoginPage(page, server.base_url).open().passkey_button.click()
    account.expect_here()  # nothing to offer after a sign-in on this device


def test_dont_ask_again_after_a_phone_sign_in_is_remembered_by_this_browser(
    context: BrowserContext, page: Page, server: ClockedServer
) -> None:
    server.set_challenge_ui("button")
    phone = VirtualAuthenticator.attach(context, page, PHONE_AUTHENTICATOR)
    SignupPage(page, server.base_url).open().sign_up_with_passkey(EMAIL).sign_out()
    laptop = phone.add_another(PLATFORM_AUTHENTICATOR)
    offer = EnrollmentOffer(page, server.base_url)
    account = AccountPage(page, server.base_url)

    LoginPage(page, server.base_url).open().passkey_button.click()
    offer.expect_offered("Create a passkey on this device")
    offer.dont_ask_again.click()
    account.expect_here()
    assert [c["value"] for c in context.cookies() if c["name"] == "keyturn_local_enrollment"] == ["never"]

    account.sign_out()
    LoginPage(page, server.base_url).open().passkey_button.click()
    account.expect_here()
    assert laptop.credentials() == []
    assert server.count(enrollment_choices) == 0  # the browser's answer, not the user's
