"""Signing in to another app over OpenID Connect, in a real browser.

The relying party is the runnable example, examples/oidc_client/app.py: Authlib fetches
Keyturn's discovery document and JWKS, runs the code flow with PKCE S256 and validates the
ID token (signature, iss, aud, nonce) itself, then shows the claims. Each test registers
the app with the operator's CLI and starts it on a free port: the `server` fixture empties
the database before every test, so a client registered once per module would not survive.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from keyturn.store.sql.tables import authorization_requests, consents, oauth_grants, sessions, users
from tests.e2e.conftest import TEST_FAILED, KeyturnServer
from tests.e2e.oidc_pages import (
    ConsentPage,
    ConsoleErrors,
    ExampleAppPage,
    LogoutPage,
    Navigations,
    expect_redirected_to,
)
from tests.e2e.pages import AccountPage, LoginPage, SignupPage, VirtualAuthenticator, wait_until
from tests.support.server import free_port, running_process

pytestmark = pytest.mark.e2e

EXAMPLE_APP = Path(__file__).resolve().parents[2] / "examples" / "oidc_client" / "app.py"
CLIENT_NAME = "Example app"
EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
# What the example app asks for ("openid email profile"), as the consent page words it.
ASKED_SCOPES = {
    "openid": "Know who you are",
    "email": "See your email address",
    "profile": "See your name",
}


@dataclass(frozen=True)
class ExampleApp:
    base_url: str
    client_id: str
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def running_example(
    server: KeyturnServer, log_dir: Path, *, first_party: bool, client_args: tuple[str, ...] = ()
) -> Iterator[ExampleApp]:
    """Register the example app as a client (CLI, with `client_args`) and run it; it is stopped
    whatever happens."""
    port = free_port()
    base_url = f"http://localhost:{port}"
    args = [
        "clients",
        "create",
        "--name",
        CLIENT_NAME,
        "--redirect-uri",
        f"{base_url}/callback",
        "--post-logout-redirect-uri",
        f"{base_url}/",
        "--json",
        *client_args,
    ]
    registered = json.loads(server.cli(*args, *(["--first-party"] if first_party else [])))
    env = {
        **os.environ,
        "KEYTURN_ISSUER": server.base_url,
        "EXAMPLE_PORT": str(port),
        "EXAMPLE_CLIENT_ID": registered["client_id"],
        "EXAMPLE_CLIENT_SECRET": registered["client_secret"],
        "PYTHONUNBUFFERED": "1",
    }
    log_path = log_dir / f"example-app-{port}.log"
    with running_process(
        [sys.executable, str(EXAMPLE_APP)], env=env, base_url=base_url, health_path="/", log_path=log_path
    ):
        yield ExampleApp(base_url=base_url, client_id=registered["client_id"], log_path=log_path)


@contextmanager
def example_fixture(
    server: KeyturnServer, tmp_path: Path, request: pytest.FixtureRequest, *, first_party: bool
) -> Iterator[ExampleApp]:
    with running_example(server, tmp_path, first_party=first_party) as app:
        yield app
        if request.node.stash.get(TEST_FAILED, False):
            print(f"--- example app log (tail) ---\n{app.log_tail()}")


@pytest.fixture
def example(server: KeyturnServer, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ExampleApp]:
    """The example app as a first-party client (no consent page)."""
    with example_fixture(server, tmp_path, request, first_party=True) as app:
        yield app


@pytest.fixture
def third_party_example(
    server: KeyturnServer, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[ExampleApp]:
    """The example app registered without --first-party: Keyturn asks the user's consent."""
    with example_fixture(server, tmp_path, request, first_party=False) as app:
        yield app


# --- helpers ---------------------------------------------------------------------------


def session_row(server: KeyturnServer) -> dict[str, Any]:
    [row] = server.rows(sessions)
    return row


def session_auth_time(row: dict[str, Any]) -> int:
    return max(int(datetime.fromisoformat(event["at"]).timestamp()) for event in row["authenticated"])


def expect_claims(
    claims: dict[str, Any], server: KeyturnServer, app: ExampleApp, *, amr: list[str]
) -> dict[str, Any]:
    """The ID token names this Keyturn, this client, this user and their live Keyturn session."""
    [user] = server.rows(users)
    row = session_row(server)
    assert claims["iss"] == server.base_url
    assert claims["aud"] == app.client_id
    assert claims["sub"] == user["id"]
    assert claims["email"] == EMAIL
    assert claims["amr"] == amr
    assert claims["sid"] == row["id"]
    assert claims["auth_time"] == session_auth_time(row)
    assert claims["auth_time"] <= claims["iat"] <= time.time() + 1
    assert claims["nonce"]  # Authlib sent one and checked it came back
    return claims


def sign_up_with_passkey(page: Page, server: KeyturnServer) -> AccountPage:
    account = SignupPage(page, server.base_url).open().sign_up_with_passkey(EMAIL)
    expect(account.email).to_have_text(EMAIL)
    return account


def sign_out_quietly(account: AccountPage, authenticator: VirtualAuthenticator) -> LoginPage:
    """Sign out without /login's autofill request signing straight back in (see test_passkeys)."""
    authenticator.set_presence(False)
    return account.sign_out()


def wait_for_next_second(page: Page, after: int) -> None:
    """auth_time has whole seconds: let the clock pass `after` so a new sign-in is visibly later."""
    remaining = after + 1 - time.time()
    if remaining > 0:
        page.wait_for_timeout(remaining * 1000 + 50)


# --- tests -----------------------------------------------------------------------------


def test_sign_in_with_a_passkey(
    page: Page, server: KeyturnServer, example: ExampleApp, virtual_authenticator: VirtualAuthenticator
) -> None:
    sign_out_quietly(sign_up_with_passkey(page, server), virtual_authenticator)
    app = ExampleAppPage(page, example.base_url).open()  # leaves /login: no autofill request pending
    expect(app.sign_in_link).to_be_visible()
    navigations = Navigations.record(page)

    virtual_authenticator.set_presence(True)  # the person picks their passkey from autofill
    app.sign_in()

    claims = expect_claims(app.expect_signed_in(EMAIL), server, example, amr=["phr"])
    # Keyturn's sign-in page was shown, and nothing else of Keyturn's.
    assert navigations.pages_shown(server.base_url) == ["/login"]
    authorize, login, resume = navigations.paths(server.base_url)
    assert (authorize, login) == ("/oauth2/authorize", "/login")
    assert resume.startswith("/oauth2/authorize/resume/")
    assert navigations.paths(example.base_url) == ["/login", "/callback", "/"]
    assert "acr" not in claims  # not asked for (acr_values)
    assert server.count(authorization_requests) == 0  # the parked request is used up
    [grant] = server.rows(oauth_grants)
    assert (grant["client_id"], grant["session_id"]) == (example.client_id, claims["sid"])


def test_sign_in_with_a_password(
    page: Page, server: KeyturnServer, example: ExampleApp, virtual_authenticator: VirtualAuthenticator
) -> None:
    server.offer_no_passkeys()
    virtual_authenticator.set_presence(False)  # no passkeys here; the prompt would go unanswered
    SignupPage(page, server.base_url).open().sign_up_with_password(EMAIL, PASSWORD).sign_out()
    app = ExampleAppPage(page, example.base_url).open()

    app.sign_in()
    login = LoginPage(page, server.base_url)
    login.expect_here()
    login.continue_with(EMAIL)
    expect(login.password).to_be_visible()
    login.password.fill(PASSWORD)
    login.continue_button.click()

    expect_claims(app.expect_signed_in(EMAIL), server, example, amr=["pwd"])


def test_an_existing_keyturn_session_signs_in_without_a_keyturn_page(
    page: Page, server: KeyturnServer, example: ExampleApp, virtual_authenticator: VirtualAuthenticator
) -> None:
    sign_up_with_passkey(page, server)
    before = session_row(server)
    virtual_authenticator.set_presence(False)  # any passkey prompt now would hang, not pass
    app = ExampleAppPage(page, example.base_url).open()
    navigations = Navigations.record(page)

    app.sign_in()

    claims = expect_claims(app.expect_signed_in(EMAIL), server, example, amr=["phr"])
    assert navigations.paths(server.base_url) == ["/oauth2/authorize"]  # one redirect straight back
    assert navigations.pages_shown(server.base_url) == []
    assert claims["sid"] == before["id"]  # the same Keyturn session, not a new sign-in
    assert claims["auth_time"] == session_auth_time(before)


# Regression (fixed earlier): Chrome applies the CSP's form-action to the redirects that follow
# a form submission (src/keyturn/http/security.py), so the consent page's policy must let the
# 303 from POST /oauth2/consent/{id} reach the client's redirect_uri (another origin): Allow
# and Deny both get back to the app.
def test_third_party_app_asks_for_consent_once(
    page: Page,
    server: KeyturnServer,
    third_party_example: ExampleApp,
    virtual_authenticator: VirtualAuthenticator,
) -> None:
    console = ConsoleErrors.record(page)
    sign_up_with_passkey(page, server)
    app = ExampleAppPage(page, third_party_example.base_url).open()

    app.sign_in()

    consent = ConsentPage(page, server.base_url)
    consent.expect_here()
    expect(page).to_have_title(f"Allow {CLIENT_NAME}? · Keyturn")
    expect(consent.heading).to_have_text(f"Allow {CLIENT_NAME}?")
    expect(consent.lede).to_contain_text(f"Signed in as {EMAIL}")
    expect(consent.scope_items).to_have_count(len(ASKED_SCOPES))
    assert consent.scopes() == ASKED_SCOPES
    assert server.count(consents) == 0

    consent.allow_button.click()

    expect_redirected_to(page, app.home_url, console)
    claims = expect_claims(app.expect_signed_in(EMAIL), server, third_party_example, amr=["phr"])
    [granted] = server.rows(consents)
    assert granted["client_id"] == third_party_example.client_id
    assert set(granted["scope"]) == set(ASKED_SCOPES)

    # Again: the consent is remembered, so Keyturn sends the browser straight back.
    navigations = Navigations.record(page)
    app.sign_in_again()
    again = app.expect_signed_in(EMAIL)
    assert navigations.paths(server.base_url) == ["/oauth2/authorize"]
    assert again["sid"] == claims["sid"]
    assert again["nonce"] != claims["nonce"]  # a new ID token, not the old page
    assert server.count(consents) == 1


def test_denying_consent_returns_access_denied(
    page: Page,
    server: KeyturnServer,
    third_party_example: ExampleApp,
    virtual_authenticator: VirtualAuthenticator,
) -> None:
    console = ConsoleErrors.record(page)
    sign_up_with_passkey(page, server)
    app = ExampleAppPage(page, third_party_example.base_url).open()
    app.sign_in()
    consent = ConsentPage(page, server.base_url)
    consent.expect_here()
    navigations = Navigations.record(page)

    consent.deny_button.click()

    callback_url = f"{third_party_example.base_url}/callback?"
    expect_redirected_to(page, re.compile("^" + re.escape(callback_url)), console)
    expect(app.error).to_have_text("access_denied")
    assert navigations.seen[-1][1] == 400  # the example app's callback says it failed
    query = dict(parse_qsl(urlsplit(page.url).query))
    assert query["error"] == "access_denied"
    assert query["iss"] == server.base_url  # RFC 9207
    assert query["state"]  # the app's own state, handed back
    assert server.count(consents) == 0
    assert server.count(oauth_grants) == 0
    assert server.count(authorization_requests) == 0
    app.open()
    app.expect_signed_out()


def test_prompt_login_asks_to_sign_in_again(
    page: Page, server: KeyturnServer, example: ExampleApp, virtual_authenticator: VirtualAuthenticator
) -> None:
    sign_up_with_passkey(page, server)
    app = ExampleAppPage(page, example.base_url).open()
    app.sign_in()
    first = expect_claims(app.expect_signed_in(EMAIL), server, example, amr=["phr"])
    wait_for_next_second(page, first["auth_time"])
    virtual_authenticator.set_presence(False)  # so the login page waits for the person

    app.sign_in_again(prompt="login")

    login = LoginPage(page, server.base_url)
    login.expect_here()  # despite the live session
    expect(login.email).to_be_visible()
    page.wait_for_timeout(300)
    login.expect_here()  # nothing signed in behind the person's back
    virtual_authenticator.set_presence(True)  # they pick their passkey from autofill
    page.reload()

    second = expect_claims(app.expect_signed_in(EMAIL), server, example, amr=["phr"])
    assert second["auth_time"] > first["auth_time"]
    assert second["sid"] != first["sid"]  # signing in again replaced the session
    assert server.count(sessions) == 1


def test_sign_out_from_the_app_ends_the_keyturn_session(
    page: Page,
    context: BrowserContext,
    server: KeyturnServer,
    example: ExampleApp,
    virtual_authenticator: VirtualAuthenticator,
) -> None:
    sign_up_with_passkey(page, server)
    app = ExampleAppPage(page, example.base_url).open()
    app.sign_in()
    claims = expect_claims(app.expect_signed_in(EMAIL), server, example, amr=["phr"])
    virtual_authenticator.set_presence(False)  # /login's autofill must not sign back in below
    navigations = Navigations.record(page)

    app.sign_out_link.click()

    app.expect_signed_out()
    # The id_token_hint named the session, so Keyturn ended it without asking "Sign out?".
    assert navigations.paths(server.base_url) == ["/oauth2/logout"]
    assert navigations.pages_shown(server.base_url) == []
    assert server.count(sessions) == 0
    assert "keyturn_session" not in {cookie["name"] for cookie in context.cookies(server.base_url)}
    [grant] = server.rows(oauth_grants)
    assert grant["session_id"] == claims["sid"]

    page.goto(f"{server.base_url}/account")
    expect(page).to_have_url(f"{server.base_url}/login?return_to=/account")
    expect(LoginPage(page, server.base_url).email).to_be_visible()


# Regression (fixed earlier), the same CSP form-action rule as for consent: the "Sign out?" form
# posts to /oauth2/logout, which ends the session and answers 303 to the app's
# post_logout_redirect_uri (another origin); Chrome must follow that redirect back to the app.
def test_sign_out_from_the_app_after_signing_in_to_keyturn_again_asks_first(
    page: Page,
    context: BrowserContext,
    server: KeyturnServer,
    example: ExampleApp,
    virtual_authenticator: VirtualAuthenticator,
) -> None:
    console = ConsoleErrors.record(page)
    account = sign_up_with_passkey(page, server)
    app = ExampleAppPage(page, example.base_url).open()
    app.sign_in()
    claims = expect_claims(app.expect_signed_in(EMAIL), server, example, amr=["phr"])
    # Sign out of Keyturn and straight back in (/login's autofill answers): a new session,
    # so the ID token the app holds names a session that is over.
    account.open()
    account.sign_out_button.click()
    wait_until(
        lambda: [row["id"] for row in server.rows(sessions)] not in ([], [claims["sid"]]),
        page,
        "the autofill request did not sign back in to Keyturn",
    )
    account.expect_here()
    expect(account.email).to_have_text(EMAIL)
    virtual_authenticator.set_presence(False)
    app.open()

    app.sign_out_link.click()

    logout = LogoutPage(page, server.base_url)
    logout.expect_here()
    expect(logout.heading).to_have_text("Sign out?")
    expect(page.get_by_text(f"You are signed in as {EMAIL}.")).to_be_visible()
    assert server.count(sessions) == 1  # nothing ended without asking
    logout.sign_out_button.click()

    expect_redirected_to(page, app.home_url, console)
    app.expect_signed_out()
    assert server.count(sessions) == 0
    assert "keyturn_session" not in {cookie["name"] for cookie in context.cookies(server.base_url)}
