"""attack_protection settings: Auth0's /api/v2/attack-protection shapes and `config patch`."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from keyturn.context import Context
from tests.management.conftest import Api, assert_error
from tests.support import store

BRUTE = "/attack-protection/brute-force-protection"
SUSPICIOUS = "/attack-protection/suspicious-ip-throttling"


def test_defaults_in_auth0_shapes(api: Api) -> None:
    assert api.ok(api.get(BRUTE)) == {
        "enabled": True,
        "shields": ["block", "user_notification"],
        "allowlist": [],
        "mode": "count_per_identifier_and_ip",
        "max_attempts": 10,
    }
    assert api.ok(api.get(SUSPICIOUS)) == {
        "enabled": True,
        "shields": ["block"],
        "allowlist": [],
        "stage": {
            "pre-login": {"max_attempts": 100, "rate": 864000},
            "pre-user-registration": {"max_attempts": 50, "rate": 1200},
        },
    }


def test_patch_changes_the_tenant_settings_and_logs_sapi(api: Api, client: TestClient) -> None:
    body = api.ok(api.patch(BRUTE, json={"max_attempts": 3, "allowlist": ["192.0.2.0/24"]}))
    assert body["max_attempts"] == 3 and body["allowlist"] == ["192.0.2.0/24"]
    changed = api.ok(
        api.patch(SUSPICIOUS, json={"stage": {"pre-user-registration": {"max_attempts": 5, "rate": 60000}}})
    )
    assert changed["stage"]["pre-user-registration"] == {"max_attempts": 5, "rate": 60000}
    assert changed["stage"]["pre-login"] == {"max_attempts": 100, "rate": 864000}
    tenant = store.in_context(client, _tenant)
    assert tenant["brute_force"]["max_attempts"] == 3
    assert tenant["suspicious_ip"]["max_signups"] == 5
    assert tenant["suspicious_ip"]["signups_refill_seconds"] == 60
    operations = [e.details["operation"] for e in store.events_of(client, "sapi")]
    assert "update_brute_force" in operations and "update_suspicious_ip" in operations


async def _tenant(ctx: Context) -> dict[str, Any]:
    document: dict[str, Any] = ctx.tenant.model_dump(mode="json")["attack_protection"]
    return document


def test_bad_patches_are_400_and_change_nothing(api: Api, client: TestClient) -> None:
    before = store.in_context(client, _tenant)
    assert_error(api.patch(BRUTE, json={"allowlist": ["not-an-address"]}), 400, "invalid_body")
    assert_error(api.patch(BRUTE, json={"mode": "count_per_identifier"}), 400, "invalid_body")
    assert_error(api.patch(BRUTE, json={"max_attempts": 0}), 400)
    assert_error(api.patch(SUSPICIOUS, json={"stage": {"pre-login": {"rate": 0}}}), 400)
    assert_error(api.patch(SUSPICIOUS, json={"shields": ["admin_notification"]}), 400, "invalid_body")
    assert store.in_context(client, _tenant) == before
    changes = [e for e in store.events_of(client, "sapi") if e.details["operation"] != "create_client"]
    assert changes == []


def test_scopes(api: Api) -> None:
    assert_error(api.get(BRUTE, scopes=("read:users",)), 403, "insufficient_scope")
    assert_error(api.patch(SUSPICIOUS, json={"enabled": False}, scopes=("read:attack_protection",)), 403)
    assert api.ok(api.get(SUSPICIOUS, scopes=("read:attack_protection",)))["enabled"] is True


def test_config_patch_reaches_the_same_settings(api: Api, client: TestClient) -> None:
    store.set_tenant(client, "/attack_protection/brute_force/max_attempts", 4)
    assert api.ok(api.get(BRUTE))["max_attempts"] == 4
