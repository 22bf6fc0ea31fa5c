"""Translated hosted pages in a real browser, whose passkey ceremonies still work: German by
`ui_locales` (carried from page to page), Japanese by the browser's own Accept-Language."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from keyturn.store.sql.tables import passkeys, sessions, users
from tests.e2e.conftest import KeyturnServer
from tests.e2e.pages import PLATFORM_AUTHENTICATOR, VirtualAuthenticator

pytestmark = pytest.mark.e2e
EMAIL = "ada@example.com"


def expect_account(page: Page, server: KeyturnServer, heading: str) -> None:
    expect(page).to_have_url(re.compile("^" + re.escape(f"{server.base_url}/account") + r"(\?.*)?$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    expect(page.locator("#account-email")).to_have_text(EMAIL)


def test_ui_locales_de_signs_up_and_in_with_a_passkey(
    page: Page, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    server.set_challenge_ui("button")  # the button ceremony, with no autofill request waiting
    page.goto(f"{server.base_url}/signup?ui_locales=de")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", level=1)).to_have_text("Konto erstellen")
    page.get_by_label("E-Mail-Adresse", exact=True).fill(EMAIL)
    page.get_by_role("button", name="Passkey erstellen").click()
    expect_account(page, server, "Ihr Konto")
    expect(page.locator("li.passkey-item .badge")).to_have_text("Gerätegebunden")
    expect(page.locator("li.passkey-item dl.meta")).to_contain_text("Zuletzt verwendet")

    page.get_by_role("button", name="Abmelden", exact=True).click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator("html")).to_have_attribute("lang", "de")  # carried without the parameter
    page.locator("#continue").click()  # no email: the script's own text, in German
    expect(page.locator("#kt-error")).to_have_text("Geben Sie Ihre E-Mail-Adresse ein.")
    page.get_by_role("button", name="Mit Passkey anmelden").click()
    expect_account(page, server, "Ihr Konto")

    [credential] = virtual_authenticator.credentials()
    [user] = server.rows(users)
    [stored] = server.rows(passkeys)
    assert bytes(user["user_handle"]) == credential.user_handle
    assert bytes(stored["credential_id"]) == credential.credential_id
    assert stored["last_used_at"] is not None
    assert server.count(sessions) == 1


@pytest.fixture
def japanese(browser: Browser, server: KeyturnServer) -> Iterator[BrowserContext]:
    """A browser whose language is Japanese: Chromium sends Accept-Language: ja-JP."""
    context = browser.new_context(base_url=server.base_url, locale="ja-JP")
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        context.close()


def test_accept_language_ja_signs_up_and_in_with_a_passkey(
    japanese: BrowserContext, server: KeyturnServer
) -> None:
    page = japanese.new_page()
    authenticator = VirtualAuthenticator.attach(japanese, page, PLATFORM_AUTHENTICATOR)
    server.set_challenge_ui("button")
    page.goto(f"{server.base_url}/signup")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", level=1)).to_have_text("アカウントを作成")
    page.get_by_label("メールアドレス", exact=True).fill(EMAIL)
    page.get_by_role("button", name="パスキーを作成").click()
    expect_account(page, server, "アカウント")
    created = page.locator("li.session-item time").first
    expect(created).to_have_text(re.compile(r"^\d{4}/\d{2}/\d{2} \d{1,2}:\d{2} UTC$"))

    page.get_by_role("button", name="ログアウト", exact=True).click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("ログイン")
    page.get_by_role("button", name="パスキーでログイン").click()
    expect_account(page, server, "アカウント")

    [credential] = authenticator.credentials()
    [user] = server.rows(users)
    assert bytes(user["user_handle"]) == credential.user_handle
    assert server.count(sessions) == 1
