"""Process settings: where Keyturn listens and stores, from a config file and KEYTURN_* env.

Tenant settings (RP, methods, passkey options) live in the database instead: see
`keyturn.domain.tenant`. The `tenant` section here only seeds them on first start.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from keyturn.domain.tenant import TenantSettings, normalize_networks


class SettingsError(Exception):
    """A bad setting: the message names the key, and the start stops."""


class EmailSettings(BaseModel):
    """How Keyturn sends email. The SMTP password comes from the environment or a file, never
    from the database, and never reaches a log."""

    model_config = ConfigDict(extra="forbid")

    transport: Literal["file", "smtp"] = Field(
        "file",
        description="file: each message as an .eml under outbox_dir (development); smtp: a mail server.",
    )
    outbox_dir: Path | None = Field(
        None, description="Where the file transport writes; default <data_dir>/outbox."
    )
    smtp_host: str = "localhost"
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls (587), tls (465) or none (only for a local relay)."
    )
    smtp_username: str | None = None
    smtp_password: SecretStr | None = Field(None, description="Or smtp_password_file.")
    smtp_password_file: Path | None = None
    smtp_timeout_seconds: float = Field(10.0, gt=0, le=120)
    from_address: str = Field("keyturn@localhost", description="The From address of every message.")
    from_name: str | None = Field(None, description="The From name; default the tenant's display name.")
    templates_dir: Path | None = Field(
        None,
        description="Templates overriding the built-in ones (name.subject.txt, name.txt, name.html).",
    )

    def password(self) -> str | None:
        if self.smtp_password is not None:
            return self.smtp_password.get_secret_value()
        if self.smtp_password_file is not None:
            try:
                return self.smtp_password_file.read_text().strip()
            except OSError as exc:
                raise SettingsError(
                    f"email.smtp_password_file {self.smtp_password_file}: {exc.strerror}"
                ) from exc
        return None


class PagesSettings(BaseModel):
    """The operator's files for the hosted pages: templates overriding Keyturn's (as
    `email.templates_dir` does for mail) and the assets `/branding` names (`/assets/<file>`)."""

    model_config = ConfigDict(extra="forbid")

    templates_dir: Path | None = Field(
        None,
        description="Hosted-page templates overriding the built-in ones by file name (docs/templates.md).",
    )
    assets_dir: Path | None = Field(
        None,
        description="Files served at /assets/<file>: the logo, favicon or stylesheet the branding names.",
    )

    @field_validator("templates_dir", "assets_dir")
    @classmethod
    def _existing_folder(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a folder")
        return value


class AdminSettings(BaseModel):
    """The operators' dashboard at /admin (issue 13), served by the same process."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Serve the dashboard at /admin (off: every /admin path is 404).")
    allowed_ips: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Addresses or CIDR ranges that may reach /admin (comma-separated in "
            "KEYTURN_ADMIN__ALLOWED_IPS); empty: any. Others get 403."
        ),
    )

    @field_validator("allowed_ips", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    _valid_allowed_ips = field_validator("allowed_ips")(normalize_networks)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KEYTURN_", env_nested_delimiter="__", extra="forbid")

    environment: Literal["development", "production"] = Field(
        "development", description="production refuses http origins other than localhost."
    )
    host: str = Field("127.0.0.1", description="Interface `keyturn serve` binds.")
    port: int = Field(8000, ge=1, le=65535, description="Port `keyturn serve` binds.")
    public_url: str | None = Field(
        None, description="The URL people reach Keyturn at; default http://localhost:<port>."
    )
    data_dir: Path = Field(Path(".keyturn"), description="Folder for the embedded SQLite database.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy async URL, e.g. postgresql+asyncpg://host/db; default SQLite.",
    )
    session_lifespan_seconds: int = Field(7 * 24 * 3600, ge=60)
    flow_lifespan_seconds: int = Field(3600, ge=60)
    challenge_ttl_seconds: int = Field(300, ge=10, le=600)
    issuer: str | None = Field(None, description="OIDC issuer identifier; default the public URL.")
    key_encryption_key_file: Path | None = Field(
        None,
        description=(
            "File holding the 32-byte key that encrypts signing keys in the database; default "
            "<data_dir>/key-encryption.key, created on first start in development only."
        ),
    )
    key_encryption_key: SecretStr | None = Field(
        None, description="The key-encryption key itself (base64url), instead of its file."
    )
    access_token_ttl_seconds: int = Field(3600, ge=60, le=86400)
    id_token_ttl_seconds: int = Field(3600, ge=60, le=86400)
    refresh_token_ttl_seconds: int = Field(30 * 24 * 3600, ge=3600)
    event_retention_days: int = Field(30, ge=1, le=3650, description="How long the event log keeps events.")
    database_connect_timeout_seconds: float = Field(
        3.0, gt=0, le=60, description="How long to wait for a database connection before answering 503."
    )
    database_statement_timeout_seconds: float = Field(
        5.0, gt=0, le=300, description="How long one SQL statement may take before answering 503."
    )
    config_check_seconds: float = Field(
        1.0,
        ge=0,
        le=60,
        description="How often a process checks the config version (0: every request); a change made "
        "elsewhere reaches it within this time.",
    )
    redis_url: str | None = Field(
        None,
        description="redis://host:port/db for the rate counters of several instances; default the database.",
    )
    mds_root_certificate_file: Path | None = Field(
        None,
        description="PEM root the FIDO Metadata Service blob must chain to; default the shipped "
        "FIDO MDS3 root (GlobalSign Root CA - R3).",
    )
    log_format: Literal["text", "json"] = Field("text", description="json: one JSON object per log line.")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = Field(True, description="One log line per request (method, path, status, duration).")
    metrics_allowed_networks: list[str] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
        description="Addresses (CIDR) that may read /metrics.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Reverse proxies (addresses or CIDR ranges; comma-separated in KEYTURN_TRUSTED_PROXIES) "
            "whose X-Forwarded-For / Forwarded / X-Forwarded-Proto / X-Forwarded-Host are believed."
        ),
    )
    email: EmailSettings = Field(default_factory=EmailSettings, description="How email is sent.")
    admin: AdminSettings = Field(default_factory=AdminSettings, description="The operators' dashboard.")
    pages: PagesSettings = Field(
        default_factory=PagesSettings, description="The operator's templates and assets for the hosted pages."
    )
    tenant: TenantSettings | None = Field(
        None, description="Seed for the tenant settings on first start (then use `config patch`)."
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_proxies(cls, value: list[str]) -> list[str]:
        return normalize_networks(value)

    @model_validator(mode="after")
    def _production_guard(self) -> Settings:
        if self.environment == "production" and urlsplit(self.base_url).scheme != "https":
            raise ValueError("public_url must be https in production")
        if self.environment == "production" and urlsplit(self.issuer_url).scheme != "https":
            raise ValueError("issuer must be https in production")
        return self

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://localhost:{self.port}").rstrip("/")

    @property
    def issuer_url(self) -> str:
        return (self.issuer or self.base_url).rstrip("/")

    @property
    def resolved_key_file(self) -> Path:
        return self.key_encryption_key_file or self.data_dir / "key-encryption.key"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'keyturn.db'}"

    @property
    def resolved_outbox_dir(self) -> Path:
        return self.email.outbox_dir or self.data_dir / "outbox"

    @property
    def secure_cookies(self) -> bool:
        """`Secure` cookies everywhere except plain-http localhost development."""
        return urlsplit(self.base_url).scheme == "https"

    def default_tenant(self) -> TenantSettings:
        """The tenant seed: the configured one, else an RP for the public URL's host."""
        if self.tenant is not None:
            return self.tenant
        host = urlsplit(self.base_url).hostname or "localhost"
        return TenantSettings.model_validate(
            {"rp": {"id": host, "origins": [self.base_url], "display_name": "Keyturn"}}
        )


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise SettingsError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise SettingsError(f"config file {path} is not valid: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"config file {path} must hold a mapping of settings")
    return data


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from (lowest first) the config file, KEYTURN_* env, then explicit overrides."""
    path = config_file or (Path(os.environ["KEYTURN_CONFIG"]) if "KEYTURN_CONFIG" in os.environ else None)
    file_values = _read_config_file(path) if path else {}
    env_names = {f"KEYTURN_{name.upper()}" for name in Settings.model_fields}
    from_file = {k: v for k, v in file_values.items() if f"KEYTURN_{k.upper()}" not in os.environ}
    try:
        return Settings(**{**from_file, **overrides})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "settings"
        hint = (
            " (set by environment)"
            if f"KEYTURN_{key.split('.')[0].upper()}" in env_names & set(os.environ)
            else ""
        )
        raise SettingsError(f"invalid setting {key}{hint}: {first['msg']}") from exc
