"""Registering and deleting hooks (`keyturn hooks …`, /api/v2/hooks)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from keyturn.context import Context
from keyturn.domain.hooks import TRIGGERS, FailurePolicy, Hook
from keyturn.errors import KeyturnError, NotFound
from keyturn.ids import new_id
from keyturn.operations.audit import Actor, record_change
from keyturn.sealing import seal


@dataclass(frozen=True)
class NewHook:
    hook: Hook
    secret: str  # shown once; Keyturn keeps it only sealed under the KEK


async def add_hook(
    ctx: Context,
    *,
    actor: Actor,
    trigger: str,
    url: str,
    timeout_seconds: float = 2.0,
    failure_policy: str = "deny",
) -> NewHook:
    if trigger not in TRIGGERS:
        raise KeyturnError(code="invalid_trigger", trigger=trigger)
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise KeyturnError(code="invalid_hook_url", url=url)
    if not 0.1 <= timeout_seconds <= 10:
        raise KeyturnError(code="invalid_timeout")
    if failure_policy not in ("deny", "allow"):
        raise KeyturnError(code="invalid_failure_policy")
    hook_id = new_id()
    secret = secrets.token_urlsafe(32)
    hook = Hook(
        id=hook_id,
        trigger=trigger,
        url=url,
        secret_sealed=seal(ctx.rt.kek, secret.encode(), bound_to=hook_id),
        timeout_ms=round(timeout_seconds * 1000),
        failure_policy=cast(FailurePolicy, failure_policy),
        enabled=True,
        created_at=ctx.now(),
    )
    async with ctx.writing() as tx:
        await tx.add_hook(hook)
        await tx.bump_config_version()
        record_change(ctx, actor, "create_hook", hook_id=hook.id)
    ctx.rt.config.forget()
    return NewHook(hook=hook, secret=secret)


async def delete_hook(ctx: Context, hook_id: str, *, actor: Actor) -> None:
    async with ctx.writing() as tx:
        if not await tx.delete_hook(hook_id):
            raise NotFound(code="inexistent_hook")
        await tx.bump_config_version()
        record_change(ctx, actor, "delete_hook", hook_id=hook_id)
    ctx.rt.config.forget()


def describe_hook(hook: Hook) -> dict[str, Any]:
    return {
        "id": hook.id,
        "trigger": hook.trigger,
        "url": hook.url,
        "timeout_seconds": hook.timeout_ms / 1000,
        "failure_policy": hook.failure_policy,
        "enabled": hook.enabled,
        "created_at": hook.created_at.isoformat().replace("+00:00", "Z"),
    }
