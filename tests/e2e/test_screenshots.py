"""Screenshots of the three pages, for a person to look at (kept in pytest's tmp dir)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import KeyturnServer
from tests.e2e.pages import LoginPage, SignupPage, VirtualAuthenticator

pytestmark = pytest.mark.e2e


def test_screenshots_of_login_signup_and_account(
    page: Page, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator, tmp_path: Path
) -> None:
    page.set_viewport_size({"width": 1024, "height": 800})
    virtual_authenticator.set_presence(False)  # keep /login on screen (no autofill sign-in)
    shots: dict[str, Path] = {}

    login = LoginPage(page, server.base_url).open()
    expect(login.passkey_button).to_be_visible()
    shots["login"] = tmp_path / "login.png"
    page.screenshot(path=shots["login"], full_page=True)

    signup = SignupPage(page, server.base_url).open()
    expect(signup.create_passkey_button).to_be_visible()
    shots["signup"] = tmp_path / "signup.png"
    page.screenshot(path=shots["signup"], full_page=True)

    virtual_authenticator.set_presence(True)
    account = signup.sign_up_with_passkey("ada@example.com")
    expect(account.passkeys).to_have_count(1)
    shots["account"] = tmp_path / "account.png"
    page.screenshot(path=shots["account"], full_page=True)

    for name, path in shots.items():
        assert path.stat().st_size > 5_000, f"{name} screenshot looks empty"
    print("screenshots:", *shots.values())
