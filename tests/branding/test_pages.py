"""The brand on the hosted pages and in the emails, through the app as a browser meets it.

Settings are changed as `keyturn config patch` changes them; emails are read from a real
SMTP server on loopback (tests/support/smtp.py).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from keyturn.app import create_app
from keyturn.clock import FrozenClock
from keyturn.context import Context
from keyturn.domain.branding import Branding
from keyturn.errors import ConfigError
from keyturn.http.security import CONTENT_SECURITY_POLICY
from keyturn.http.templates import check_overrides
from keyturn.settings import PagesSettings, Settings, SettingsError
from tests.conftest import BASE_URL
from tests.support import store
from tests.support.smtp import SmtpServer

LOGO = "https://img.example.com/acme/logo.svg"
_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


async def stored_branding(ctx: Context) -> Branding:
    """The branding as the database holds it now (not this process's cached copy)."""
    stored = await (await ctx.read()).load_tenant()
    assert stored is not None
    return stored.branding


def directives(csp: str) -> dict[str, str]:
    return dict(part.split(" ", 1) for part in csp.split("; "))


@pytest.fixture
def assets(tmp_path: Path) -> Path:
    folder = tmp_path / "assets"
    folder.mkdir()
    (folder / "acme.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>')
    return folder


@pytest.fixture
def overrides(tmp_path: Path) -> Path:
    folder = tmp_path / "page-templates"
    folder.mkdir()
    return folder


@pytest.fixture
def settings(
    clean_database: str, tmp_path: Path, smtp: SmtpServer, assets: Path, overrides: Path
) -> Settings:
    return Settings(
        database_url=clean_database,
        data_dir=tmp_path,
        public_url=BASE_URL,
        email=smtp.email_settings(),
        pages=PagesSettings(assets_dir=assets, templates_dir=overrides),
    )


def test_unbranded_pages_keep_the_default_csp_and_look(client: TestClient) -> None:
    page = client.get("/login")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "/brand.css" not in page.text and 'id="kt-logo"' not in page.text
    assert '<span class="brand-name">Keyturn</span>' in page.text


def test_every_page_carries_the_brand_and_only_its_origins_widen_the_csp(client: TestClient) -> None:
    store.set_tenant(
        client,
        "/branding",
        {
            "product_name": "Acme",
            "logo": LOGO,
            "favicon": "/assets/acme.svg",
            "primary_color": "#0a7",
            "background_color": "navy",
            "stylesheet": "https://css.example.net/acme.css",
        },
    )
    # the sign-in and sign-up pages, a recovery page, a link's page and an error page
    for path in ("/login", "/signup", "/recovery", "/verify?token=nope", "/unblock?token=nope"):
        page = client.get(path, headers={"accept": "text/html"})
        assert page.text.count(f'src="{LOGO}"') == 1, path
        assert '<span class="brand-name">Acme</span>' in page.text, path
        assert "· Acme</title>" in page.text or "<title>Acme</title>" in page.text, path
        assert '<link rel="icon" href="/assets/acme.svg">' in page.text, path
        assert '<link rel="stylesheet" href="https://css.example.net/acme.css"' in page.text, path
        found = directives(page.headers["content-security-policy"])
        assert found["img-src"] == "'self' data: https://img.example.com", path
        assert found["style-src"] == "'self' https://css.example.net", path
        assert found["script-src"] == "'self'", path
        assert found["connect-src"] == "'self'", path

    [colours] = re.findall(r'href="(/brand\.css\?v=[0-9a-f]{12})"', client.get("/login").text)
    css = client.get(colours)
    assert css.headers["content-type"].startswith("text/css")
    assert (
        css.text
        == ":root{--accent:#00aa77;--accent-ink:#14171f;--focus:#00aa77;--bg:#000080;--bg-ink:#ffffff;}\n"
    )
    assert client.get("/assets/acme.svg").status_code == 200

    store.set_tenant(client, "/branding/primary_color", "#123456")
    assert colours not in client.get("/login").text  # a new colour is a new URL: no stale cache


def test_the_dashboard_keeps_keyturns_look(client: TestClient) -> None:
    store.set_tenant(client, "/branding", {"logo": LOGO, "primary_color": "#0a7"})
    dashboard = client.get("/admin/login", follow_redirects=True)
    assert LOGO not in dashboard.text and "/brand.css" not in dashboard.text


def test_a_bad_brand_value_changes_nothing_on_the_pages(client: TestClient) -> None:
    store.set_tenant(client, "/branding/primary_color", "#0a7")
    before = re.findall(r'href="/brand\.css[^"]*"', client.get("/login").text)
    with pytest.raises(ConfigError) as refused:
        store.set_tenant(client, "/branding/primary_color", "red;}body{display:none")
    assert "is not a CSS colour" in refused.value.description
    assert re.findall(r'href="/brand\.css[^"]*"', client.get("/login").text) == before
    assert len(before) == 1
    stored = store.in_context(client, stored_branding)
    assert stored.primary_color == "#00aa77"


def test_an_overridden_template_replaces_the_built_in_one_and_keeps_its_blocks(
    client: TestClient, overrides: Path
) -> None:
    # the folder is read when a page first needs a template, as the operator's files are
    (overrides / "_acme_welcome.html").write_text('<h1 id="acme-welcome">Hello from Acme</h1>')
    (overrides / "login.html").write_text(
        '{% extends "base.html" %}\n'
        "{% block title %}Welcome to {{ tenant.product_name }}{% endblock %}\n"
        '{% block content %}{% include "_acme_welcome.html" %}{{ super() }}{% endblock %}\n'
    )
    assert check_overrides(overrides) == []  # a partial of the operator's own is no typo
    store.set_tenant(client, "/branding/product_name", "Acme")
    page = client.get("/login")
    assert "<title>Welcome to Acme</title>" in page.text
    assert '<h1 id="acme-welcome">Hello from Acme</h1>' in page.text
    assert 'id="kt-page"' in page.text  # base.html's page data, for the script
    assert 'id="acme-welcome"' not in client.get("/signup").text  # the other pages are Keyturn's


def test_an_overrides_folder_with_a_typo_or_a_broken_template_stops_the_start(
    settings: Settings, clock: FrozenClock, overrides: Path
) -> None:
    (overrides / "loign.html").write_text("{% extends 'base.html' %}")
    with pytest.raises(SettingsError, match=r"loign\.html overrides no page"):
        create_app(settings, clock=clock)
    (overrides / "loign.html").unlink()
    (overrides / "signup.html").write_text("{% block content %}")
    with pytest.raises(SettingsError, match=r"signup\.html line 1"):
        create_app(settings, clock=clock)


def test_emails_carry_the_product_name_and_the_logo(client: TestClient, smtp: SmtpServer) -> None:
    store.set_tenant(
        client, "/branding", {"product_name": "Acme", "logo": "/assets/acme.svg", "primary_color": "#0a7"}
    )
    page = client.get("/recovery")
    hidden = {name: html.unescape(value) for name, value in _HIDDEN.findall(page.text)}
    assert client.post("/recovery", data={**hidden, "email": "nobody@example.com"}).status_code == 200

    [message] = smtp.inbox.wait_for_matching("About your Acme recovery request", to="nobody@example.com")
    assert message.message["From"] == "Acme <keyturn@localhost>"
    assert message.text.rstrip().splitlines()[-1] == f"Acme · {BASE_URL}"
    assert message.html is not None
    assert f'<img src="{BASE_URL}/assets/acme.svg" alt="Acme"' in message.html
    assert "border-top:4px solid #00aa77" in message.html
