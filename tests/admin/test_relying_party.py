"""/admin/relying-party: rp id, origins, related origins, native apps.

A new rp id that would orphan passkeys says how many and needs the new id typed again (the
CLI's guard, operations.tenant_config.check_rp_id_change); bad input changes nothing.
"""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from keyturn.domain.tenant import TenantSettings
from tests.support import admin, browser, store
from tests.support.soft_authenticator import SoftAuthenticator

OWNER = "owner@example.com"
FINGERPRINT = ":".join(["AB"] * 32)


async def _tenant(ctx: Any) -> TenantSettings:
    tenant: TenantSettings = ctx.tenant
    return tenant


def tenant_of(client: TestClient) -> TenantSettings:
    return store.in_context(client, _tenant)


def post(client: TestClient, path: str, form: dict[str, str]) -> Any:
    csrf = admin.form_csrf(client.get("/admin/relying-party").text)
    return client.post(path, data={**form, "csrf": csrf}, follow_redirects=False)


def rp_form(client: TestClient, **changes: str) -> dict[str, str]:
    rp = tenant_of(client).rp
    form = {
        "id": rp.id,
        "display_name": rp.display_name,
        "origins": "\n".join(rp.origins),
        "related_origins": "\n".join(rp.related_origins),
    }
    return {**form, **changes}


def settings_changes(client: TestClient) -> list[dict[str, Any]]:
    return [e.details for e in store.events_of(client, "sapi") if e.details["operation"] == "patch_settings"]


def test_the_page_shows_the_relying_party_and_how_many_passkeys_it_holds(client: TestClient) -> None:
    assert browser.signup_with_passkey(client, SoftAuthenticator(), "ada@example.com").status_code == 200
    admin.operator_signed_in(client)
    page = client.get("/admin/relying-party")
    assert page.status_code == 200
    assert 'data-bound="1"' in page.text and 'value="localhost"' in page.text


def test_changing_the_rp_id_with_passkeys_needs_the_new_id_typed(client: TestClient) -> None:
    for email in ("ada@example.com", "grace@example.com"):
        assert browser.signup_with_passkey(client, SoftAuthenticator(), email).status_code == 200
        browser.sign_out(client)
    admin.operator_signed_in(client)
    first = post(
        client, "/admin/relying-party", rp_form(client, id="example.com", origins="https://example.com")
    )
    assert first.status_code == 409
    assert "2 passkeys would stop working." in first.text
    assert 'id="confirm_rp_id"' in first.text and 'value="example.com"' in first.text
    assert tenant_of(client).rp.id == "localhost"
    wrong = post(
        client,
        "/admin/relying-party",
        rp_form(client, id="example.com", origins="https://example.com", confirm_rp_id="example.org"),
    )
    assert wrong.status_code == 409 and 'id="confirm_rp_id-error"' in wrong.text
    assert tenant_of(client).rp.id == "localhost" and settings_changes(client) == []
    typed = post(
        client,
        "/admin/relying-party",
        rp_form(client, id="example.com", origins="https://example.com", confirm_rp_id="example.com"),
    )
    assert typed.status_code == 303
    assert tenant_of(client).rp.id == "example.com"
    [change] = settings_changes(client)
    assert change["actor"] == OWNER


def test_without_passkeys_the_rp_id_changes_at_once(client: TestClient) -> None:
    admin.operator_signed_in(client)  # operators' keys are not bound to rp.id
    answer = post(
        client, "/admin/relying-party", rp_form(client, id="example.com", origins="https://example.com")
    )
    assert answer.status_code == 303
    assert (tenant_of(client).rp.id, tenant_of(client).rp.origins) == ("example.com", ["https://example.com"])
    assert client.get("/admin/relying-party").status_code == 200  # the operator is still signed in


def test_a_bad_origin_is_shown_next_to_its_field_and_nothing_is_saved(client: TestClient) -> None:
    admin.operator_signed_in(client)
    before = tenant_of(client)
    answer = post(client, "/admin/relying-party", rp_form(client, related_origins="http://insecure.example"))
    assert answer.status_code == 400
    assert 'id="related_origins-error"' in answer.text and "is not an https origin" in answer.text
    assert "http://insecure.example" in answer.text
    assert tenant_of(client) == before and settings_changes(client) == []


def test_native_apps(client: TestClient) -> None:
    admin.operator_signed_in(client)
    bad = post(client, "/admin/relying-party/native-apps", {"apple_app_ids": "not-an-app-id", "android": ""})
    assert bad.status_code == 400 and 'id="apple_app_ids-error"' in bad.text
    assert tenant_of(client).native_apps.apple_app_ids == []
    good = post(
        client,
        "/admin/relying-party/native-apps",
        {"apple_app_ids": "ABCDE12345.com.example.app", "android": f"com.example.app {FINGERPRINT}"},
    )
    assert good.status_code == 303
    apps = tenant_of(client).native_apps
    assert apps.apple_app_ids == ["ABCDE12345.com.example.app"]
    assert [(a.package_name, a.sha256_cert_fingerprints) for a in apps.android] == [
        ("com.example.app", [FINGERPRINT])
    ]
    assert FINGERPRINT in client.get("/.well-known/assetlinks.json").text


def test_a_viewer_cannot_change_the_relying_party(client: TestClient) -> None:
    admin.operator_signed_in(client, "viewer@example.com", "viewer")
    page = client.get("/admin/relying-party")
    assert "Save relying party" not in page.text and "<fieldset disabled>" in page.text
    csrf = admin.form_csrf(page.text)
    before = tenant_of(client)
    for path in ("/admin/relying-party", "/admin/relying-party/native-apps"):
        answer = client.post(path, data={"csrf": csrf, "id": "example.com", "apple_app_ids": ""})
        assert (answer.status_code, answer.text) == (403, "Forbidden.")
    assert tenant_of(client) == before
