"""The dashboard in Chromium: an operator enrolls from `keyturn admin create`'s link with a
security key, signs in with it, and turns passkeys on once the checklist passes; a viewer
sees no change buttons; an end user's session gets 403."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from keyturn.store.sql.tables import operator_credentials, operator_sessions, passkeys
from tests.e2e.conftest import KeyturnServer
from tests.e2e.pages import SignupPage, VirtualAuthenticator

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
