"""Tenant settings: what Auth0 calls the connection and Ory the identity config.

Stored in the database (so every worker and instance sees one truth), seeded from
the process config, and changed through `keyturn config patch` or the API.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import ip_address, ip_network
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from keyturn.domain.assurance import MfaPolicy
from keyturn.domain.branding import Branding
from keyturn.domain.traits import DEFAULT_SCHEMA, IdentitySchema, SchemaInvalid, check_schema

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

    attestation: Literal["none", "indirect", "direct", "enterprise"] = Field(
        "none",
        description=(
            "Attestation conveyance asked for at registration. none: not asked; indirect: asked, "
            "verified against the FIDO Metadata Service when possible and recorded; direct and "
            "enterprise: a statement that does not verify against the stored MDS blob is refused "
            "(attestation_untrusted). Authenticators MDS reports as revoked or compromised are "
            "refused whenever attestation is asked for."
        ),
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


CaptchaProvider = Literal["none", "turnstile", "hcaptcha", "recaptcha"]
CAPTCHA_SECRET_BINDING = "attack_protection.captcha.secret"  # noqa: S105 - what the seal is bound to


@dataclass(frozen=True)
class CaptchaProtocol:
    """What a provider documents: its siteverify URL, its script and frame origins (for the
    pages' CSP and the script tag), and the form field its widget fills with the token."""

    verify_url: str
    script_url: str
    origins: tuple[str, ...]
    response_field: str


CAPTCHA_PROTOCOLS: dict[str, CaptchaProtocol] = {
    "turnstile": CaptchaProtocol(
        verify_url="https://challenges.cloudflare.com/turnstile/v0/siteverify",
        script_url="https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit",
        origins=("https://challenges.cloudflare.com",),
        response_field="cf-turnstile-response",
    ),
    "hcaptcha": CaptchaProtocol(
        verify_url="https://api.hcaptcha.com/siteverify",
        script_url="https://js.hcaptcha.com/1/api.js?render=explicit",
        origins=("https://hcaptcha.com", "https://*.hcaptcha.com"),
        response_field="h-captcha-response",
    ),
    "recaptcha": CaptchaProtocol(
        verify_url="https://www.google.com/recaptcha/api/siteverify",
        script_url="https://www.google.com/recaptcha/api.js?render=explicit",
        origins=(
            "https://www.google.com/recaptcha/",
            "https://www.gstatic.com/recaptcha/",
            "https://recaptcha.google.com/recaptcha/",
        ),
        response_field="g-recaptcha-response",
    ),
}


class AfterFailures(_Strict):
    after_failures: int = Field(ge=1, le=100000, description="Failed sign-ins from the address first.")


def _http_url(value: str | None) -> str | None:
    """An https URL (a secret or a page's script travels over it); http only on loopback."""
    if value is not None:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.fragment:
            raise ValueError(f"{value!r} is not an http(s) URL")
        if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
            raise ValueError(f"{value!r} must be https (http only on loopback)")
    return value


class CaptchaSettings(_Strict):
    """Passwords only (a passkey is never asked): a captcha on password sign-up and sign-in.

    The secret is written as `secret` (`keyturn config patch`, the API) and kept only sealed
    under the key-encryption key, as hook secrets are: no view of the settings shows it.
    """

    provider: CaptchaProvider = "none"
    site_key: str = Field("", max_length=200)
    secret_sealed: str | None = Field(
        None, description="The provider's secret, sealed under the KEK (set it as `secret`)."
    )
    verify_url: str | None = Field(None, description="Default: the provider's documented siteverify URL.")
    script_url: str | None = Field(
        None, description="Default: the provider's script (its origin is in the CSP)."
    )
    recaptcha_version: Literal["v2", "v3"] = "v2"
    min_score: float = Field(0.5, ge=0, le=1, description="reCAPTCHA v3: the lowest score accepted.")
    when: Literal["always"] | AfterFailures = Field(
        "always", description='"always", or {"after_failures": N} failed sign-ins from the address.'
    )
    timeout_seconds: float = Field(3.0, gt=0, le=30, description="A slower provider fails closed.")

    _valid_urls = field_validator("verify_url", "script_url")(_http_url)

    @model_validator(mode="after")
    def _complete(self) -> CaptchaSettings:
        if self.provider != "none" and not (self.site_key and self.secret_sealed):
            raise ValueError(f"captcha provider {self.provider!r} needs a site_key and a secret")
        return self

    @property
    def on(self) -> bool:
        return self.provider != "none"

    @property
    def protocol(self) -> CaptchaProtocol | None:
        return CAPTCHA_PROTOCOLS.get(self.provider)

    @property
    def resolved_script_url(self) -> str | None:
        """reCAPTCHA v3 loads with the site key as `render` (its documented form)."""
        protocol = self.protocol
        if protocol is None:
            return None
        if self.script_url:
            return self.script_url
        if self.provider == "recaptcha" and self.recaptcha_version == "v3":
            return f"https://www.google.com/recaptcha/api.js?render={quote(self.site_key)}"
        return protocol.script_url

    @property
    def resolved_verify_url(self) -> str | None:
        protocol = self.protocol
        return (self.verify_url or protocol.verify_url) if protocol else None

    @property
    def csp_origins(self) -> tuple[str, ...]:
        """The script and frame origins the pages must allow: exactly the provider's (or the
        configured script's origin), nothing when off."""
        protocol = self.protocol
        if protocol is None:
            return ()
        if self.script_url:
            parts = urlsplit(self.script_url)
            return (f"{parts.scheme}://{parts.netloc}",)
        return protocol.origins


_RATE = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(\d+)?\s*(second|minute|hour|day)s?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@lru_cache(maxsize=256)
def rate_of(text: str) -> tuple[int, int]:
    """`"300/minute"`, `"5 per hour"`, `"10/5 minutes"` → (limit, window seconds); a ValueError
    for anything else. Windows from a second to a day."""
    match = _RATE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a rate like 300/minute, 5/hour or 10/5 minutes")
    limit, multiple, unit = int(match[1]), int(match[2] or 1), match[3].lower()
    seconds = multiple * _UNIT_SECONDS[unit]
    if not 1 <= limit <= 10_000_000 or not 1 <= seconds <= 86_400:
        raise ValueError(f"{text!r}: 1 to 10,000,000 requests, per a second up to a day")
    return limit, seconds


def _normalize_rate(value: str | None) -> str | None:
    """A rate as written back: `300/minute`, `10/5 minutes` (None: not limited)."""
    if value is None:
        return None
    limit, _ = rate_of(value)
    match = _RATE.match(value)
    assert match is not None  # rate_of accepted it
    multiple, unit = int(match[2] or 1), match[3].lower()
    return f"{limit}/{unit}" if multiple == 1 else f"{limit}/{multiple} {unit}s"


class EndpointRateLimit(_Strict):
    """Requests to one group of endpoints: per client address, and per identifier where the
    request names one (the email asked about, the code tried). `null` does not limit."""

    per_ip: str | None = Field(None, description="e.g. 300/minute: requests from one address.")
    per_identifier: str | None = Field(None, description="e.g. 20/minute: requests naming one identifier.")

    _valid_rates = field_validator("per_ip", "per_identifier")(_normalize_rate)


class ClientRateLimit(_Strict):
    """Requests of one OAuth client (its client_id; /api/v2: the token's azp), and per address."""

    per_client: str | None = Field(None, description="e.g. 1200/minute: requests by one client.")
    per_ip: str | None = Field(None, description="Requests from one address, whatever the client.")

    _valid_rates = field_validator("per_client", "per_ip")(_normalize_rate)


class EndpointRateLimits(_Strict):
    """Caps on how often each endpoint may be called (429 with Retry-After past them); which
    endpoint counts against which group is `keyturn.flows.rate_limits.ENDPOINTS`."""

    enabled: bool = True
    allowlist: list[str] = Field(
        default_factory=list, description="Addresses or CIDR ranges exempt from the per-IP limits."
    )
    passkey_options: EndpointRateLimit = EndpointRateLimit(per_ip="300/minute")
    identifier: EndpointRateLimit = EndpointRateLimit(per_ip="100/minute", per_identifier="20/minute")
    signup: EndpointRateLimit = EndpointRateLimit(per_identifier="10/minute")
    recovery: EndpointRateLimit = EndpointRateLimit(per_ip="30/hour", per_identifier="5/hour")
    verification_email: EndpointRateLimit = EndpointRateLimit(per_ip="30/hour", per_identifier="5/hour")
    email_code: EndpointRateLimit = EndpointRateLimit(per_ip="30/minute")
    token: ClientRateLimit = ClientRateLimit(per_client="3000/minute")
    management_api: ClientRateLimit = ClientRateLimit(per_client="1200/minute")
    redis_only: list[str] = Field(
        default_factory=lambda: ["passkey_options"],
        description=(
            "Groups counted only when the counters are in Redis. Passkey options write nothing, so "
            "counting them in the database would add a write transaction to every sign-in."
        ),
    )

    _valid_allowlist = field_validator("allowlist")(normalize_networks)

    @model_validator(mode="after")
    def _known_groups(self) -> EndpointRateLimits:
        groups = self.groups()
        unknown = [name for name in self.redis_only if name not in groups]
        if unknown:
            raise ValueError(f"redis_only: {unknown} are not rate-limit groups ({', '.join(groups)})")
        return self

    @classmethod
    def groups(cls) -> list[str]:
        return [
            name
            for name, field in cls.model_fields.items()
            if field.annotation in (EndpointRateLimit, ClientRateLimit)
        ]


class AttackProtection(_Strict):
    brute_force: BruteForceProtection = BruteForceProtection()
    suspicious_ip: SuspiciousIpThrottling = SuspiciousIpThrottling()
    captcha: CaptchaSettings = CaptchaSettings()
    rate_limits: EndpointRateLimits = EndpointRateLimits()


class BreachedPasswords(_Strict):
    """Credential Guard: passwords found in breaches (never passkeys).

    `range_api`: k-anonymity, only the first 5 hex digits of the password's SHA-1 leave
    Keyturn (the Pwned Passwords range protocol); `file`: an offline list of `HASH:COUNT`
    (or bare `HASH`) lines of upper-case SHA-1, as the HIBP downloader writes, sorted.
    """

    mode: Literal["off", "range_api", "file"] = "off"
    range_url: str = Field("https://api.pwnedpasswords.com/range/", description="GET <range_url><prefix>.")
    file: str | None = Field(None, description="mode=file: the path of the sorted SHA-1 list.")
    on_sign_in: Literal["allow", "flag", "block"] = Field(
        "block", description="A breached password at sign-in: sign in, flag it (pwd_leak) or refuse."
    )
    on_unavailable: Literal["allow", "refuse"] = Field(
        "allow", description="A range API down or slow: fail open (as Auth0) or refuse the password."
    )
    timeout_seconds: float = Field(2.0, gt=0, le=30)

    _valid_url = field_validator("range_url")(_http_url)

    @model_validator(mode="after")
    def _file_named(self) -> BreachedPasswords:
        if self.mode == "file" and not self.file:
            raise ValueError("password_policy.breached.mode file needs a file path")
        return self


class MfaOptions(_Strict):
    """Second factors (issue 12): when a sign-in must prove one after its first factor."""

    policy: MfaPolicy = Field(
        "never",
        description=(
            "never; optional (users who enrolled a second factor are asked for it); required "
            "(users without one enroll one at their next sign-in, before the session)."
        ),
    )
    passkey_satisfies: bool = Field(
        True,
        description=(
            "A user-verified passkey counts as two factors (no second-factor step); false asks "
            "passkey users too. A passkey used without user verification never satisfies MFA."
        ),
    )


class PasswordPolicy(_Strict):
    breached: BreachedPasswords = BreachedPasswords()


LocaleTag = Literal["en", "de", "fr", "es", "ja"]  # one per catalogue in keyturn/i18n/locale
SHIPPED_LOCALES: tuple[LocaleTag, ...] = ("en", "de", "fr", "es", "ja")


def _empty_texts() -> dict[LocaleTag, dict[str, str]]:
    return {locale: {} for locale in SHIPPED_LOCALES}


class UiSettings(_Strict):
    """The hosted pages' and emails' languages, and the operator's own texts (Auth0's custom text)."""

    default_locale: LocaleTag = Field(
        "en", description="When neither ui_locales nor Accept-Language names an enabled locale."
    )
    locales: list[LocaleTag] = Field(
        default_factory=lambda: list(SHIPPED_LOCALES), min_length=1, description="The locales offered."
    )
    texts: dict[LocaleTag, dict[str, str]] = Field(
        default_factory=_empty_texts,
        description="Overrides by locale: a message id (errors) or the English text (the rest) → text.",
    )

    @field_validator("locales")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each locale once")
        return value

    @field_validator("texts")
    @classmethod
    def _bounded(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for texts in value.values():
            if len(texts) > 2000:
                raise ValueError("at most 2000 texts per locale")
            for key, text in texts.items():
                if not 1 <= len(key) <= 2000 or len(text) > 4000:
                    raise ValueError("a text's key is 1 to 2000 characters, its text at most 4000")
        return value

    @model_validator(mode="after")
    def _default_enabled(self) -> UiSettings:
        if self.default_locale not in self.locales:
            raise ValueError(f"default_locale {self.default_locale!r} must be one of locales")
        return self


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
    password_policy: PasswordPolicy = PasswordPolicy()
    recovery: RecoveryOptions = RecoveryOptions()
    verification: VerificationOptions = VerificationOptions()
    notifications: NotificationOptions = NotificationOptions()
    branding: Branding = Branding()
    ui: UiSettings = UiSettings()
    mfa: MfaOptions = MfaOptions()

    @property
    def product_name(self) -> str:
        """The name pages and emails show: the brand's, else the relying party's."""
        return self.branding.product_name or self.rp.display_name

    identity_schema: dict[str, Any] = Field(
        default_factory=lambda: copy.deepcopy(DEFAULT_SCHEMA),
        description=(
            "The users' traits as a JSON Schema (draft 2020-12), with x-keyturn keywords for the "
            "pages, the passkey's display name and the OIDC claims (keyturn.domain.traits)."
        ),
    )

    @field_validator("identity_schema")
    @classmethod
    def _valid_identity_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            check_schema(value)
        except SchemaInvalid as exc:
            raise ValueError(str(exc)) from None
        return value

    @property
    def identity(self) -> IdentitySchema:
        return IdentitySchema(self.identity_schema)

    @model_validator(mode="after")
    def _one_method_enabled(self) -> TenantSettings:
        methods = self.authentication_methods
        if not (methods.password.enabled or methods.passkey.enabled):
            raise ValueError("at least one of password and passkey must stay enabled")
        return self
