"""Tenant settings: what Auth0 calls the connection and Ory the identity config.

Stored in the database (so every worker and instance sees one truth), seeded from
the process config, and changed through `keyturn config patch` or the API.
"""

from __future__ import annotations

import re
from ipaddress import ip_address, ip_network
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
# The tenant's one database connection, named as Auth0 names its default one.
CONNECTION_NAME = "Username-Password-Authentication"
CONNECTION_ID = "con_keyturn"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RelyingParty(_Strict):
    id: str = Field("localhost", description="WebAuthn RP ID: the domain passkeys are bound to.")
    origins: list[str] = Field(
        default_factory=lambda: ["http://localhost:8000"],
        description="Exact origins allowed to run ceremonies (scheme://host[:port]).",
    )
    display_name: str = Field("Keyturn", min_length=1, max_length=64)
    related_origins: list[str] = Field(
        default_factory=list,
        description="Other https origins allowed to use these passkeys (served at /.well-known/webauthn).",
    )

    @field_validator("related_origins")
    @classmethod
    def _https_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            parts = urlsplit(origin)
            if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/"):
                raise ValueError(f"{origin!r} is not an https origin")
        return [origin.rstrip("/") for origin in value]

    @property
    def accepted_origins(self) -> list[str]:
        """Where ceremonies may run: the RP's own origins, then its related origins."""
        return [*self.origins, *self.related_origins]

    @field_validator("id")
    @classmethod
    def _valid_domain(cls, value: str) -> str:
        if not _DOMAIN.match(value) or value.rsplit(".", 1)[-1].isdigit():
            raise ValueError("must be a lower-case domain name such as example.com (not an IP address)")
        return value

    @field_validator("origins")
    @classmethod
    def _valid_origins(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one origin is required")
        for origin in value:
            parts = urlsplit(origin)
            if parts.scheme not in ("https", "http") or not parts.hostname:
                raise ValueError(f"{origin!r} is not an origin like https://example.com")
            if parts.path not in ("", "/") or parts.query or parts.fragment:
                raise ValueError(f"{origin!r} must be an origin: scheme, host and port only")
            if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
                raise ValueError(f"{origin!r}: WebAuthn needs https except on localhost")
        return [origin.rstrip("/") for origin in value]

    @model_validator(mode="after")
    def _origins_within_rp_id(self) -> RelyingParty:
        for origin in self.origins:
            host = urlsplit(origin).hostname or ""
            if host != self.id and not host.endswith("." + self.id):
                raise ValueError(
                    f"origin {origin!r} is not {self.id!r} or one of its subdomains, "
                    "so browsers would refuse passkeys for it"
                )
        return self


class MethodToggle(_Strict):
    enabled: bool = True


class AuthenticationMethods(_Strict):
    password: MethodToggle = MethodToggle()
    passkey: MethodToggle = MethodToggle()


_AAGUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class PasskeyOptions(_Strict):
    challenge_ui: Literal["both", "autofill", "button"] = Field(
        "both", description="How /login offers passkeys: autofill, a button, or both."
    )
    progressive_enrollment_enabled: bool = Field(
        True, description="After a password sign-in, offer a passkey to users who have none."
    )
    progressive_enrollment_mode: Literal["prompt", "automatic", "both"] = Field(
        "both",
        description=(
            "prompt: a Create a passkey page; automatic: the browser's password manager adds one "
            "with no prompt (conditional create); both: automatic first, then the page."
        ),
    )
    progressive_enrollment_snooze_days: int = Field(
        14, ge=1, le=365, description="How long Not now keeps the offer away from that user."
    )
    local_enrollment_enabled: bool = Field(
        True,
        description="After a sign-in with a passkey from another device (QR code), offer one on this device.",
    )
    max_passkeys_per_user: int = Field(20, ge=1, le=100)
    user_verification: Literal["required", "preferred"] = "required"
    allowed_credential_types: Literal["any", "device_bound", "synced"] = Field(
        "any",
        description=(
            "Which passkeys may be registered and used: any; device_bound (the credential can "
            "never leave its authenticator: WebAuthn's backup-eligible flag clear); or synced."
        ),
    )
    aaguid_allowlist: list[str] = Field(
        default_factory=list,
        max_length=500,
        description="Only authenticators of these models (AAGUIDs) may be used; empty: any model.",
    )
    aaguid_denylist: list[str] = Field(
        default_factory=list,
        max_length=500,
        description="Authenticator models (AAGUIDs) that may not be registered or used.",
    )

    @field_validator("aaguid_allowlist", "aaguid_denylist")
    @classmethod
    def _aaguids(cls, value: list[str]) -> list[str]:
        cleaned = []
        for aaguid in value:
            lowered = aaguid.strip().lower()
            if not _AAGUID.fullmatch(lowered):
                raise ValueError(f"{aaguid!r} is not an AAGUID (8-4-4-4-12 hexadecimal digits)")
            cleaned.append(lowered)
        return sorted(set(cleaned))

    @property
    def offers_autofill(self) -> bool:
        return self.challenge_ui in ("both", "autofill")

    @property
    def offers_button(self) -> bool:
        return self.challenge_ui in ("both", "button")

    @property
    def enrollment_prompts(self) -> bool:
        return self.progressive_enrollment_mode in ("both", "prompt")

    @property
    def enrollment_automatic(self) -> bool:
        return self.progressive_enrollment_mode in ("both", "automatic")


class LoginOptions(_Strict):
    reveal_account_existence: bool = Field(
        False,
        description=(
            "Opt in to telling people an email has no account. Off by default: "
            "identifier-first answers the same for known and unknown emails."
        ),
    )


class RecoveryOptions(_Strict):
    enabled: bool = Field(True, description='Offer "Can\'t sign in?" on /login: recovery by email.')
    lifetime_seconds: int = Field(
        900, ge=60, le=86400, description="How long a recovery link and code work (single use)."
    )


class VerificationOptions(_Strict):
    mode: Literal["after_signup", "before_signup", "off"] = Field(
        "after_signup",
        description=(
            "after_signup: the account works at once and is sent a link and a code; before_signup: "
            "the email is proven by a code before the account is created; off: no verification."
        ),
    )
    lifetime_seconds: int = Field(
        3600, ge=60, le=604800, description="How long a verification link and code work (single use)."
    )


class NotificationOptions(_Strict):
    """Security notifications emailed to the account's address; each can be turned off."""

    passkey_added: bool = True
    passkey_removed: bool = True
    password_set: bool = True
    password_changed: bool = True
    password_removed: bool = True
    email_changed: bool = True
    recovery_used: bool = True


class AndroidApp(_Strict):
    package_name: str = Field(min_length=1, max_length=255)
    sha256_cert_fingerprints: list[str] = Field(min_length=1)

    @field_validator("sha256_cert_fingerprints")
    @classmethod
    def _fingerprints(cls, value: list[str]) -> list[str]:
        for fingerprint in value:
            if not re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", fingerprint):
                raise ValueError(f"{fingerprint!r} is not an upper-case colon-separated SHA-256 fingerprint")
        return value


class NativeApps(_Strict):
    """Apps that share these passkeys: served as apple-app-site-association and assetlinks.json."""

    apple_app_ids: list[str] = Field(default_factory=list, description="TEAMID.bundle.id entries.")
    android: list[AndroidApp] = Field(default_factory=list)

    @field_validator("apple_app_ids")
    @classmethod
    def _app_ids(cls, value: list[str]) -> list[str]:
        for app_id in value:
            if not re.fullmatch(r"[A-Z0-9]{10}\.[A-Za-z0-9.-]+", app_id):
                raise ValueError(f"{app_id!r} is not TEAMID.bundle.id")
        return value


def normalize_networks(value: list[str]) -> list[str]:
    """Addresses or CIDR ranges, each checked and written as a network (one rule for every list)."""
    normalised = []
    for entry in value:
        try:
            normalised.append(str(ip_network(entry, strict=False)))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR range") from None
    return normalised


def in_allowlist(address: str, allowlist: list[str]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in ip_network(entry) for entry in allowlist)


class BruteForceProtection(_Strict):
    """Passwords only: failed passwords for one identifier from one address block that pair."""

    enabled: bool = True
    max_attempts: int = Field(10, ge=1, le=100, description="Failed passwords before the block.")
    block_minutes: int = Field(
        60, ge=0, le=525600, description="How long a block lasts; 0 = until unblocked."
    )
    allowlist: list[str] = Field(default_factory=list, description="Addresses or CIDR ranges never blocked.")

    _valid_allowlist = field_validator("allowlist")(normalize_networks)


class SuspiciousIpThrottling(_Strict):
    """Every method, passkeys included: per address, failed sign-ins (any accounts) and sign-ups."""

    enabled: bool = True
    max_attempts: int = Field(100, ge=1, le=100000)
    attempts_refill_seconds: float = Field(864, gt=0, le=86400, description="One attempt back per this.")
    max_signups: int = Field(50, ge=1, le=100000)
    signups_refill_seconds: float = Field(1.2, gt=0, le=86400, description="One sign-up back per this.")
    allowlist: list[str] = Field(default_factory=list, description="Addresses or CIDR ranges exempt.")

    _valid_allowlist = field_validator("allowlist")(normalize_networks)


class AttackProtection(_Strict):
    brute_force: BruteForceProtection = BruteForceProtection()
    suspicious_ip: SuspiciousIpThrottling = SuspiciousIpThrottling()


class TenantSettings(_Strict):
    rp: RelyingParty = RelyingParty()
    authentication_methods: AuthenticationMethods = AuthenticationMethods()
    passkey_options: PasskeyOptions = PasskeyOptions()
    login: LoginOptions = LoginOptions()
    native_apps: NativeApps = NativeApps()
    privileged_session_max_age: int = Field(
        900,
        ge=0,
        le=86_400,
        description=(
            "Seconds after a sign-in during which sensitive account changes need no "
            "re-authentication (Confirm it's you)."
        ),
    )
    attack_protection: AttackProtection = AttackProtection()
    recovery: RecoveryOptions = RecoveryOptions()
    verification: VerificationOptions = VerificationOptions()
    notifications: NotificationOptions = NotificationOptions()

    @model_validator(mode="after")
    def _one_method_enabled(self) -> TenantSettings:
        methods = self.authentication_methods
        if not (methods.password.enabled or methods.passkey.enabled):
            raise ValueError("at least one of password and passkey must stay enabled")
        return self
