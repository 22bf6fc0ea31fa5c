"""Step-up and per-client passkey policy (issue 12) in a real browser, with the example relying
party (examples/oidc_client/app.py: Authlib runs the code flow and validates the ID token).

A session signed in with a password is asked for acr=phr: Keyturn shows "Confirm it's you" on
/login, the passkey adds a proof to the same session, and the app gets acr=phr. A client
registered for device-bound passkeys only refuses a synced one (a virtual authenticator with
backup eligibility) and offers to add a device-bound passkey; no session is made.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from keyturn.store.sql.tables import events, sessions, users
from tests.e2e.conftest import KeyturnServer
from tests.e2e.oidc_pages import ExampleAppPage, Navigations
from tests.e2e.pages import PLATFORM_AUTHENTICATOR, LoginPage, SignupPage, VirtualAuthenticator
from tests.e2e.test_oidc import EMAIL, PASSWORD, ExampleApp, running_example, session_auth_time

pytestmark = pytest.mark.e2e

# A platform authenticator whose passkeys are backed up (iCloud Keychain, Google Password Manager…).
SYNCED_PLATFORM: dict[str, object] = {
    **PLATFORM_AUTHENTICATOR,
    "defaultBackupEligibility": True,
    "defaultBackupState": True,
}


@pytest.fixture
def example(server: KeyturnServer, tmp_path: Path) -> Iterator[ExampleApp]:
    with running_example(server, tmp_path, first_party=True) as app:
        yield app


@pytest.fixture
def bank(server: KeyturnServer, tmp_path: Path) -> Iterator[ExampleApp]:
    """The example app registered for device-bound passkeys only."""
    with running_example(
        server, tmp_path, first_party=True, client_args=("--passkey-types", "device_bound")
    ) as app:
        yield app


def test_a_password_session_steps_up_to_phr_with_a_passkey(
    page: Page, server: KeyturnServer, example: ExampleApp, virtual_authenticator: VirtualAuthenticator
) -> None:
    server.offer_no_passkeys()
    virtual_authenticator.set_presence(False)
    account = SignupPage(page, server.base_url).open().sign_up_with_password(EMAIL, PASSWORD)
    virtual_authenticator.set_presence(True)
    account.add_passkey()  # right after signing up: no re-authentication asked
    [before] = server.rows(sessions)
    assert [e["method"] for e in before["authenticated"]] == ["password"]
    app = ExampleAppPage(page, example.base_url).open()
    navigations = Navigations.record(page)

    page.goto(f"{example.base_url}/login?acr_values=phr")  # the app asks for a passkey sign-in

    claims = app.expect_signed_in(EMAIL)
    assert navigations.pages_shown(server.base_url) == ["/login"]  # the step-up page, nothing else
    assert claims["acr"] == "phr"
    assert claims["amr"] == ["pwd", "phr"]
    [after] = server.rows(sessions)
    assert after["id"] == before["id"] == claims["sid"]  # the same session, stepped up
    assert [e["method"] for e in after["authenticated"]] == ["password", "passkey"]
    assert claims["auth_time"] == session_auth_time(after) >= session_auth_time(before)


def test_the_step_up_page_says_what_the_app_asks(
    page: Page, server: KeyturnServer, example: ExampleApp, virtual_authenticator: VirtualAuthenticator
) -> None:
    server.offer_no_passkeys()
    virtual_authenticator.set_presence(False)  # the person has not picked a passkey yet
    SignupPage(page, server.base_url).open().sign_up_with_password(EMAIL, PASSWORD)

    page.goto(f"{example.base_url}/login?acr_values=phr")

    login = LoginPage(page, server.base_url)
    login.expect_here()
    expect(page.get_by_role("heading", name="Confirm it's you")).to_be_visible()
    expect(page.locator("#step-up-lede")).to_have_text(
        "Example app asks for a stronger sign-in. Use your passkey to continue."
    )
    expect(login.email).to_have_value(EMAIL)
    expect(page.get_by_role("link", name="Create an account")).to_have_count(0)


def test_a_device_bound_only_client_refuses_a_synced_passkey(
    context: BrowserContext, page: Page, server: KeyturnServer, bank: ExampleApp
) -> None:
    synced = VirtualAuthenticator.attach(context, page, SYNCED_PLATFORM)
    account = SignupPage(page, server.base_url).open().sign_up_with_passkey(EMAIL)
    synced.set_presence(False)  # sign out without autofill signing straight back in
    account.sign_out()
    [user] = server.rows(users)
    app = ExampleAppPage(page, bank.base_url).open()

    synced.set_presence(True)  # the person picks their (synced) passkey
    app.sign_in()

    login = LoginPage(page, server.base_url)
    login.expect_here()
    expect(login.error).to_contain_text("Only passkeys kept on one device are accepted here")
    offer = page.locator("#add-device-bound")
    expect(offer).to_be_visible()
    expect(page.get_by_role("link", name="Add a device-bound passkey")).to_have_attribute(
        "href", "/account#add-passkey"
    )
    assert server.rows(sessions) == []  # no session
    refused = [e for e in server.rows(events) if e["type"] == "f"]
    assert refused and refused[0]["user_id"] == user["id"]
    assert refused[0]["client_id"] == bank.client_id
    assert refused[0]["details"]["error"] == "synced_passkey_not_allowed"
    assert "client policy" in refused[0]["details"]["reason"]
