"""The dashboard in Chromium: an operator enrolls from `keyturn admin create`'s link with a
security key, signs in with it, and turns passkeys on once the checklist passes; finds a user
and revokes their passkey (their next sign-in with it fails); filters logs by type:s and
watches a new sign-in arrive in the live tail; creates a client and sees its secret once; a
viewer can change nothing; an end user's session gets 403; every page passes axe-core."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from keyturn.store.sql.tables import operator_credentials, operator_sessions, passkeys, users
from tests.e2e.conftest import KeyturnServer
from tests.e2e.pages import PLATFORM_AUTHENTICATOR, LoginPage, SignupPage, VirtualAuthenticator

pytestmark = pytest.mark.e2e

# An operator's security key: device-bound, PIN-verified, discoverable.
SECURITY_KEY: dict[str, Any] = {
    "protocol": "ctap2",
    "transport": "usb",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}


def enrollment_link(server: KeyturnServer, email: str, role: str = "owner") -> str:
    output = server.cli("admin", "create", "--email", email, "--role", role)
    links: list[str] = re.findall(r"^http\S+/admin/enroll\?token=\S+$", output, re.M)
    assert len(links) == 1, output
    return links[0]


def enroll_and_sign_in(page: Page, server: KeyturnServer, email: str, role: str = "owner") -> None:
    link = enrollment_link(server, email, role)
    page.goto(link)
    expect(page.get_by_role("heading", name="Register your passkey")).to_be_visible()
    expect(page.get_by_text(f"You were invited as {email}")).to_be_visible()
    page.get_by_role("button", name="Register a passkey").click()
    expect(page).to_have_url(re.compile(r"/admin/login\?notice=enrolled$"))
    expect(page.get_by_role("status")).to_have_text("Your passkey is registered. Sign in with it.")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page).to_have_url(re.compile(r"/admin$"))
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_text(email)).to_be_visible()
    assert link.split("token=")[1] not in server.log_path.read_text()  # the access log has no query


def passkeys_switch(page: Page) -> Any:
    return page.get_by_role("switch", name="Passkeys")


def test_an_operator_enrolls_signs_in_and_enables_passkeys_once_the_checklist_passes(
    context: BrowserContext, page: Page, server: KeyturnServer
) -> None:
    key = VirtualAuthenticator.attach(context, page, SECURITY_KEY)
    rp = {"id": "example.com", "origins": ["https://example.com"], "display_name": "Keyturn"}
    server.cli(
        "config", "patch", "--replace", f"/rp={json.dumps(rp)}",
        "--replace", "/authentication_methods/passkey/enabled=false",
    )  # fmt: skip
    enroll_and_sign_in(page, server, "owner@example.com")
    [credential] = key.credentials()
    assert credential.rp_id == "localhost"  # the host serving /admin, whatever the tenant's rp.id
    assert server.count(operator_credentials) == 1 and server.count(passkeys) == 0
    assert server.count(operator_sessions) == 1

    page.get_by_role("link", name="Authentication methods").click()
    expect(page.get_by_role("heading", name="Before you enable passkeys")).to_be_visible()
    expect(passkeys_switch(page)).to_have_attribute("aria-checked", "false")
    missing = page.locator('[data-item="rp_id"]')
    expect(missing).to_have_attribute("data-ok", "false")
    expect(missing).to_contain_text("How to fix:")

    passkeys_switch(page).click()
    expect(page.get_by_role("alert")).to_have_text(
        "Passkeys cannot be enabled yet: fix the items below first."
    )
    expect(passkeys_switch(page)).to_have_attribute("aria-checked", "false")
    assert json.loads(server.cli("config", "get", "/authentication_methods/passkey/enabled")) is False

    fixed = {"id": "localhost", "origins": [server.base_url], "display_name": "Keyturn"}
    server.cli("config", "patch", "--replace", f"/rp={json.dumps(fixed)}")
    page.goto(server.base_url + "/admin/authentication")
    for item in ("rp_id", "rp_origins", "key_encryption_key", "one_method"):
        expect(page.locator(f'[data-item="{item}"]')).to_have_attribute("data-ok", "true")
    passkeys_switch(page).click()
    expect(page.get_by_role("status")).to_have_text("Passkeys are on.")
    expect(passkeys_switch(page)).to_have_attribute("aria-checked", "true")
    expect(page.get_by_role("heading", name="Before you enable passkeys")).to_have_count(0)
    assert json.loads(server.cli("config", "get", "/authentication_methods/passkey/enabled")) is True


def test_a_bad_passkey_option_is_shown_next_to_its_field(
    context: BrowserContext, page: Page, server: KeyturnServer
) -> None:
    VirtualAuthenticator.attach(context, page, SECURITY_KEY)
    enroll_and_sign_in(page, server, "owner@example.com")
    page.goto(server.base_url + "/admin/authentication")
    limit = page.get_by_label("Passkeys per user (at most)")
    limit.fill("0")
    page.get_by_role("button", name="Save passkey options").click()
    expect(page.locator("#max_passkeys_per_user-error")).to_have_text(
        "Input should be greater than or equal to 1"
    )
    expect(limit).to_have_attribute("aria-invalid", "true")
    assert json.loads(server.cli("config", "get", "/passkey_options/max_passkeys_per_user")) == 20
    limit.fill("7")
    page.get_by_role("button", name="Save passkey options").click()
    expect(page.get_by_role("status")).to_have_text("Passkey options saved.")
    assert json.loads(server.cli("config", "get", "/passkey_options/max_passkeys_per_user")) == 7


def test_a_viewer_sees_no_change_buttons(context: BrowserContext, page: Page, server: KeyturnServer) -> None:
    VirtualAuthenticator.attach(context, page, SECURITY_KEY)
    enroll_and_sign_in(page, server, "viewer@example.com", "viewer")
    page.goto(server.base_url + "/admin/authentication")
    expect(page.get_by_role("heading", name="Authentication methods")).to_be_visible()
    expect(page.get_by_role("switch")).to_have_count(0)
    expect(page.get_by_role("button", name="Save passkey options")).to_have_count(0)
    expect(page.locator('[data-method="passkey"] .state')).to_have_text("On")
    expect(page.get_by_label("Passkeys per user (at most)")).to_be_disabled()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_an_end_user_session_gets_403(
    page: Page, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    SignupPage(page, server.base_url).open().sign_up_with_passkey("ada@example.com")
    response = page.goto(server.base_url + "/admin")
    assert response is not None and response.status == 403
    expect(page.locator("body")).to_have_text("Forbidden.")


# --- users, logs, applications (the rest of issue 13) --------------------------------------------

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(__file__).parents[2] / "docs" / "dashboard"


def user_browser(browser: Browser, server: KeyturnServer, email: str) -> tuple[Page, VirtualAuthenticator]:
    """An end user in a browser of their own, signed up with a passkey and signed out."""
    context = browser.new_context(base_url=server.base_url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    key = VirtualAuthenticator.attach(context, page, PLATFORM_AUTHENTICATOR)
    account = SignupPage(page, server.base_url).open().sign_up_with_passkey(email)
    key.set_presence(False)  # no autofill sign-in on /login after signing out
    account.sign_out()
    return page, key


def test_an_operator_finds_a_user_and_revokes_their_passkey_so_their_next_sign_in_fails(
    browser: Browser, context: BrowserContext, page: Page, server: KeyturnServer
) -> None:
    user_page, user_key = user_browser(browser, server, "ada@example.com")
    VirtualAuthenticator.attach(context, page, SECURITY_KEY)
    enroll_and_sign_in(page, server, "owner@example.com")
    page.get_by_role("link", name="Users").click()
    page.get_by_label("Search users").fill("ada")
    page.get_by_label("Search users").press("Enter")
    page.get_by_role("link", name="ada@example.com").click()
    expect(page.get_by_role("heading", name="ada@example.com")).to_be_visible()
    expect(page.locator("[data-passkey]")).to_have_count(1)
    page.get_by_role("button", name=re.compile(r"^Revoke Passkey")).click()
    expect(page.get_by_role("status")).to_have_text("Passkey revoked.")
    expect(page.locator("[data-passkey]")).to_have_count(0)
    assert server.count(passkeys) == 0

    user_key.set_presence(True)
    login = LoginPage(user_page, server.base_url).open()
    login.passkey_button.click()
    expect(login.error).to_be_visible()
    login.expect_here()  # not signed in


def test_logs_filter_by_type_and_the_live_tail_shows_a_new_sign_in(
    browser: Browser, context: BrowserContext, page: Page, server: KeyturnServer
) -> None:
    VirtualAuthenticator.attach(context, page, SECURITY_KEY)
    enroll_and_sign_in(page, server, "owner@example.com")
    user_browser(browser, server, "ada@example.com")
    page.get_by_role("link", name="Logs").click()
    page.get_by_label("Query").fill("type:s")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/admin/logs\?q=type%3As&user=$"))
    rows = page.locator("tbody tr[data-type]")
    expect(rows.first).to_be_visible()
    assert set(rows.evaluate_all("rows => rows.map(r => r.dataset.type)")) == {"s"}
    expect(page.locator("#tail")).to_have_attribute("data-live", "true")
    expect(page.locator("#tail-events li")).to_have_count(1)  # the backlog: ada's sign-up sign-in

    second, _ = user_browser(browser, server, "grace@example.com")  # a new sign-in, elsewhere
    fresh = page.locator("#tail-events li").first
    expect(page.locator("#tail-events li")).to_have_count(2)
    expect(fresh).to_have_attribute("data-type", "s")
    expect(fresh).to_contain_text("grace@example.com")
    expect(page.locator("#tail-events")).to_have_attribute("aria-live", "polite")
    second.context.close()


def test_an_operator_creates_a_client_and_sees_its_secret_once(
    context: BrowserContext, page: Page, server: KeyturnServer
) -> None:
    VirtualAuthenticator.attach(context, page, SECURITY_KEY)
    enroll_and_sign_in(page, server, "owner@example.com")
    page.get_by_role("link", name="Applications").click()
    page.get_by_label("Name", exact=True).fill("Shop")
    page.get_by_label("Redirect URIs (one per line)", exact=True).fill("https://shop.example/callback")
    page.get_by_role("button", name="Create client").click()
    expect(page.get_by_role("heading", name="Shop was created")).to_be_visible()
    secret = page.locator("[data-client-secret]").text_content() or ""
    assert len(secret) >= 32
    page.goto(server.base_url + "/admin/applications")
    expect(page.get_by_role("heading", name="Shop", exact=True)).to_be_visible()
    assert secret not in page.content()


def test_a_viewer_cannot_change_anything(
    browser: Browser, context: BrowserContext, page: Page, server: KeyturnServer
) -> None:
    user_browser(browser, server, "ada@example.com")
    VirtualAuthenticator.attach(context, page, SECURITY_KEY)
    enroll_and_sign_in(page, server, "viewer@example.com", "viewer")
    [user] = server.rows(users)
    paths = [
        "/admin",
        "/admin/authentication",
        "/admin/relying-party",
        "/admin/users",
        f"/admin/users/{user['id']}",
        "/admin/logs",
        "/admin/applications",
    ]
    for path in paths:
        page.goto(server.base_url + path)
        buttons = page.locator("form[method=post]:not([action='/admin/logout']) button")
        expect(buttons).to_have_count(0)
    csrf = page.locator("form[action='/admin/logout'] input[name=csrf]").get_attribute("value") or ""
    form: dict[str, str | float | bool] = {
        "csrf": csrf,
        "email": "x@example.com",
        "confirm_email": "ada@example.com",
    }
    for path in (
        "/admin/users",
        f"/admin/users/{user['id']}/delete",
        "/admin/applications/clients",
        "/admin/applications/keys/rotate",
        "/admin/relying-party",
        "/admin/authentication/methods",
    ):
        answer = page.request.post(server.base_url + path, form=form, headers={"origin": server.base_url})
        assert (answer.status, answer.text()) == (403, "Forbidden."), path
    assert server.count(users) == 1


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings on the page as it is (loaded through the
    DevTools protocol: the page's CSP rightly refuses inline scripts)."""
    page.evaluate(AXE.read_text() + "\n;0")
    found: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"
    )
    return found


def test_every_page_passes_axe_and_is_photographed_at_1280x800(
    browser: Browser, context: BrowserContext, page: Page, server: KeyturnServer, tmp_path: Path
) -> None:
    """The screenshots in docs/dashboard come from here: KEYTURN_UPDATE_SCREENSHOTS=1 writes them
    there, otherwise to pytest's tmp dir for a look."""
    user_browser(browser, server, "ada@example.com")
    server.cli("clients", "create", "--name", "Shop", "--redirect-uri", "https://shop.example/callback")
    page.set_viewport_size({"width": 1280, "height": 800})
    VirtualAuthenticator.attach(context, page, SECURITY_KEY)
    enroll_and_sign_in(page, server, "owner@example.com")
    [user] = server.rows(users)
    target = SCREENSHOTS if os.environ.get("KEYTURN_UPDATE_SCREENSHOTS") == "1" else tmp_path
    shots = {
        "overview": "/admin",
        "authentication": "/admin/authentication",
        "relying-party": "/admin/relying-party",
        "users": "/admin/users",
        "user": f"/admin/users/{user['id']}",
        "logs": "/admin/logs",
        "applications": "/admin/applications",
    }
    problems = {}
    for name, path in shots.items():
        page.goto(server.base_url + path)
        expect(page.get_by_role("main")).to_be_visible()
        if name == "logs":
            expect(page.locator("#tail")).to_have_attribute("data-live", "true")
        page.screenshot(path=target / f"{name}.png")
        if found := axe_violations(page):
            problems[path] = found
        assert (target / f"{name}.png").stat().st_size > 5_000
    assert problems == {}
