"""Tenant settings: what Auth0 calls the connection and Ory the identity config.

Stored in the database (so every worker and instance sees one truth), seeded from
the process config, and changed through `keyturn config patch` or the API.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RelyingParty(_Strict):
    id: str = Field("localhost", description="WebAuthn RP ID: the domain passkeys are bound to.")
    origins: list[str] = Field(
        default_factory=lambda: ["http://localhost:8000"],
        description="Exact origins allowed to run ceremonies (scheme://host[:port]).",
    )
    display_name: str = Field("Keyturn", min_length=1, max_length=64)

    @field_validator("id")
    @classmethod
    def _valid_domain(cls, value: str) -> str:
        if not _DOMAIN.match(value):
            raise ValueError("must be a lower-case domain name such as example.com")
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


class PasskeyOptions(_Strict):
    challenge_ui: Literal["both", "autofill", "button"] = Field(
        "both", description="How /login offers passkeys: autofill, a button, or both."
    )
    progressive_enrollment_enabled: bool = True
    local_enrollment_enabled: bool = True
    max_passkeys_per_user: int = Field(20, ge=1, le=100)
    user_verification: Literal["required", "preferred"] = "required"

    @property
    def offers_autofill(self) -> bool:
        return self.challenge_ui in ("both", "autofill")

    @property
    def offers_button(self) -> bool:
        return self.challenge_ui in ("both", "button")


class LoginOptions(_Strict):
    reveal_account_existence: bool = Field(
        False,
        description=(
            "Opt in to telling people an email has no account. Off by default: "
            "identifier-first answers the same for known and unknown emails."
        ),
    )


class TenantSettings(_Strict):
    rp: RelyingParty = RelyingParty()
    authentication_methods: AuthenticationMethods = AuthenticationMethods()
    passkey_options: PasskeyOptions = PasskeyOptions()
    login: LoginOptions = LoginOptions()

    @model_validator(mode="after")
    def _one_method_enabled(self) -> TenantSettings:
        methods = self.authentication_methods
        if not (methods.password.enabled or methods.passkey.enabled):
            raise ValueError("at least one of password and passkey must stay enabled")
        return self
