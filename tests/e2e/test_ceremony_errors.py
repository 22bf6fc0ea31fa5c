"""Ceremonies that go wrong must fail cleanly: a clear message, no session, nothing stored."""

from __future__ import annotations

import json
import re
import secrets

import pytest
from playwright.sync_api import BrowserContext, Page, Request, Route, expect

from keyturn.store.sql.tables import passkeys, sessions, users
from tests.e2e.conftest import KeyturnServer
from tests.e2e.pages import LoginPage, SignupPage, VirtualAuthenticator

pytestmark = pytest.mark.e2e

EMAIL = "ada@example.com"
EXPIRED_CHALLENGE = "This passkey request has expired or was already used. Please try again."


def swap_challenge(page: Page, pattern: str) -> list[str]:
    """Answer the page's options call with the server's options under another challenge."""
    forged: list[str] = []

    def handle(route: Route) -> None:
        response = route.fetch()
        options = response.json()
        sealed = options["challenge"]  # a forged one as long as the sealed challenge, but not sealed
        options["challenge"] = secrets.token_urlsafe(len(sealed))[: len(sealed)]
        assert options["challenge"] != sealed
        forged.append(options["challenge"])
        route.fulfill(response=response, body=json.dumps(options))

    page.route(pattern, handle)
    return forged


def no_session(context: BrowserContext, server: KeyturnServer) -> None:
    assert "keyturn_session" not in {cookie["name"] for cookie in context.cookies()}
    assert server.count(sessions) == 0


def test_sign_in_with_a_wrong_challenge_fails_cleanly(
    page: Page, context: BrowserContext, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    server.set_challenge_ui("button")  # no autofill request racing the button
    SignupPage(page, server.base_url).open().sign_up_with_passkey(EMAIL).sign_out()
    [before] = server.rows(passkeys)
    login = LoginPage(page, server.base_url)
    forged = swap_challenge(page, "**/login/flows/*/passkey/options")

    with page.expect_response(
        lambda r: r.request.method == "POST" and re.search(r"/login/flows/[^/]+$", r.url) is not None
    ) as submitted:
        login.passkey_button.click()

    assert len(forged) == 1
    assert submitted.value.status == 400
    assert submitted.value.json()["error"] == "challenge_invalid"
    expect(login.error).to_be_visible()
    expect(login.error).to_have_text(EXPIRED_CHALLENGE)
    login.expect_here()
    no_session(context, server)
    [after] = server.rows(passkeys)
    assert after["sign_count"] == before["sign_count"]
    assert after["last_used_at"] is None
    page.goto(f"{server.base_url}/account")
    expect(page).to_have_url(f"{server.base_url}/login?return_to=/account")


def test_sign_up_with_a_wrong_challenge_fails_cleanly(
    page: Page, context: BrowserContext, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    signup = SignupPage(page, server.base_url).open()
    forged = swap_challenge(page, "**/signup/flows/*/passkey/options")
    signup.email.fill(EMAIL)

    with page.expect_response(
        lambda r: r.request.method == "POST" and re.search(r"/signup/flows/[^/]+$", r.url) is not None
    ) as submitted:
        signup.create_passkey_button.click()

    assert len(forged) == 1
    assert submitted.value.status == 400
    assert submitted.value.json()["error"] == "challenge_invalid"
    expect(signup.error).to_have_text(EXPIRED_CHALLENGE)
    signup.expect_here()
    no_session(context, server)
    assert server.count(users) == 0
    assert server.count(passkeys) == 0
    # The browser did make a credential; the server keeps nothing of it.
    assert len(virtual_authenticator.credentials()) == 1


def unsealed_flow_url(url: str) -> str:
    """The same call for a flow token Keyturn never sealed (as long as the page's own).

    The server cannot tell it from the page's flow once that has expired: a flow lives only
    in its sealed token, and one that does not open (expired, or never sealed) is answered
    410 flow_expired.
    """
    match = re.fullmatch(r"(.*/login/flows/)([^/?]+)(/passkey/options)", url)
    assert match, url
    prefix, sealed, rest = match.groups()
    forged = secrets.token_urlsafe(len(sealed))[: len(sealed)]
    assert forged != sealed
    return f"{prefix}{forged}{rest}"


@pytest.mark.parametrize("cause", ["flow-expired", "no-passkey-on-this-device"])
def test_a_failing_autofill_request_is_not_retried_in_a_loop(
    page: Page, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator, cause: str
) -> None:
    """An untouched /login page must not hammer the server when autofill cannot work.

    Regression (fixed earlier): keyturn.js startAutofill() does not restart itself in a loop.
    When the options call fails (here: the page's flow has expired, so the server answers
    410) or the browser rejects the conditional request at once (Chrome's virtual
    authenticator does when it holds no passkey for the site), the page sends at most a
    few POST .../passkey/options, not hundreds per second.
    """
    options_calls: list[Request] = []
    page.on("request", lambda r: options_calls.append(r) if r.url.endswith("/passkey/options") else None)
    expired_answers: list[tuple[int, str]] = []
    if cause == "flow-expired":
        virtual_authenticator.set_presence(False)

        def as_if_expired(route: Route) -> None:
            response = route.fetch(url=unsealed_flow_url(route.request.url))
            expired_answers.append((response.status, response.json().get("error", "")))
            route.fulfill(response=response)

        page.route("**/login/flows/*/passkey/options", as_if_expired, times=1)
    login = LoginPage(page, server.base_url).open()

    page.wait_for_timeout(2_000)

    if cause == "flow-expired":
        assert expired_answers == [(410, "flow_expired")]
        expect(login.error).to_have_text("This page has expired. Please start again.")
    calls = len(options_calls)
    assert calls <= 3, f"{calls} options requests in 2 s from one idle page"
