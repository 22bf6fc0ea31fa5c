"""The captcha in Chromium: its script and widget appear on the password step only.

The providers' real scripts cannot load offline, so the tenant points `script_url` at a
loopback stand-in (tests/support/defences.py) that defines the provider's browser API,
renders a widget and fills the provider's form field; the real `keyturn serve` verifies the
token against the loopback siteverify server. The pages' CSP must name exactly that origin.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from keyturn.store.sql.tables import users
from tests.e2e.conftest import KeyturnServer
from tests.e2e.pages import AccountPage, LoginPage, SignupPage, VirtualAuthenticator
from tests.support.defences import SECRET, CaptchaProvider, running_captcha_provider

pytestmark = pytest.mark.e2e

EMAIL = "grace@example.com"
PASSWORD = "correct horse battery staple"
FIELDS = {
    "turnstile": "cf-turnstile-response",
    "hcaptcha": "h-captcha-response",
    "recaptcha": "g-recaptcha-response",
}


@pytest.fixture
def provider() -> Iterator[CaptchaProvider]:
    with running_captcha_provider() as running:
        yield running


def use_captcha(server: KeyturnServer, provider: CaptchaProvider, name: str, **extra: Any) -> None:
    value = {
        "provider": name,
        "site_key": "e2e-site-key",
        "secret": SECRET,
        "verify_url": provider.verify_url,
        "script_url": provider.script_url(name),
        "timeout_seconds": 0.5,
        **extra,
    }
    shown = server.cli("config", "patch", "--replace", f"/attack_protection/captcha={json.dumps(value)}")
    assert SECRET not in shown and json.loads(shown)["attack_protection"]["captcha"]["secret_sealed"]


def expect_no_captcha(page: Page) -> None:
    expect(page.locator("#kt-captcha-script")).to_have_count(0)
    expect(page.locator(".standin-captcha-widget")).to_have_count(0)
    expect(page.locator("#kt-captcha")).to_be_hidden()


def csp_of(page: Page, path: str, server: KeyturnServer) -> dict[str, str]:
    response = page.goto(server.base_url + path)
    assert response is not None
    header = response.headers["content-security-policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


def test_the_passkey_path_has_no_captcha_even_with_the_provider_down(
    page: Page, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator, provider: CaptchaProvider
) -> None:
    use_captcha(server, provider, "turnstile")
    server.set_challenge_ui("button")  # the button, not autofill, signs in below
    provider.state.hang = True
    signup = SignupPage(page, server.base_url).open()
    expect_no_captcha(page)

    account = signup.sign_up_with_passkey(EMAIL)
    login = account.sign_out()
    expect_no_captcha(page)
    login.sign_in_with_passkey_button()

    assert len(virtual_authenticator.credentials()) == 1
    assert provider.state.forms == []  # never asked


@pytest.mark.parametrize(
    ("name", "extra"),
    [("turnstile", {}), ("hcaptcha", {}), ("recaptcha", {}), ("recaptcha", {"recaptcha_version": "v3"})],
    ids=["turnstile", "hcaptcha", "recaptcha-v2", "recaptcha-v3"],
)
def test_the_password_path_shows_the_widget_and_sends_its_token(
    page: Page,
    server: KeyturnServer,
    virtual_authenticator: VirtualAuthenticator,
    provider: CaptchaProvider,
    name: str,
    extra: dict[str, Any],
) -> None:
    virtual_authenticator.set_presence(False)  # Continue's passkey prompt goes unanswered
    server.offer_no_passkeys()  # the password sign-in lands on /account
    use_captcha(server, provider, name, **extra)
    v3 = extra.get("recaptcha_version") == "v3"
    for path in ("/signup", "/login"):
        policy = csp_of(page, path, server)
        assert policy["script-src"] == f"'self' {provider.origin}"
        assert policy["frame-src"] == provider.origin

    signup = SignupPage(page, server.base_url).open()
    expect_no_captcha(page)  # not until a password is chosen
    provider.state.v3_action = "signup" if v3 else None
    signup.choose_password(EMAIL, PASSWORD)
    expect(page.locator("#kt-captcha-script")).to_have_attribute("src", provider.script_url(name))
    if not v3:
        expect(page.locator("#kt-captcha .standin-captcha-widget")).to_have_count(1)
        expect(page.locator(f'#kt-captcha [name="{FIELDS[name]}"]')).to_have_value(re.compile(r"^widget-1-"))
    signup.create_with_password_button.click()
    account = AccountPage(page, server.base_url)
    account.expect_here()
    assert [row["email"] for row in server.rows(users)] == [EMAIL]

    login = account.sign_out()
    expect_no_captcha(page)
    provider.state.v3_action = "login" if v3 else None
    login.continue_with(EMAIL)
    expect(login.password).to_be_visible()
    expect(page.locator("#kt-captcha-script")).to_have_count(1)
    if not v3:
        expect(page.locator("#kt-captcha .standin-captcha-widget")).to_have_count(1)
    login.password.fill(PASSWORD)
    login.continue_button.click()
    account.expect_here()

    assert [form["secret"] for form in provider.state.forms] == [SECRET, SECRET]
    assert all(form["response"].startswith("widget-") for form in provider.state.forms)
    assert SECRET not in server.log_path.read_text()  # never logged


def test_after_failures_the_widget_appears_when_the_server_asks_for_it(
    page: Page, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator, provider: CaptchaProvider
) -> None:
    virtual_authenticator.set_presence(False)
    server.offer_no_passkeys()  # the password sign-in lands on /account
    SignupPage(page, server.base_url).open().sign_up_with_password(EMAIL, PASSWORD).sign_out()
    use_captcha(server, provider, "hcaptcha", when={"after_failures": 1})
    login = LoginPage(page, server.base_url).open()
    login.continue_with(EMAIL)
    expect(login.password).to_be_visible()
    expect_no_captcha(page)  # no failures from this address yet

    login.password.fill("not the password")
    login.continue_button.click()
    expect(login.error).to_have_text("Wrong email or password.")
    login.password.fill(PASSWORD)
    login.continue_button.click()  # the address has failed once now: the server asks
    expect(login.error).to_contain_text("not a robot")
    expect(page.locator("#kt-captcha .standin-captcha-widget")).to_have_count(1)
    login.continue_button.click()
    AccountPage(page, server.base_url).expect_here()
    assert [form["response"][:7] for form in provider.state.forms] == ["widget-"]
