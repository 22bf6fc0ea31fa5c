"""A user's answer to the progressive-enrollment offer (a passkey after a password sign-in).

Stored per user (`enrollment_choices`): Not now sets `snoozed_until` (the tenant's
`progressive_enrollment_snooze_days` from then), Don't ask again sets `declined_at`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class EnrollmentChoice:
    user_id: str
    updated_at: datetime
    snoozed_until: datetime | None = None  # Not now: no offer before this
    declined_at: datetime | None = None  # Don't ask again: no offer ever

    def allows_offer(self, now: datetime) -> bool:
        if self.declined_at is not None:
            return False
        return self.snoozed_until is None or self.snoozed_until <= now
