"""Typed errors with stable codes; each transport maps them to one response shape."""

from __future__ import annotations


class KeyturnError(Exception):
    """An error a user or client can cause.

    `code` is stable (API bodies, logs, tests); `description` is safe to show;
    `detail` is internal and only ever logged.
    """

    status = 400
    code = "invalid_request"
    description = "The request could not be processed."

    def __init__(
        self,
        description: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        detail: str | None = None,
        extra: dict[str, object] | None = None,
    ) -> None:
        if description is not None:
            self.description = description
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.detail = detail
        self.extra = extra or {}
        super().__init__(f"{self.code}: {self.description}")

    def to_json(self) -> dict[str, object]:
        return {"error": self.code, "error_description": self.description, **self.extra}


class NotFound(KeyturnError):
    status = 404
    code = "not_found"
    description = "Not found."


class Conflict(KeyturnError):
    status = 409
    code = "conflict"
    description = "That conflicts with the current state."


class Unauthenticated(KeyturnError):
    status = 401
    code = "unauthenticated"
    description = "Please sign in."


class Forbidden(KeyturnError):
    status = 403
    code = "forbidden"
    description = "This request is not allowed."


class FlowError(KeyturnError):
    """The flow is missing, expired or belongs to another browser: start again."""

    status = 410
    code = "flow_expired"
    description = "This page has expired. Please start again."


class CeremonyError(KeyturnError):
    """A WebAuthn ceremony failed verification."""

    code = "passkey_verification_failed"
    description = "That passkey could not be verified. Please try again."


class ConfigError(KeyturnError):
    """Tenant settings that fail validation."""

    code = "invalid_config"
    description = "The configuration is not valid."
