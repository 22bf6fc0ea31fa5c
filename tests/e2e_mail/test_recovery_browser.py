"""Recovery of a passkey-only account in a real browser, through a real SMTP server: the
devices are lost, a new browser asks, the link from the message recovers, a new passkey
signs in; the link then refuses a second use."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from keyturn.store.sql.tables import passkeys
from tests.e2e.conftest import KeyturnServer
from tests.e2e.pages import PLATFORM_AUTHENTICATOR, AccountPage, SignupPage, VirtualAuthenticator
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.e2e

EMAIL = "ada@example.com"
_LINK = re.compile(r"http://localhost:\d+/recovery/link\?token=[A-Za-z0-9_-]+")


def test_a_passkey_only_account_is_recovered_with_the_emailed_link(
    page: Page,
    browser: Browser,
    server: KeyturnServer,
    smtp: SmtpServer,
    virtual_authenticator: VirtualAuthenticator,
) -> None:
    SignupPage(page, server.base_url).open().sign_up_with_passkey(EMAIL)
    page.context.close()  # every device with the passkey is lost

    context = browser.new_context(base_url=server.base_url)
    context.set_default_timeout(10_000)
    fresh = context.new_page()
    VirtualAuthenticator.attach(context, fresh, PLATFORM_AUTHENTICATOR)
    fresh.goto(server.base_url + "/login")
    fresh.get_by_role("link", name="Can't sign in?").click()
    expect(fresh).to_have_url(re.compile(r"/recovery$"))
    fresh.get_by_label("Email", exact=True).fill(EMAIL)
    fresh.get_by_role("button", name="Send a recovery link").click()
    expect(fresh.get_by_role("heading", name="Check your inbox")).to_be_visible()
    expect(fresh.get_by_label("Recovery code")).to_be_visible()

    # The sign-up's verification message is sent beside it, in either order.
    [message] = smtp.inbox.wait_for_matching("Your Keyturn recovery code", to=EMAIL)
    found = _LINK.search(message.text)
    assert found, message.text
    link = found.group(0)

    fresh.goto(link)
    fresh.get_by_role("button", name="Continue").click()
    expect(fresh).to_have_url(re.compile(r"/recovery/new$"))
    expect(fresh.get_by_label("Sign me out everywhere else")).to_be_checked()
    fresh.get_by_role("button", name="Create a passkey").click()
    account = AccountPage(fresh, server.base_url)
    account.expect_here()
    expect(account.email).to_have_text(EMAIL)
    expect(account.passkeys).to_have_count(2)
    assert server.count(passkeys) == 2

    assert len(smtp.inbox.wait_for_matching("Your Keyturn account was recovered", to=EMAIL)) == 1

    fresh.goto(link)  # the same link again
    fresh.get_by_role("button", name="Continue").click()
    expect(fresh.locator("#kt-error")).to_have_text(
        "This link has expired or was already used. Ask for a new one."
    )
    context.close()


def test_an_unknown_email_gets_the_same_page_in_the_browser(
    browser: Browser, server: KeyturnServer, smtp: SmtpServer
) -> None:
    """What a person (or a prober) sees after asking, for an account and for no account: the
    same page, word for word but the address; the unknown address is told it has no account
    by email only."""
    seen = []
    for address in ("known@example.com", "unknown@example.com"):
        if address == "known@example.com":
            context = browser.new_context(base_url=server.base_url)
            page = context.new_page()
            VirtualAuthenticator.attach(context, page, PLATFORM_AUTHENTICATOR)
            SignupPage(page, server.base_url).open().sign_up_with_passkey(address)
            context.close()
        context = browser.new_context(base_url=server.base_url)
        context.set_default_timeout(10_000)
        asking = context.new_page()
        asking.goto(server.base_url + "/recovery")
        asking.get_by_label("Email", exact=True).fill(address)
        asking.get_by_role("button", name="Send a recovery link").click()
        expect(asking.get_by_role("heading", name="Check your inbox")).to_be_visible()
        seen.append((asking.title(), asking.locator("main").inner_text().replace(address, "ADDRESS")))
        context.close()

    assert seen[0] == seen[1]
    smtp.inbox.wait_for_matching("Your Keyturn recovery code", to="known@example.com")
    [told] = smtp.inbox.wait_for_matching("About your Keyturn recovery request", to="unknown@example.com")
    assert "has no account" in told.text
