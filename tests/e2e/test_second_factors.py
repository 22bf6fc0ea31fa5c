"""Second factors in a real browser (issue 12): an authenticator app added from the secret the
page shows and then asked for at sign-in, a security key on a second virtual authenticator
(USB, no resident keys), a recovery code, and mfa.policy=required with and without
`passkey_satisfies`."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Page, expect

from keyturn.store.sql.tables import events, security_keys, totp_credentials
from tests.e2e.conftest import KeyturnServer
from tests.e2e.pages import AccountPage, SignupPage, VirtualAuthenticator

pytestmark = pytest.mark.e2e

EMAIL = "grace@example.com"
PASSWORD = "correct horse battery staple"
STEP = re.compile(r"/login/second-factor/[^/]+$")
# A security key: a roaming USB authenticator that holds no discoverable credentials.
USB_SECURITY_KEY: dict[str, Any] = {
    "protocol": "ctap2",
    "transport": "usb",
    "hasResidentKey": False,
    "hasUserVerification": False,
    "automaticPresenceSimulation": True,
}


def password_account(page: Page, server: KeyturnServer) -> AccountPage:
    server.offer_no_passkeys()
    return SignupPage(page, server.base_url).open().sign_up_with_password(EMAIL, PASSWORD)


def add_authenticator_app(account: AccountPage) -> str:
    """Add an app from the key the page shows (as a person types it into their app)."""
    page = account.page
    page.get_by_role("button", name="Add an authenticator app").click()
    expect(page.get_by_role("heading", name="Add an authenticator app")).to_be_visible()
    expect(page.locator(".qr svg")).to_be_visible()
    secret = (page.locator("#totp-secret").text_content() or "").replace(" ", "")
    page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Add authenticator app").click()
    expect(account.notice).to_have_text("Authenticator app added.")
    return secret


def next_code(secret: str) -> str:
    """A code the server has not seen yet: the next time step's (within its ±1 window)."""
    return pyotp.TOTP(secret).at(time.time(), counter_offset=1)


def sign_in_to_second_factor(account: AccountPage) -> Page:
    login = account.sign_out()
    login.submit_password(EMAIL, PASSWORD)
    expect(login.page).to_have_url(STEP)
    return login.page


def performed_amr(server: KeyturnServer) -> list[str]:
    signed_in = sorted(
        (row for row in server.rows(events) if row["type"] == "s"), key=lambda row: row["log_id"]
    )
    amr: list[str] = signed_in[-1]["details"]["prompts"][0]["performed_amr"]
    return amr


def test_an_authenticator_app_is_added_from_the_shown_secret_and_asked_for_at_sign_in(
    page: Page, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    account = password_account(page, server)
    secret = add_authenticator_app(account)
    assert server.count(totp_credentials) == 1
    server.cli("config", "patch", "--replace", "/mfa/policy=optional")

    step = sign_in_to_second_factor(account)
    expect(step.get_by_role("heading", name="Two-step verification")).to_be_visible()
    step.get_by_label("Code").fill(next_code(secret))
    step.get_by_role("button", name="Continue").click()

    account.expect_here()
    expect(account.email).to_have_text(EMAIL)
    assert performed_amr(server) == ["pwd", "otp", "mfa"]


def test_a_security_key_on_a_second_authenticator_is_the_second_factor(
    page: Page, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    account = password_account(page, server)
    virtual_authenticator.set_presence(False)  # the platform one stays silent: the key answers
    key = virtual_authenticator.add_another(USB_SECURITY_KEY)

    page.get_by_role("button", name="Add a security key").click()
    expect(account.notice).to_have_text("Security key added.")
    [credential] = key.credentials()
    assert not credential.resident
    assert server.count(security_keys) == 1
    expect(account.passkeys).to_have_count(0)
    server.cli("config", "patch", "--replace", "/mfa/policy=optional")

    step = sign_in_to_second_factor(account)
    step.get_by_role("button", name="Use your security key").click()

    account.expect_here()
    assert performed_amr(server) == ["pwd", "hwk", "mfa"]


def test_a_recovery_code_signs_in_once(
    page: Page, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    account = password_account(page, server)
    add_authenticator_app(account)
    page.get_by_role("button", name="Generate recovery codes").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    page.get_by_role("link", name="Done").click()
    account.expect_here()
    server.cli("config", "patch", "--replace", "/mfa/policy=optional")

    step = sign_in_to_second_factor(account)
    step.get_by_label("Code").fill(codes[0])
    step.get_by_role("button", name="Continue").click()
    account.expect_here()
    expect(page.locator("#recovery-codes-left")).to_have_text("9")

    step = sign_in_to_second_factor(account)
    step.get_by_label("Code").fill(codes[0])
    step.get_by_role("button", name="Continue").click()
    expect(step.get_by_role("alert")).to_contain_text("That code is not right")
    expect(step).to_have_url(STEP)


def test_required_policy_and_a_passkey_that_satisfies_it_or_not(
    page: Page, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    server.set_challenge_ui("button")  # no autofill: each sign-in is the button's
    account = SignupPage(page, server.base_url).open().sign_up_with_passkey(EMAIL)
    server.cli("config", "patch", "--replace", "/mfa/policy=required")

    login = account.sign_out()
    login.sign_in_with_passkey_button()
    assert performed_amr(server) == ["phr", "mfa"]

    server.cli("config", "patch", "--replace", "/mfa/passkey_satisfies=false")
    login = account.sign_out()
    login.passkey_button.click()
    expect(page).to_have_url(STEP)
    expect(page.get_by_role("heading", name="Add an authenticator app")).to_be_visible()
    secret = (page.locator("#totp-secret").text_content() or "").replace(" ", "")
    page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Continue").click()

    account.expect_here()
    assert performed_amr(server) == ["phr", "otp", "mfa"]
    assert server.count(totp_credentials) == 1
