"""What operators change on a running `keyturn serve` takes effect on the hosted pages at once:
a post-login hook's denial, the connection settings (challenge UI, passwords on or off),
and a passkey revoked through the management API.

The hook is a real HTTP server on 127.0.0.1 (tests/hooks/conftest.py), registered with
`keyturn hooks add` as an operator would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from playwright.sync_api import BrowserContext, Page, Request, expect

from keyturn.hooks.signing import verify
from keyturn.store.sql.tables import events, passkeys, sessions
from tests.e2e.conftest import KeyturnServer
from tests.e2e.pages import LoginPage, SignupPage, VirtualAuthenticator, wait_until
from tests.hooks.conftest import Answer, HookServer, Received, running_hook_server
from tests.support.oidc import b64url

pytestmark = pytest.mark.e2e

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
NO_PASSWORDS = "Passwords are turned off for your account. Sign in with your passkey."
REVOKED = "This passkey is not registered here any more. Choose another or sign in another way."

# Wraps the Signal API before the page's script runs, and records what the page signals.
SIGNAL_RECORDER = """
window.__ktSignals = [];
window.__ktSignalSupported = typeof PublicKeyCredential !== "undefined"
  && typeof PublicKeyCredential.signalUnknownCredential === "function";
if (window.__ktSignalSupported) {
  const original = PublicKeyCredential.signalUnknownCredential.bind(PublicKeyCredential);
  PublicKeyCredential.signalUnknownCredential = (options) => {
    window.__ktSignals.push(options);
    return original(options);
  };
}
"""


@pytest.fixture
def hooks() -> Iterator[HookServer]:
    with running_hook_server() as hook_server:
        yield hook_server


def deny_passwords(request: Received) -> Answer:
    methods = {method["name"] for method in request.event["authentication"]["methods"]}
    return Answer.deny(NO_PASSWORDS) if "pwd" in methods else Answer.allow()


def add_hook(server: KeyturnServer, url: str) -> dict[str, Any]:
    added: dict[str, Any] = json.loads(server.cli("hooks", "add", "--url", url, "--timeout", "3"))
    return added


def signed_out(context: BrowserContext, page: Page, server: KeyturnServer) -> None:
    assert "keyturn_session" not in {cookie["name"] for cookie in context.cookies()}
    assert server.count(sessions) == 0
    page.goto(f"{server.base_url}/account")
    expect(page).to_have_url(f"{server.base_url}/login?return_to=/account")


# --- a post-login hook ---------------------------------------------------------------------------


def test_a_hook_denying_password_sign_ins_shows_its_message_and_the_user_stays_signed_out(
    page: Page,
    context: BrowserContext,
    server: KeyturnServer,
    hooks: HookServer,
    virtual_authenticator: VirtualAuthenticator,
) -> None:
    # After Continue the page also asks for a passkey (a stand-in one for a password-only
    # account); this device has none and the person ignores the prompt, as in test_password.
    virtual_authenticator.set_presence(False)
    login = SignupPage(page, server.base_url).open().sign_up_with_password(EMAIL, PASSWORD).sign_out()
    hook = add_hook(server, hooks.answer("/no-passwords", deny_passwords))

    login.continue_with(EMAIL)
    expect(login.password).to_be_visible()
    expect(login.continue_button).to_have_text("Sign in")
    login.password.fill(PASSWORD)
    submit = login_submit(page)
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith(submit)) as sent:
        login.continue_button.click()

    assert sent.value.status == 403
    expect(login.error).to_be_visible()
    expect(login.error).to_have_text(NO_PASSWORDS)
    login.expect_here()
    [call] = hooks.requests_to("/no-passwords")
    assert call.event["user"]["email"] == EMAIL
    assert call.event["client"] is None
    assert [m["name"] for m in call.event["authentication"]["methods"]] == ["pwd"]
    assert verify(hook["secret"].encode(), call.body, call.signature, now=int(time.time()))
    # Events are written before the response is sent: the refusal's event is there already.
    [logged] = [row for row in server.rows(events) if row["type"] == "hook_called"]
    assert logged["details"]["hook_id"] == hook["id"]
    assert logged["details"]["outcome"] == "deny"
    signed_out(context, page, server)


def login_submit(page: Page) -> str:
    """The path the login page posts its sign-in to (/login/flows/<flow id>)."""
    flow_id = json.loads(page.locator("#kt-page").text_content() or "{}")["flow_id"]
    return f"/login/flows/{flow_id}"


def test_the_same_hook_lets_a_passkey_sign_up_through(
    page: Page, server: KeyturnServer, hooks: HookServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    add_hook(server, hooks.answer("/no-passwords", deny_passwords))

    account = SignupPage(page, server.base_url).open().sign_up_with_passkey(EMAIL)

    expect(account.email).to_have_text(EMAIL)
    [call] = hooks.requests_to("/no-passwords")  # sign-up is a sign-in too
    assert [m["name"] for m in call.event["authentication"]["methods"]] == ["passkey"]
    assert server.count(sessions) == 1


# --- connection settings ---------------------------------------------------------------------------


def options_requests(page: Page) -> list[str]:
    """URLs of the passkey options calls the page makes from now on."""
    seen: list[str] = []

    def note(request: Request) -> None:
        if request.url.endswith("/passkey/options"):
            seen.append(request.url)

    page.on("request", note)
    return seen


def test_challenge_ui_button_removes_autofill_from_the_login_page(
    page: Page, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    virtual_authenticator.set_presence(False)  # nobody picks a passkey from autofill
    calls = options_requests(page)
    login = LoginPage(page, server.base_url).open()
    expect(login.email).to_have_attribute("autocomplete", "username webauthn")
    wait_until(lambda: len(calls) == 1, page, "the default login page did not start autofill")

    server.cli("config", "patch", "--replace", "/passkey_options/challenge_ui=button")
    calls.clear()
    login.open()

    expect(login.email).to_have_attribute("autocomplete", "username")
    expect(login.passkey_button).to_be_visible()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)
    assert calls == [], "the page started a passkey request on load in button mode"
    assert json.loads(page.locator("#kt-page").text_content() or "{}")["autofill"] is False


def test_turning_passwords_off_hides_use_a_password_instead_on_signup(
    page: Page, server: KeyturnServer
) -> None:
    signup = SignupPage(page, server.base_url).open()
    expect(signup.use_password_button).to_be_visible()

    server.cli("config", "patch", "--replace", "/authentication_methods/password/enabled=false")
    signup.open()

    expect(signup.create_passkey_button).to_be_visible()
    expect(signup.use_password_button).to_have_count(0)
    expect(signup.password).to_be_hidden()
    expect(page.get_by_text("Use a password instead")).to_have_count(0)


# --- a passkey revoked through the management API ---------------------------------------------------


def management_token(server: KeyturnServer) -> str:
    created = json.loads(
        server.cli(
            "clients",
            "create",
            "--name",
            "ops",
            "--grant",
            "client_credentials",
            "--scope",
            "delete:authentication_methods",
            "--scope",
            "read:authentication_methods",
            "--scope",
            "read:users",
            "--json",
        )
    )
    response = httpx2.post(
        f"{server.base_url}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(created["client_id"], created["client_secret"]),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def test_a_passkey_revoked_through_the_api_fails_the_next_sign_in_clearly(
    page: Page,
    context: BrowserContext,
    server: KeyturnServer,
    virtual_authenticator: VirtualAuthenticator,
) -> None:
    page.add_init_script(SIGNAL_RECORDER)
    server.set_challenge_ui("button")  # no autofill request racing the button
    login = SignupPage(page, server.base_url).open().sign_up_with_passkey(EMAIL).sign_out()
    [credential] = virtual_authenticator.credentials()

    api = f"{server.base_url}/api/v2"
    headers = {"authorization": f"Bearer {management_token(server)}"}
    found = httpx2.get(f"{api}/users-by-email", params={"email": EMAIL}, headers=headers, timeout=10)
    assert found.status_code == 200, found.text
    [user] = found.json()
    methods = httpx2.get(f"{api}/users/{user['user_id']}/authentication-methods", headers=headers, timeout=10)
    assert methods.status_code == 200, methods.text
    [passkey] = methods.json()
    assert passkey["type"] == "passkey"
    assert passkey["key_id"] == b64url(credential.credential_id)
    revoked = httpx2.delete(
        f"{api}/users/{user['user_id']}/authentication-methods/{passkey['id']}", headers=headers, timeout=10
    )
    assert revoked.status_code == 204, revoked.text
    assert server.count(passkeys) == 0

    submit = login_submit(page)
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith(submit)) as submitted:
        login.passkey_button.click()

    assert submitted.value.status == 400
    assert submitted.value.json()["error"] == "unknown_credential"
    expect(login.error).to_be_visible()
    expect(login.error).to_have_text(REVOKED)
    login.expect_here()
    if page.evaluate("window.__ktSignalSupported"):
        wait_until(lambda: bool(page.evaluate("window.__ktSignals.length")), page, "no signal was sent")
        assert page.evaluate("window.__ktSignals") == [
            {"rpId": "localhost", "credentialId": b64url(credential.credential_id)}
        ]
    signed_out(context, page, server)
