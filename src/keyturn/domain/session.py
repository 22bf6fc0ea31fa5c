"""Server-side sessions and the methods that authenticated them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from ua_parser import parse

from keyturn.domain.assurance import AMR_MFA
from keyturn.domain.methods import AMR, SECOND_FACTORS, MethodId

# A session's last-active time is stored only when it is this much older than the request:
# at most one write a minute per session, never one per page view.
ACTIVITY_STEP = timedelta(minutes=1)


@dataclass(frozen=True)
class AuthEvent:
    """One proof in a session. `user_verified` is False for a passkey used without user
    verification (it can never satisfy MFA); `attested_device_bound` is True for a passkey
    whose attestation was verified as device-bound (what `phrh` needs); `multi_factor` is True
    for a user-verified passkey that counted as two factors (`mfa.passkey_satisfies` when it
    was used), so the session's `amr` keeps saying so whatever the setting becomes."""

    method: MethodId
    at: datetime
    user_verified: bool = True
    attested_device_bound: bool = False
    multi_factor: bool = False


def proves_mfa(events: tuple[AuthEvent, ...]) -> bool:
    """Two factors were proved: a first factor and a second one, or a passkey that counted as both."""
    if any(e.multi_factor and e.user_verified for e in events):
        return True
    first = any(e.method not in SECOND_FACTORS for e in events)
    return first and any(e.method in SECOND_FACTORS for e in events)


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
    last_active_at: datetime | None = None  # moved at most once a minute (`ACTIVITY_STEP`)

    @property
    def amr(self) -> list[str]:
        """The `amr` claim values, in the order the methods were used, then "mfa" when two
        factors were proved (RFC 8176)."""
        return amr_of(self.authenticated)

    @property
    def auth_time(self) -> datetime:
        return max(event.at for event in self.authenticated)

    @property
    def last_active(self) -> datetime:
        return self.last_active_at or self.created_at


def amr_of(events: tuple[AuthEvent, ...]) -> list[str]:
    seen: list[str] = []
    for event in events:
        value = AMR[event.method]
        if value not in seen:
            seen.append(value)
    if proves_mfa(events):
        seen.append(AMR_MFA)
    return seen


@lru_cache(maxsize=1024)
def device_parts(user_agent: str) -> tuple[str, str]:
    """(browser, system) a person recognises a session by: ("Chrome", "macOS"); "" when unknown."""
    parsed = parse(user_agent)
    browser = parsed.user_agent.family if parsed.user_agent else ""
    system = parsed.os.family if parsed.os else ""
    browser = {"HeadlessChrome": "Chrome", "Mobile Safari": "Safari", "Chrome Mobile": "Chrome"}.get(
        browser, browser
    )
    system = {"Mac OS X": "macOS"}.get(system, system)
    return ("" if browser == "Other" else browser), ("" if system == "Other" else system)


def device_name(user_agent: str) -> str:
    """What a person recognises a session by, in English: "Chrome on macOS", "Safari on iOS"."""
    browser, system = device_parts(user_agent)
    if browser:
        return f"{browser} on {system}" if system else browser
    return "Unknown device" if not user_agent else user_agent[:40]
