"""Attack-protection settings in Auth0's shapes (`/api/v2/attack-protection/*`), over the
tenant settings' `attack_protection` section (which `keyturn config patch` changes too).

Auth0 counts suspicious-IP refills as a `rate` in milliseconds; Keyturn stores seconds.
Keyturn's brute-force protection counts per identifier and address (Auth0's
`count_per_identifier_and_ip`), blocks, and emails the user an unblock link: shields
`block` and `user_notification`, which are always on while it is enabled.

Breached-password detection is `password_policy.breached`: `enabled` is a mode other than
`off` (turning it on picks the range API), the login stage's shields are `["block"]` for
`on_sign_in: block` and `[]` otherwise (`flag` records `pwd_leak` and signs in, as Auth0 does
with no shield); sign-up and password changes always refuse (`block`). Notifications and
the `enhanced` method are not Keyturn's: asking for them is a 400.
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
BREACHED_METHOD = "standard"
BREACHED_STAGE_SHIELDS = ["block"]


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


def breached_out(tenant: TenantSettings) -> dict[str, Any]:
    breached = tenant.password_policy.breached
    return {
        "enabled": breached.mode != "off",
        "shields": ["block"] if breached.on_sign_in == "block" else [],
        "admin_notification_frequency": [],
        "method": BREACHED_METHOD,
        "stage": {
            "pre-user-registration": {"shields": list(BREACHED_STAGE_SHIELDS)},
            "pre-change-password": {"shields": list(BREACHED_STAGE_SHIELDS)},
        },
    }


def _unsupported(field: str, value: object, supported: object) -> KeyturnError:
    return KeyturnError(
        code="invalid_body", reason=f"{field} {value!r} is not supported here; Keyturn does {supported!r}"
    )


async def _save(ctx: Context, section: str, changes: dict[str, Any], *, actor: Actor) -> TenantSettings:
    overrides = {"attack_protection": {section: changes}}
    document = merge_documents(ctx.tenant.model_dump(mode="json"), overrides)
    updated = validated(document, code="invalid_body", kek=ctx.rt.kek)
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


async def update_breached(ctx: Context, body: dict[str, Any], *, actor: Actor) -> dict[str, Any]:
    """Auth0's PATCH /attack-protection/breached-password-detection over `password_policy.breached`."""
    current = ctx.tenant.password_policy.breached
    changes: dict[str, Any] = {}
    if "enabled" in body:
        on = current.mode if current.mode != "off" else "range_api"  # turning it on: the range API
        changes["mode"] = on if body["enabled"] else "off"
    shields = body.get("shields")
    if shields is not None:
        if not set(shields) <= {"block"}:
            raise _unsupported("shields", shields, ["block"])
        changes["on_sign_in"] = "block" if shields else "flag"
    frequency = body.get("admin_notification_frequency")
    if frequency:
        raise _unsupported("admin_notification_frequency", frequency, [])
    method = body.get("method")
    if method is not None and method != BREACHED_METHOD:
        raise _unsupported("method", method, BREACHED_METHOD)
    for stage, settings in (body.get("stage") or {}).items():
        stage_shields = (settings or {}).get("shields")
        if stage_shields is not None and sorted(stage_shields) != BREACHED_STAGE_SHIELDS:
            raise _unsupported(f"stage.{stage}.shields", stage_shields, BREACHED_STAGE_SHIELDS)
    overrides = {"password_policy": {"breached": changes}}
    document = merge_documents(ctx.tenant.model_dump(mode="json"), overrides)
    updated = validated(document, code="invalid_body", kek=ctx.rt.kek)
    saved = await save_settings(
        ctx, updated, force=False, actor=actor, operation="update_breached", keys=sorted(changes)
    )
    return breached_out(saved)
