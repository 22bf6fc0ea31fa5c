"""Registering post-login hooks (`keyturn hooks add`, POST /api/v2/hooks)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from keyturn.domain.hooks import FailurePolicy, Hook
from keyturn.errors import KeyturnError
from keyturn.ids import new_id
from keyturn.runtime import Runtime
from keyturn.sealing import seal

TRIGGERS = ("post-login",)


@dataclass(frozen=True)
class NewHook:
    hook: Hook
    secret: str  # shown once; Keyturn keeps it only sealed under the KEK


async def add_hook(
    rt: Runtime, *, trigger: str, url: str, timeout_seconds: float = 2.0, failure_policy: str = "deny"
) -> NewHook:
    if trigger not in TRIGGERS:
        raise KeyturnError(f"Unknown trigger {trigger!r}: use post-login.", code="invalid_trigger")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise KeyturnError(f"{url!r} is not an http(s) URL.", code="invalid_hook_url")
    if not 0.1 <= timeout_seconds <= 10:
        raise KeyturnError("The timeout must be between 0.1 and 10 seconds.", code="invalid_timeout")
    if failure_policy not in ("deny", "allow"):
        raise KeyturnError("The failure policy must be deny or allow.", code="invalid_failure_policy")
    hook_id = new_id()
    secret = secrets.token_urlsafe(32)
    hook = Hook(
        id=hook_id,
        trigger="post-login",
        url=url,
        secret_sealed=seal(rt.kek, secret.encode(), bound_to=hook_id),
        timeout_ms=round(timeout_seconds * 1000),
        failure_policy=cast(FailurePolicy, failure_policy),
        enabled=True,
        created_at=rt.clock.now(),
    )
    await rt.store.add_hook(hook)
    return NewHook(hook=hook, secret=secret)


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
