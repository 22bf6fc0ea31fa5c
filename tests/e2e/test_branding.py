"""A branded Keyturn in Chromium: the colours and the logo as the browser renders them, and
the passkey ceremony on pages whose templates the operator overrode.

This module runs its own `keyturn serve`, started with an overrides folder and an assets
folder (process settings: `pages.templates_dir`, `pages.assets_dir`); the brand itself is
set with `keyturn config patch`, as an operator sets it. The screenshot is the README's
docs/branding.png (written when KEYTURN_WRITE_DOCS_SCREENSHOTS=1, else kept in tmp).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from keyturn.http.templates import TEMPLATES_DIR
from keyturn.store.sql.tables import passkeys, users
from tests.conftest import _reset
from tests.e2e.conftest import KeyturnServer, run_async, seeded_rows
from tests.e2e.pages import LoginPage, SignupPage, VirtualAuthenticator
from tests.support.server import free_port, running_server

pytestmark = pytest.mark.e2e
EMAIL = "ada@example.com"
DOCS_SCREENSHOT = Path(__file__).parents[2] / "docs" / "branding.png"
LOGO = (  # a mark, 40 by 32: the product name is written beside it
    '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="32" viewBox="0 0 40 32">'
    '<rect width="32" height="32" rx="8" fill="#00aa77"/><circle cx="16" cy="16" r="7" fill="#ffffff"/></svg>'
)
BANNER = '<p id="acme-banner" class="lede">Acme staff and partners sign in here.</p>'


def overridden(name: str) -> str:
    """The built-in template as an operator would customise it: a copy with a banner added
    above the page's content, the ceremony's elements left as they are."""
    built_in = (TEMPLATES_DIR / name).read_text()
    marker = "{% block content %}"
    assert marker in built_in
    return built_in.replace(marker, marker + BANNER, 1)


@pytest.fixture(scope="module")
def keyturn_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyturnServer]:
    """Overrides the package's server for this module: one started with the operator's folders."""
    run_async(lambda: _reset(database_url))
    data_dir = tmp_path_factory.mktemp("keyturn-branding")
    templates = data_dir / "page-templates"
    assets = data_dir / "assets"
    templates.mkdir()
    assets.mkdir()
    for name in ("login.html", "signup.html"):
        (templates / name).write_text(overridden(name))
    (assets / "acme.svg").write_text(LOGO)
    port = free_port()
    extra = {
        "KEYTURN_PUBLIC_URL": f"http://localhost:{port}",
        "KEYTURN_PAGES__TEMPLATES_DIR": str(templates),
        "KEYTURN_PAGES__ASSETS_DIR": str(assets),
    }
    with running_server(port=port, data_dir=data_dir, database_url=database_url, extra_env=extra) as running:
        yield KeyturnServer(
            base_url=running.base_url,
            database_url=database_url,
            env=running.env,
            log_path=running.log_path,
            seeded=run_async(lambda: seeded_rows(database_url)),
        )


def brand(server: KeyturnServer) -> None:
    server.cli(
        "config",
        "patch",
        "--replace",
        "/branding/product_name=Acme",
        "--replace",
        "/branding/primary_color=#0a7",
        "--replace",
        "/branding/background_color=#0b1f33",
        "--replace",
        "/branding/logo=/assets/acme.svg",
        "--replace",
        "/branding/favicon=/assets/acme.svg",
    )


def computed(page: Page, selector: str, prop: str) -> str:
    return str(page.eval_on_selector(selector, f"e => getComputedStyle(e).{prop}"))


def test_a_branded_page_shows_the_colours_and_the_logo(
    page: Page, server: KeyturnServer, tmp_path: Path
) -> None:
    brand(server)
    page.set_viewport_size({"width": 1024, "height": 720})
    page.emulate_media(color_scheme="light")
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)

    signup = SignupPage(page, server.base_url).open()
    expect(signup.create_passkey_button).to_be_visible()

    expect(page).to_have_title("Create your account · Acme")
    expect(page.locator(".brand-name")).to_have_text("Acme")
    logo = page.locator("#kt-logo")
    expect(logo).to_be_visible()
    assert logo.evaluate("img => img.complete && img.naturalWidth") == 40  # it loaded, it is ours
    assert computed(page, "body", "backgroundColor") == "rgb(11, 31, 51)"
    assert computed(page, ".brand", "color") == "rgb(255, 255, 255)"  # readable on the dark background
    assert computed(page, "#create-passkey", "backgroundColor") == "rgb(0, 170, 119)"
    assert computed(page, "#create-passkey", "color") == "rgb(20, 23, 31)"  # dark ink on the green
    expect(page.locator("#acme-banner")).to_be_visible()
    assert violations == []

    writes_docs = os.environ.get("KEYTURN_WRITE_DOCS_SCREENSHOTS") == "1"
    target = DOCS_SCREENSHOT if writes_docs else tmp_path / "branding.png"
    page.screenshot(path=target, full_page=True)
    assert target.stat().st_size > 5_000


def test_the_passkey_ceremony_works_on_overridden_branded_pages(
    page: Page, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    brand(server)
    server.set_challenge_ui("button")

    signup = SignupPage(page, server.base_url).open()
    expect(page.locator("#acme-banner")).to_be_visible()
    account = signup.sign_up_with_passkey(EMAIL)
    expect(account.passkeys).to_have_count(1)
    [credential] = virtual_authenticator.credentials()
    assert credential.user_name == EMAIL

    login = account.sign_out()
    assert isinstance(login, LoginPage)
    expect(page.locator("#acme-banner")).to_be_visible()
    assert computed(page, "#continue", "backgroundColor") == "rgb(0, 170, 119)"
    account = login.sign_in_with_passkey_button()

    expect(account.email).to_have_text(EMAIL)
    assert account.last_used() != ["Never"]
    [user] = server.rows(users)
    [stored] = server.rows(passkeys)
    assert bytes(user["user_handle"]) == credential.user_handle
    assert stored["last_used_at"] is not None
