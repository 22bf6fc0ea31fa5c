"""Brute-force blocks: one identifier (what was typed as the email) from one address."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class UserBlock:
    identifier: str
    ip: str
    user_id: str | None  # None when no account has this identifier (blocked all the same)
    blocked_at: datetime
    expires_at: datetime | None  # None: until the user or an operator unblocks it
