"""Typed errors with stable codes; each transport maps them to one response shape.

Texts come from the message catalogue (`keyturn.messages`): a raise site names a code (and
a message id when one code has several texts) and the parameters the text needs.
"""

from __future__ import annotations

from collections.abc import Mapping

from keyturn import messages


class KeyturnError(Exception):
    """An error a user or client can cause.

    `code` is stable (API bodies, logs, tests); `description` is safe to show; `detail` is
    internal and only ever logged. `extra` adds fields to JSON answers. `field_messages`
    names a message per form field (field, message id, params): JSON answers carry them as
    `fields`, each in the page's language.
    """

    status = 400
    code = "invalid_request"
    field_messages: tuple[tuple[str, str, Mapping[str, object]], ...] = ()

    def __init__(
        self,
        *,
        code: str | None = None,
        message: str | None = None,
        status: int | None = None,
        detail: str | None = None,
        extra: dict[str, object] | None = None,
        **params: object,
    ) -> None:
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.message_id = message or self.code
        self.params = params
        self.description = messages.text(self.message_id, params)
        self.detail = detail
        self.extra = extra or {}
        super().__init__(f"{self.code}: {self.description}")

    def to_json(self) -> dict[str, object]:
        return {"error": self.code, "error_description": self.description, **self.extra}


class NotFound(KeyturnError):
    status = 404
    code = "not_found"


class Conflict(KeyturnError):
    status = 409
    code = "conflict"


class Unauthenticated(KeyturnError):
    status = 401
    code = "unauthenticated"


class Forbidden(KeyturnError):
    status = 403
    code = "forbidden"


class FlowError(KeyturnError):
    """The flow is missing, expired or belongs to another browser: start again."""

    status = 410
    code = "flow_expired"


class CeremonyError(KeyturnError):
    """A WebAuthn ceremony failed verification."""

    code = "passkey_verification_failed"


class ConfigError(KeyturnError):
    """Tenant settings that fail validation."""

    code = "invalid_config"


class Unavailable(KeyturnError):
    """The database (or another service Keyturn needs) is down or too slow: try again shortly."""

    status = 503
    code = "temporarily_unavailable"
    retry_after_seconds = 5
    connection_lost = False  # the database could not be reached at all (not one statement's trouble)


class RateLimited(KeyturnError):
    """Too many requests (a throttle or a block): 429, with Retry-After when it is known."""

    status = 429
    code = "too_many_requests"

    def __init__(self, *, retry_after: int | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.retry_after_seconds = retry_after
