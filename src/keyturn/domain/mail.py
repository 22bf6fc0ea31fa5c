"""Email as the outbox keeps it: who it is for, which template, and its sealed content."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

MailState = Literal["queued", "sending", "sent", "failed"]


@dataclass(frozen=True)
class Mail:
    """A rendered message: what a transport sends."""

    to_address: str
    subject: str
    text: str
    html: str | None = None


@dataclass(frozen=True)
class OutboxEntry:
    id: str
    template: str
    to_address: str
    user_id: str | None
    sealed: bytes  # the Mail's subject and bodies, sealed under the KEK and bound to `id`
    state: MailState
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None = None
    last_error: str | None = None
