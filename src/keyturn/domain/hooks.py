"""Hooks (what Auth0 calls Actions): URLs Keyturn calls before a sign-up and after each sign-in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

HookTrigger = Literal["post-login", "pre-user-registration"]
TRIGGERS: tuple[HookTrigger, ...] = ("post-login", "pre-user-registration")
FailurePolicy = Literal["deny", "allow"]


@dataclass(frozen=True)
class Hook:
    id: str
    trigger: HookTrigger
    url: str
    secret_sealed: bytes  # HMAC key, sealed under the KEK (see keyturn.sealing)
    timeout_ms: int
    failure_policy: FailurePolicy  # what a timeout, error or bad answer means
    enabled: bool
    created_at: datetime
