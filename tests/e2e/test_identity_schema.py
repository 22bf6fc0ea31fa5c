"""The identity schema in a real browser: a custom schema's required `name` asked on sign-up,
the passkey created with that name (read back from Chrome's virtual authenticator), the name
in the ID token the Authlib example app validated, /account signalling a new display name,
and a schema change refused while existing users would fail it."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from keyturn.domain.traits import DEFAULT_SCHEMA
from keyturn.store.sql.tables import users
from tests.e2e.conftest import KeyturnServer
from tests.e2e.oidc_pages import ExampleAppPage
from tests.e2e.pages import AccountPage, SignupPage, VirtualAuthenticator
from tests.e2e.test_oidc import ExampleApp, running_example

pytestmark = pytest.mark.e2e

EMAIL = "ada@example.com"
NAME = "Ada Lovelace"
SCHEMA: dict[str, Any] = copy.deepcopy(DEFAULT_SCHEMA)
SCHEMA["properties"]["name"] = {
    "type": "string",
    "title": "Full name",
    "description": "Shown on your passkey.",
    "minLength": 1,
    "maxLength": 80,
    "x-keyturn": {"passkey": {"display_name": True}, "account": "editable"},
}
SCHEMA["required"] = ["email", "name"]
SIGNAL_RECORDER = """
window.__ktUserDetails = [];
if (typeof PublicKeyCredential !== "undefined"
    && typeof PublicKeyCredential.signalCurrentUserDetails === "function") {
  const original = PublicKeyCredential.signalCurrentUserDetails.bind(PublicKeyCredential);
  PublicKeyCredential.signalCurrentUserDetails = (options) => {
    window.__ktUserDetails.push(options);
    return original(options);
  };
}
"""


@pytest.fixture
def example(server: KeyturnServer, tmp_path: Path) -> Iterator[ExampleApp]:
    """The Authlib example app as a first-party client (it asks for openid email profile)."""
    with running_example(server, tmp_path, first_party=True) as app:
        yield app


def use_schema(server: KeyturnServer, schema: dict[str, Any]) -> None:
    server.cli("config", "patch", "--replace", f"/identity_schema={json.dumps(schema)}")


def name_field(page: Page) -> Any:
    return page.get_by_label("Full name")


def test_a_required_name_is_asked_names_the_passkey_and_reaches_the_id_token(
    page: Page, server: KeyturnServer, example: ExampleApp, virtual_authenticator: VirtualAuthenticator
) -> None:
    use_schema(server, SCHEMA)
    server.set_challenge_ui("button")
    signup = SignupPage(page, server.base_url).open()
    expect(name_field(page)).to_be_visible()
    expect(page.get_by_text("Shown on your passkey.")).to_be_visible()

    signup.email.fill(EMAIL)
    signup.create_passkey_button.click()  # no name yet: refused under the field, nothing made
    error = page.locator("#trait-name-error")
    expect(error).to_have_text("This field is required.")
    expect(name_field(page)).to_have_attribute("aria-invalid", "true")
    assert virtual_authenticator.credentials() == []
    assert server.count(users) == 0

    name_field(page).fill(NAME)
    signup.create_passkey_button.click()
    account = AccountPage(page, server.base_url)
    account.expect_here()

    [credential] = virtual_authenticator.credentials()
    assert credential.user_name == NAME
    assert credential.user_display_name == NAME
    [user] = server.rows(users)
    assert user["traits"] == {"name": NAME}
    expect(page.get_by_label("Full name")).to_have_value(NAME)  # editable on /account

    virtual_authenticator.set_presence(False)  # the Keyturn session signs the app in, no prompt
    app = ExampleAppPage(page, example.base_url).open()
    app.sign_in()
    claims = app.expect_signed_in(EMAIL)
    assert claims["name"] == NAME  # scope profile releases the name trait


def test_changing_the_display_name_on_account_signals_the_browser(
    page: Page, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    use_schema(server, SCHEMA)
    server.set_challenge_ui("button")
    page.add_init_script(SIGNAL_RECORDER)
    signup = SignupPage(page, server.base_url).open()
    signup.email.fill(EMAIL)
    name_field(page).fill(NAME)
    signup.create_passkey_button.click()
    account = AccountPage(page, server.base_url)
    account.expect_here()
    supported = page.evaluate("typeof PublicKeyCredential.signalCurrentUserDetails === 'function'")

    name_field(page).fill("")
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator("#trait-name-error")).to_have_text("This field is required.")
    assert server.rows(users)[0]["traits"] == {"name": NAME}

    name_field(page).fill("Ada King")
    page.get_by_role("button", name="Save profile").click()
    expect(account.notice).to_have_text("Profile saved.")

    assert server.rows(users)[0]["traits"] == {"name": "Ada King"}
    assert supported  # Chromium has the Signal API (the page feature-detects it)
    signals = page.evaluate("window.__ktUserDetails")
    [credential] = virtual_authenticator.credentials()
    assert [(s["rpId"], s["name"], s["displayName"]) for s in signals] == [
        ("localhost", "Ada King", "Ada King")
    ]
    assert signals[0]["userId"] == base64.urlsafe_b64encode(credential.user_handle).rstrip(b"=").decode()


def test_a_schema_change_is_refused_while_users_would_break(
    page: Page, server: KeyturnServer, virtual_authenticator: VirtualAuthenticator
) -> None:
    server.set_challenge_ui("button")
    SignupPage(page, server.base_url).open().sign_up_with_passkey(EMAIL)  # the default schema
    before = server.cli("config", "get", "/identity_schema")

    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "keyturn",
            "config",
            "patch",
            "--replace",
            f"/identity_schema={json.dumps(SCHEMA)}",
        ],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert refused.returncode == 1
    message = " ".join(refused.stderr.split())
    assert "would make 1 user invalid (trait 'name' first: This field is required.)" in message
    assert server.cli("config", "get", "/identity_schema") == before
    page.goto(f"{server.base_url}/signup")
    expect(page.locator("[data-trait]")).to_have_count(0)  # the pages still use the old schema
