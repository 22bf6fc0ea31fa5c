"""Sessions on /account in a real browser: revoking the session of another browser signs
that browser out at once, and re-authentication guards a sensitive change."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import KeyturnServer
from tests.e2e.pages import PLATFORM_AUTHENTICATOR, LoginPage, SignupPage, VirtualAuthenticator

pytestmark = pytest.mark.e2e

EMAIL = "grace@example.com"
PASSWORD = "correct horse battery staple"


def test_revoking_another_browsers_session_signs_it_out_at_once(
    page: Page, browser: Browser, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    server.offer_no_passkeys()
    virtual_authenticator.set_presence(False)
    laptop = SignupPage(page, server.base_url).open().sign_up_with_password(EMAIL, PASSWORD)
    other = browser.new_context(base_url=server.base_url)
    try:
        phone_page = other.new_page()
        VirtualAuthenticator.attach(other, phone_page, PLATFORM_AUTHENTICATOR).set_presence(False)
        phone = LoginPage(phone_page, server.base_url).open().sign_in_with_password(EMAIL, PASSWORD)
        phone.expect_here()

        laptop.open()
        sessions = page.locator(".session-item")
        expect(sessions).to_have_count(2)
        expect(sessions.filter(has_text="This session")).to_have_count(1)
        sessions.filter(has_not_text="This session").get_by_role("button", name="Revoke").click()
        expect(laptop.notice).to_have_text("Session signed out.")
        expect(sessions).to_have_count(1)

        phone_page.reload()
        LoginPage(phone_page, server.base_url).expect_here()
    finally:
        other.close()


def test_an_email_change_after_an_old_sign_in_confirms_with_the_password_first(
    page: Page, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    virtual_authenticator.set_presence(False)
    account = SignupPage(page, server.base_url).open().sign_up_with_password(EMAIL, PASSWORD)
    # Every sign-in is "old" at once; set back once the step is shown, so the change can go ahead.
    server.cli("config", "patch", "--replace", "/privileged_session_max_age=0")
    page.get_by_label("New email").fill("grace@new.example")
    page.get_by_role("button", name="Change email").click()

    expect(page.get_by_role("heading", name="Confirm it's you")).to_be_visible()
    expect(account.email).to_have_count(0)
    server.cli("config", "patch", "--replace", "/privileged_session_max_age=900")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm with password").click()

    account.expect_here()  # the change goes ahead: a code is on its way to the new address
    expect(account.notice).to_have_text(
        "We sent a code to your new address. Type it below to change your email."
    )
    expect(account.email).to_have_text(EMAIL)  # changed only once the code is typed
    expect(page.locator("#pending-email")).to_have_text("grace@new.example")
