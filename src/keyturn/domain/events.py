"""Log events with Auth0's type codes, so operators' dashboards and scripts read them as-is.

An event never carries a password, token, secret or challenge: only ids, codes and facts.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from keyturn.domain.text import storable


class EventType(StrEnum):
    SUCCESS_SIGNUP = "ss"
    FAILED_SIGNUP = "fs"
    SUCCESS_LOGIN = "s"
    FAILED_LOGIN = "f"
    FAILED_LOGIN_PASSWORD = "fp"  # noqa: S105 - an event code
    FAILED_LOGIN_USERNAME = "fu"
    PASSKEY_CHALLENGE_STARTED = "passkey_challenge_started"
    PASSKEY_CHALLENGE_FAILED = "passkey_challenge_failed"
    ENROLLMENT_COMPLETE = "gd_enrollment_complete"
    ENROLLMENT_OFFERED = "passkey_enrollment_offered"  # Keyturn's own: the offer after a sign-in
    WEBAUTHN_ENROLLMENT_FAILED = "gd_webauthn_enrollment_failed"
    AUTHENTICATOR_REMOVED = "gd_unenroll"
    GD_START_AUTH = "gd_start_auth"
    GD_AUTH_SUCCEED = "gd_auth_succeed"
    GD_AUTH_FAILED = "gd_auth_failed"
    GD_RECOVERY_SUCCEED = "gd_recovery_succeed"
    GD_OTP_RATE_LIMIT = "gd_otp_rate_limit_exceed"
    SUCCESS_LOGOUT = "slo"
    SUCCESS_EXCHANGE_CODE = "seacft"
    FAILED_EXCHANGE_CODE = "feacft"
    SUCCESS_EXCHANGE_REFRESH = "sertft"
    FAILED_EXCHANGE_REFRESH = "fertft"
    SUCCESS_EXCHANGE_CLIENT_CREDENTIALS = "seccft"
    FAILED_EXCHANGE_CLIENT_CREDENTIALS = "feccft"
    SUCCESS_CHANGE_PASSWORD = "scp"  # noqa: S105 - an event code
    SUCCESS_CHANGE_EMAIL = "sce"
    SUCCESS_CHANGE_PASSWORD_REQUEST = "scpr"  # noqa: S105 - an event code
    FAILED_CHANGE_PASSWORD_REQUEST = "fcpr"  # noqa: S105 - an event code
    FAILED_CHANGE_PASSWORD = "fcp"  # noqa: S105 - an event code
    SUCCESS_VERIFICATION_EMAIL = "sv"
    FAILED_VERIFICATION_EMAIL = "fv"
    SUCCESS_VERIFICATION_EMAIL_REQUEST = "svr"
    SUCCESS_API_OPERATION = "sapi"
    FAILED_API_OPERATION = "fapi"
    BLOCKED_ACCOUNT = "limit_wc"
    BLOCKED_IP_LOGIN = "limit_mu"
    BLOCKED_IP_SIGNUP = "limit_sul"
    BREACHED_PASSWORD_LOGIN = "pwd_leak"  # noqa: S105 - an event code
    BREACHED_PASSWORD_SIGNUP = "signup_pwd_leak"  # noqa: S105 - an event code
    BREACHED_PASSWORD_CHANGE = "reset_pwd_leak"  # noqa: S105 - an event code
    HOOK_CALLED = "hook_called"
    EMAIL_SENT = "email_sent"
    EMAIL_FAILED = "email_failed"


DESCRIPTIONS: dict[EventType, str] = {
    EventType.SUCCESS_SIGNUP: "Successful signup",
    EventType.FAILED_SIGNUP: "Failed signup",
    EventType.SUCCESS_LOGIN: "Successful login",
    EventType.FAILED_LOGIN: "Failed login",
    EventType.FAILED_LOGIN_PASSWORD: "Wrong email or password.",
    EventType.FAILED_LOGIN_USERNAME: "Wrong email or password.",
    EventType.PASSKEY_CHALLENGE_STARTED: "Passkey challenge started",
    EventType.PASSKEY_CHALLENGE_FAILED: "Passkey challenge failed",
    EventType.ENROLLMENT_COMPLETE: "Passkey enrollment complete",
    EventType.ENROLLMENT_OFFERED: "Passkey offered after a sign-in",
    EventType.WEBAUTHN_ENROLLMENT_FAILED: "Passkey enrollment failed",
    EventType.AUTHENTICATOR_REMOVED: "Passkey removed",
    EventType.GD_START_AUTH: "Second factor authentication started",
    EventType.GD_AUTH_SUCCEED: "Second factor authentication succeeded",
    EventType.GD_AUTH_FAILED: "Second factor authentication failed",
    EventType.GD_RECOVERY_SUCCEED: "Recovery code used",
    EventType.GD_OTP_RATE_LIMIT: "Too many wrong second-factor codes",
    EventType.SUCCESS_LOGOUT: "Successful logout",
    EventType.SUCCESS_EXCHANGE_CODE: "Authorization Code for Access Token",
    EventType.FAILED_EXCHANGE_CODE: "Failed exchange of Authorization Code for Access Token",
    EventType.SUCCESS_EXCHANGE_REFRESH: "Refresh Token for Access Token",
    EventType.FAILED_EXCHANGE_REFRESH: "Failed exchange of Refresh Token for Access Token",
    EventType.SUCCESS_EXCHANGE_CLIENT_CREDENTIALS: "Client Credentials for Access Token",
    EventType.FAILED_EXCHANGE_CLIENT_CREDENTIALS: "Failed exchange of Client Credentials for Access Token",
    EventType.SUCCESS_CHANGE_PASSWORD: "Password changed",
    EventType.SUCCESS_CHANGE_EMAIL: "Email changed",
    EventType.SUCCESS_CHANGE_PASSWORD_REQUEST: "Account recovery requested",
    EventType.FAILED_CHANGE_PASSWORD_REQUEST: "Failed account recovery request",
    EventType.FAILED_CHANGE_PASSWORD: "Failed to set a password",
    EventType.SUCCESS_VERIFICATION_EMAIL: "Email verified",
    EventType.FAILED_VERIFICATION_EMAIL: "Failed email verification",
    EventType.SUCCESS_VERIFICATION_EMAIL_REQUEST: "Verification email sent",
    EventType.SUCCESS_API_OPERATION: "Successful management API operation",
    EventType.FAILED_API_OPERATION: "Failed management API operation",
    EventType.BLOCKED_ACCOUNT: "Too many failed attempts: the account is blocked for a while",
    EventType.BLOCKED_IP_LOGIN: "An IP address is throttled: too many failed sign-ins across accounts",
    EventType.BLOCKED_IP_SIGNUP: "An IP address is throttled: too many sign-ups",
    EventType.BREACHED_PASSWORD_LOGIN: "Breached password used to sign in",
    EventType.BREACHED_PASSWORD_SIGNUP: "Breached password refused at sign-up",
    EventType.BREACHED_PASSWORD_CHANGE: "Breached password refused as a new password",
    EventType.HOOK_CALLED: "Hook called",
    EventType.EMAIL_SENT: "Email sent",
    EventType.EMAIL_FAILED: "Email could not be sent",
}


@dataclass(frozen=True)
class Requester:
    """Who is asking, as far as the logs, throttles and sessions need to know."""

    ip: str = ""
    user_agent: str = ""
    request_id: str = ""


@dataclass(frozen=True)
class Event:
    log_id: str  # sortable: checkpoint paging reads "everything after this id"
    date: datetime
    type: EventType
    description: str
    ip: str
    user_agent: str
    user_id: str | None = None
    user_name: str | None = None
    client_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


_sequence = itertools.count()


def new_log_id(event_time_ms: int) -> str:
    """Millisecond time, this process's sequence, then randomness: sorts by time (and within a
    process by recording order, even within one millisecond), unique across workers."""
    return f"{event_time_ms:013d}{next(_sequence) % 0x10000:04x}{secrets.token_hex(6)}"


def new_event(
    type: EventType,
    requester: Requester,
    *,
    now: datetime,
    user_id: str | None = None,
    user_name: str | None = None,
    client_id: str | None = None,
    description: str | None = None,
    details: dict[str, Any] | None = None,
) -> Event:
    return Event(
        log_id=new_log_id(int(now.timestamp() * 1000)),
        date=now,
        type=type,
        description=storable(description) if description else DESCRIPTIONS[type],
        ip=storable(requester.ip)[:64],
        user_agent=storable(requester.user_agent)[:512],
        user_id=user_id,
        user_name=storable(user_name)[:320] if user_name else None,
        client_id=storable(client_id) if client_id else client_id,
        details=storable(details or {}),
    )
