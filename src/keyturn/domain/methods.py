"""The ways to authenticate, named once: every session, `amr` claim, event and hook uses these.

`MethodId` is Keyturn's own name; `AMR` is the value it contributes to the ID token's `amr`
(RFC 8176; `phr` from the OpenID EAP ACR values for phishing-resistant passkeys);
`HOOK_NAME` is Auth0's name for it in a post-login event's `authentication.methods`.
"""

from __future__ import annotations

from typing import Literal

MethodId = Literal["passkey", "password", "totp", "security_key", "recovery_code"]
METHOD_IDS: tuple[MethodId, ...] = ("passkey", "password", "totp", "security_key", "recovery_code")
# Second factors: proved after a first factor, never a sign-in on their own (issue 12).
SECOND_FACTORS: frozenset[MethodId] = frozenset(("totp", "security_key", "recovery_code"))

# RFC 8176: an authenticator app's code and a recovery code are both one-time passwords ("otp");
# a security key is a hardware-secured key ("hwk").
AMR: dict[MethodId, str] = {
    "passkey": "phr",
    "password": "pwd",
    "totp": "otp",
    "security_key": "hwk",
    "recovery_code": "otp",
}
# Auth0 names every second factor "mfa" in a post-login event's `authentication.methods`.
HOOK_NAME: dict[MethodId, str] = {
    "passkey": "passkey",
    "password": "pwd",
    "totp": "mfa",
    "security_key": "mfa",
    "recovery_code": "mfa",
}

# How sessions stored before the method vocabulary was unified spell a method.
LEGACY_NAMES: dict[str, MethodId] = {"pwd": "password"}


def method_id(name: str) -> MethodId:
    """A stored or submitted name as a MethodId; raises ValueError for anything else."""
    resolved = LEGACY_NAMES.get(name, name)
    for known in METHOD_IDS:
        if resolved == known:
            return known
    raise ValueError(f"unknown authentication method {name!r}")
