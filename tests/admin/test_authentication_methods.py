"""/admin/authentication: the Passkeys and Passwords switches, the checklist, the passkey options.

Every change goes through operations.tenant_config and records `sapi` naming the operator;
bad input re-renders the form (4xx) with the message next to its field and changes nothing.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from keyturn.app import create_app
from keyturn.clock import FrozenClock
from keyturn.domain.tenant import TenantSettings
from keyturn.settings import Settings
from tests.conftest import BASE_URL
from tests.support import admin, store

OWNER = "owner@example.com"
GOOD_AAGUID = "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4"


async def _tenant(ctx: Any) -> TenantSettings:
    tenant: TenantSettings = ctx.tenant
    return tenant


def tenant_of(client: TestClient) -> TenantSettings:
    return store.in_context(client, _tenant)


def post(client: TestClient, path: str, form: dict[str, str]) -> Any:
    csrf = admin.form_csrf(client.get("/admin/authentication").text)
    return client.post(path, data={**form, "csrf": csrf}, follow_redirects=False)


def sapi_operations(client: TestClient) -> list[dict[str, Any]]:
    """The settings changes the dashboard made (the CLI's, `actor` "cli", left out)."""
    return [
        e.details
        for e in store.events_of(client, "sapi")
        if e.details["operation"] == "patch_settings" and e.details["actor"] != "cli"
    ]


def checklist(page: str) -> dict[str, bool]:
    return {m[0]: m[1] == "true" for m in re.findall(r'data-item="([a-z_]+)" data-ok="(true|false)"', page)}


@pytest.fixture
def misconfigured(settings: Settings, clock: FrozenClock) -> Iterator[TestClient]:
    """Passkeys off, and an RP for another domain than the one Keyturn is served at."""
    seed = TenantSettings.model_validate(
        {
            "rp": {"id": "example.com", "origins": ["https://example.com"]},
            "authentication_methods": {"passkey": {"enabled": False}},
        }
    )
    app = create_app(settings.model_copy(update={"tenant": seed}), clock=clock)
    with TestClient(app, base_url=BASE_URL, headers={"origin": BASE_URL}) as test_client:
        admin.operator_signed_in(test_client, OWNER)
        yield test_client


def test_the_checklist_refuses_passkeys_until_the_rp_id_is_fixed(misconfigured: TestClient) -> None:
    client = misconfigured
    page = client.get("/admin/authentication")
    assert "Before you enable passkeys" in page.text
    assert checklist(page.text) == {
        "rp_id": False,
        "rp_origins": True,
        "key_encryption_key": True,
        "one_method": True,
    }
    assert "keyturn config patch --replace /rp/id=localhost" in html.unescape(page.text)

    refused = post(client, "/admin/authentication/methods", {"method": "passkey", "enabled": "true"})
    assert refused.status_code == 409
    assert "Passkeys cannot be enabled yet: fix the items below first." in refused.text
    assert checklist(refused.text)["rp_id"] is False
    assert tenant_of(client).authentication_methods.passkey.enabled is False
    assert sapi_operations(client) == []

    # The fix, as the checklist says (the CLI's `config patch`: the same operation).
    store.set_tenant(client, "/rp", {"id": "localhost", "origins": [BASE_URL], "display_name": "Keyturn"})
    assert all(checklist(client.get("/admin/authentication").text).values())

    enabled = post(client, "/admin/authentication/methods", {"method": "passkey", "enabled": "true"})
    assert enabled.status_code == 303
    assert enabled.headers["location"] == "/admin/authentication?notice=passkey_on"
    assert tenant_of(client).authentication_methods.passkey.enabled is True
    page = client.get(enabled.headers["location"])
    assert "Passkeys are on." in page.text
    assert "Before you enable passkeys" not in page.text
    [event] = sapi_operations(client)
    assert event["actor"] == OWNER
    assert event["paths"] == ["/authentication_methods/passkey/enabled"]
    assert event["path"] == "/admin/authentication/methods"


def test_the_last_method_cannot_be_switched_off(misconfigured: TestClient) -> None:
    client = misconfigured
    before = tenant_of(client)
    refused = post(client, "/admin/authentication/methods", {"method": "password", "enabled": "false"})
    assert refused.status_code == 400
    assert "at least one of password and passkey must stay enabled" in refused.text
    assert tenant_of(client) == before
    assert sapi_operations(client) == []


def test_passwords_switch_off_and_on(client: TestClient) -> None:
    admin.operator_signed_in(client, OWNER)
    off = post(client, "/admin/authentication/methods", {"method": "password", "enabled": "false"})
    assert off.status_code == 303
    assert tenant_of(client).authentication_methods.password.enabled is False
    page = client.get("/admin/authentication")
    assert re.search(r'data-method="password".*?aria-checked="false"', page.text, re.S)
    on = post(client, "/admin/authentication/methods", {"method": "password", "enabled": "true"})
    assert on.status_code == 303
    assert tenant_of(client).authentication_methods.password.enabled is True
    assert [e["actor"] for e in sapi_operations(client)] == [OWNER, OWNER]


def test_an_unknown_method_changes_nothing(client: TestClient) -> None:
    admin.operator_signed_in(client, OWNER)
    before = tenant_of(client)
    refused = post(client, "/admin/authentication/methods", {"method": "sms", "enabled": "true"})
    assert refused.status_code == 400
    assert tenant_of(client) == before


OPTIONS_FORM = {
    "challenge_ui": "button",
    "local_enrollment_enabled": "on",  # progressive_enrollment_enabled unchecked
    "max_passkeys_per_user": "5",
    "user_verification": "preferred",
    "allowed_credential_types": "device_bound",
    "aaguid_allowlist": "",
    "aaguid_denylist": f"{GOOD_AAGUID.upper()}\n",
}


def test_passkey_options_are_saved_through_the_patch_operation(client: TestClient) -> None:
    admin.operator_signed_in(client, OWNER)
    saved = post(client, "/admin/authentication/passkey-options", OPTIONS_FORM)
    assert saved.status_code == 303, saved.text
    options = tenant_of(client).passkey_options
    assert options.challenge_ui == "button"
    assert options.progressive_enrollment_enabled is False
    assert options.local_enrollment_enabled is True
    assert options.max_passkeys_per_user == 5
    assert options.user_verification == "preferred"
    assert options.allowed_credential_types == "device_bound"
    assert options.aaguid_denylist == [GOOD_AAGUID]
    [event] = sapi_operations(client)
    assert event["actor"] == OWNER
    page = client.get(saved.headers["location"])
    assert 'value="5"' in page.text and "Passkey options saved." in page.text


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_passkeys_per_user", "lots", "Input should be a valid integer"),
        ("max_passkeys_per_user", "0", "Input should be greater than or equal to 1"),
        ("aaguid_allowlist", "not-an-aaguid", "is not an AAGUID"),
        ("challenge_ui", "popup", "Input should be 'both', 'autofill' or 'button'"),
    ],
)
def test_a_bad_option_is_shown_next_to_its_field_and_changes_nothing(
    client: TestClient, field: str, value: str, message: str
) -> None:
    admin.operator_signed_in(client, OWNER)
    before = tenant_of(client)
    refused = post(client, "/admin/authentication/passkey-options", {**OPTIONS_FORM, field: value})
    assert refused.status_code == 400
    text = html.unescape(refused.text)
    error = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', text, re.S)
    assert error is not None and message in error.group(1)
    assert f'id="{field}"' in text and f'aria-describedby="{field}-error"' in text
    if field != "challenge_ui":  # a select shows its choices; a typed value stays in the form
        assert value in text
    assert tenant_of(client) == before
    assert sapi_operations(client) == []


def test_overview_counts_users_passkeys_and_sign_ins(client: TestClient, authenticator: Any) -> None:
    from tests.support import browser
    from tests.support.soft_authenticator import SoftAuthenticator

    assert browser.signup_with_passkey(client, authenticator, "a@example.com").status_code == 200
    key = SoftAuthenticator(backup_eligible=False, backup_state=False)
    browser.sign_out(client)
    assert browser.signup_with_passkey(client, key, "b@example.com").status_code == 200
    browser.sign_out(client)
    assert browser.login_with_passkey(client, key).status_code == 200
    browser.sign_out(client)
    assert (
        browser.signup_with_password(client, "c@example.com", "correct horse battery staple").status_code
        == 200
    )
    admin.operator_signed_in(client, OWNER)
    page = client.get("/admin").text
    figures = dict(re.findall(r'data-figure="([a-z_]+)">(\d+)<', page))
    assert figures == {**figures, "users": "3", "passkeys_synced": "1", "passkeys_device_bound": "1"}
    sign_ins = dict(re.findall(r'data-sign-ins="([a-z]+)">(\d+)<', page))
    assert sign_ins == {"passkey": "3", "password": "1"}  # two sign-ups and one sign-in, one sign-up
