"""Verification before sign-up in a real browser: the email, the code from the message the SMTP
server received, then the passkey; the account is created verified."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from keyturn.store.sql.tables import users
from tests.e2e.conftest import KeyturnServer
from tests.e2e.pages import AccountPage, SignupPage, VirtualAuthenticator
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.e2e

EMAIL = "grace@example.com"


def test_the_email_is_proven_by_its_code_before_the_passkey_is_created(
    page: Page, server: KeyturnServer, smtp: SmtpServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    server.cli("config", "patch", "--replace", "/verification/mode=before_signup")
    signup = SignupPage(page, server.base_url).open()
    signup.email.fill(EMAIL)
    signup.create_passkey_button.click()
    expect(page.locator("#kt-status")).to_contain_text("Check your inbox")
    code_field = page.get_by_label("Verification code")
    expect(code_field).to_be_visible()
    assert server.count(users) == 0 and virtual_authenticator.credentials() == []

    [message] = smtp.inbox.wait_for(1)
    assert message.to == [EMAIL] and message.subject.startswith("Your Keyturn sign-up code")
    found = re.search(r"code is: (\d{6})", message.text)
    assert found, message.text
    code_field.fill(found.group(1))
    signup.create_passkey_button.click()

    account = AccountPage(page, server.base_url)
    account.expect_here()
    expect(account.email).to_have_text(EMAIL)
    expect(page.get_by_label("Verification code")).to_have_count(0)  # verified already
    [user] = server.rows(users)
    assert user["email"] == EMAIL and user["email_verified"] is True
    assert len(virtual_authenticator.credentials()) == 1
