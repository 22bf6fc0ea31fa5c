"""Codes and links sent by email to prove that someone reads an address: account recovery,
email verification (after or before sign-up) and a change of email.

Only their hashes are stored: the 6-digit code as an HMAC under the instance's key (bound to
the row, so a leaked table cannot be searched with one precomputed list), the link's token
as its SHA-256. A code dies when it is used, when it expires, or after `MAX_WRONG_CODES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

EmailCodePurpose = Literal["recovery", "verify", "signup", "change_email"]
MAX_WRONG_CODES = 5
CODE_DIGITS = 6


@dataclass(frozen=True)
class EmailCode:
    id: str
    purpose: EmailCodePurpose
    user_id: str | None  # None when the address has no account (the same work is done for it)
    email: str  # where the code was sent (for a change of email: the new address)
    code_hash: str
    link_hash: str | None
    binding_hash: str  # the browser that asked: only it may use the link
    attempts: int  # wrong codes so far
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None  # the code or link was accepted
    completed_at: datetime | None = None  # what it allowed was done (recovery: the one change)

    def usable(self, now: datetime) -> bool:
        return self.used_at is None and self.attempts < MAX_WRONG_CODES and self.expires_at > now
