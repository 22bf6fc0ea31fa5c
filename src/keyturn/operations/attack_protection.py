"""Attack-protection settings in Auth0's shapes (`/api/v2/attack-protection/*`), over the
tenant settings' `attack_protection` section (which `keyturn config patch` changes too).

Auth0 counts suspicious-IP refills as a `rate` in milliseconds; Keyturn stores seconds.
Keyturn's brute-force protection counts per identifier and address (Auth0's
`count_per_identifier_and_ip`), blocks, and emails the user an unblock link: shields
`block` and `user_notification`, which are always on while it is enabled.
"""

from __future__ import annotations

from typing import Any

from keyturn.context import Context
from keyturn.domain.tenant import TenantSettings
from keyturn.errors import KeyturnError
from keyturn.operations.audit import Actor
from keyturn.operations.tenant_config import merge_documents, save_settings, validated

BRUTE_FORCE_SHIELDS = ["block", "user_notification"]
BRUTE_FORCE_MODE = "count_per_identifier_and_ip"
SUSPICIOUS_IP_SHIELDS = ["block"]


def brute_force_out(tenant: TenantSettings) -> dict[str, Any]:
    brute = tenant.attack_protection.brute_force
    return {
        "enabled": brute.enabled,
        "shields": list(BRUTE_FORCE_SHIELDS),
        "allowlist": list(brute.allowlist),
        "mode": BRUTE_FORCE_MODE,
        "max_attempts": brute.max_attempts,
    }


def suspicious_ip_out(tenant: TenantSettings) -> dict[str, Any]:
    ip = tenant.attack_protection.suspicious_ip
    return {
        "enabled": ip.enabled,
        "shields": list(SUSPICIOUS_IP_SHIELDS),
        "allowlist": list(ip.allowlist),
        "stage": {
            "pre-login": {"max_attempts": ip.max_attempts, "rate": round(ip.attempts_refill_seconds * 1000)},
            "pre-user-registration": {
                "max_attempts": ip.max_signups,
                "rate": round(ip.signups_refill_seconds * 1000),
            },
        },
    }


def _unsupported(field: str, value: object, supported: object) -> KeyturnError:
    return KeyturnError(
        code="invalid_body", reason=f"{field} {value!r} is not supported here; Keyturn does {supported!r}"
    )


async def _save(ctx: Context, section: str, changes: dict[str, Any], *, actor: Actor) -> TenantSettings:
    overrides = {"attack_protection": {section: changes}}
    updated = validated(merge_documents(ctx.tenant.model_dump(mode="json"), overrides), code="invalid_body")
    return await save_settings(
        ctx, updated, force=False, actor=actor, operation=f"update_{section}", keys=sorted(changes)
    )


async def update_brute_force(ctx: Context, body: dict[str, Any], *, actor: Actor) -> dict[str, Any]:
    """Auth0's PATCH: enabled, allowlist, max_attempts change; shields and mode are what Keyturn does."""
    shields = body.pop("shields", None)
    if shields is not None and sorted(shields) != sorted(BRUTE_FORCE_SHIELDS):
        raise _unsupported("shields", shields, BRUTE_FORCE_SHIELDS)
    mode = body.pop("mode", None)
    if mode is not None and mode != BRUTE_FORCE_MODE:
        raise _unsupported("mode", mode, BRUTE_FORCE_MODE)
    return brute_force_out(await _save(ctx, "brute_force", body, actor=actor))


async def update_suspicious_ip(ctx: Context, body: dict[str, Any], *, actor: Actor) -> dict[str, Any]:
    shields = body.pop("shields", None)
    if shields is not None and sorted(shields) != SUSPICIOUS_IP_SHIELDS:
        raise _unsupported("shields", shields, SUSPICIOUS_IP_SHIELDS)
    changes: dict[str, Any] = {key: body[key] for key in ("enabled", "allowlist") if key in body}
    stage = body.get("stage") or {}
    login, signup = stage.get("pre-login") or {}, stage.get("pre-user-registration") or {}
    if "max_attempts" in login:
        changes["max_attempts"] = login["max_attempts"]
    if "rate" in login:
        changes["attempts_refill_seconds"] = login["rate"] / 1000
    if "max_attempts" in signup:
        changes["max_signups"] = signup["max_attempts"]
    if "rate" in signup:
        changes["signups_refill_seconds"] = signup["rate"] / 1000
    return suspicious_ip_out(await _save(ctx, "suspicious_ip", changes, actor=actor))
