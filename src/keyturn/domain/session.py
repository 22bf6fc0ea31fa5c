"""Server-side sessions and the methods that authenticated them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from keyturn.domain.methods import AMR, MethodId


@dataclass(frozen=True)
class AuthEvent:
    method: MethodId
    at: datetime


@dataclass(frozen=True)
class Session:
    id: str
    user_id: str
    csrf_token: str
    authenticated: tuple[AuthEvent, ...]
    created_at: datetime
    expires_at: datetime
    user_agent: str
    ip: str

    @property
    def amr(self) -> list[str]:
        """The `amr` claim values, in the order the methods were used."""
        seen: list[str] = []
        for event in self.authenticated:
            value = AMR[event.method]
            if value not in seen:
                seen.append(value)
        return seen

    @property
    def auth_time(self) -> datetime:
        return max(event.at for event in self.authenticated)
