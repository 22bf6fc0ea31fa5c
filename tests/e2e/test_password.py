"""Password accounts on a tenant where passkeys are on too (the default)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from keyturn.store.sql.tables import passkeys, users
from tests.e2e.conftest import KeyturnServer
from tests.e2e.pages import AccountPage, LoginPage, SignupPage, VirtualAuthenticator

pytestmark = pytest.mark.e2e

EMAIL = "grace@example.com"
PASSWORD = "correct horse battery staple"


def expect_password_account(account: AccountPage, server: KeyturnServer) -> None:
    expect(account.email).to_have_text(EMAIL)
    expect(account.passkeys).to_have_count(0)
    expect(account.page.get_by_text("No passkeys yet.")).to_be_visible()
    expect(account.page.get_by_role("button", name="Change password")).to_be_visible()
    [user] = server.rows(users)
    assert user["email"] == EMAIL
    assert user["password_hash"] is not None
    assert PASSWORD not in user["password_hash"]
    assert server.count(passkeys) == 0


# After Continue the page also runs a passkey request for a stand-in credential (so the
# answer never tells whether the account has passkeys). This device has no passkey for it:
# either the authenticator says so at once, or the request waits, like a person who
# ignores the passkey prompt. Either way the password must still work.
@pytest.mark.parametrize("authenticator_answers", [True, False], ids=["no-passkey-at-once", "prompt-ignored"])
def test_sign_up_and_sign_in_with_a_password(
    page: Page,
    server: KeyturnServer,
    virtual_authenticator: VirtualAuthenticator,
    authenticator_answers: bool,
) -> None:
    server.offer_no_passkeys()
    virtual_authenticator.set_presence(authenticator_answers)
    signup = SignupPage(page, server.base_url).open()
    expect(signup.create_passkey_button).to_be_visible()

    account = signup.sign_up_with_password(EMAIL, PASSWORD)

    expect_password_account(account, server)
    login = account.sign_out()
    login.continue_with(EMAIL)
    expect(login.password).to_be_visible()
    expect(login.continue_button).to_have_text("Sign in")
    login.password.fill(PASSWORD)
    login.continue_button.click()
    account.expect_here()
    expect_password_account(account, server)
    assert virtual_authenticator.credentials() == []


def test_wrong_password_is_refused(
    page: Page, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    virtual_authenticator.set_presence(False)
    SignupPage(page, server.base_url).open().sign_up_with_password(EMAIL, PASSWORD).sign_out()
    login = LoginPage(page, server.base_url)
    login.continue_with(EMAIL)
    login.password.fill("not the password")
    login.continue_button.click()

    expect(login.error).to_have_text("Wrong email or password.")
    login.expect_here()


def test_enter_in_the_password_field_signs_up_with_the_password(
    page: Page, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    """Someone who chose "Use a password instead" and presses Enter gets a password account.

    Regression (fixed earlier): the form's submit handler (keyturn.js setupSignup) runs the
    password sign-up once the password field is revealed, even when passkeys are on, so Enter
    creates a password account and does not create a passkey.
    """
    signup = SignupPage(page, server.base_url).open()
    signup.choose_password(EMAIL, PASSWORD)

    signup.password.press("Enter")

    account = AccountPage(page, server.base_url)
    account.expect_here()
    assert virtual_authenticator.credentials() == [], "Enter created a passkey instead"
    expect_password_account(account, server)
