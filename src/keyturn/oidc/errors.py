"""OAuth 2.0 / OIDC errors: one class per protocol code (RFC 6749 §4.1.2.1, §5.2; OIDC Core §3.1.2.6)."""

from __future__ import annotations

from keyturn.errors import KeyturnError


class OAuthError(KeyturnError):
    """An error whose `code` is the protocol's `error` value."""


class InvalidRequest(OAuthError):
    code = "invalid_request"


class InvalidClient(OAuthError):
    status = 401
    code = "invalid_client"


class InvalidGrant(OAuthError):
    code = "invalid_grant"


class UnauthorizedClient(OAuthError):
    code = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    code = "unsupported_grant_type"


class UnsupportedResponseType(OAuthError):
    code = "unsupported_response_type"


class InvalidScope(OAuthError):
    code = "invalid_scope"


class AccessDenied(OAuthError):
    code = "access_denied"


class LoginRequired(OAuthError):
    code = "login_required"


class ConsentRequired(OAuthError):
    code = "consent_required"


class InteractionRequired(OAuthError):
    """prompt=none, but the user must do something first (here: step up to the asked level)."""

    code = "interaction_required"


class UnmetAuthenticationRequirements(OAuthError):
    """An essential acr was not met, even after the user was asked to step up (OpenID Connect
    Core Unmet Authentication Requirements 1.0)."""

    code = "unmet_authentication_requirements"


class InvalidTarget(OAuthError):
    code = "invalid_target"


class UnregisteredRedirect(OAuthError):
    """Unknown client or redirect URI: shown on an error page, never redirected to."""

    code = "invalid_request"

    def __init__(self, *, message: str = "invalid_request.unregistered_redirect", **kwargs: object) -> None:
        super().__init__(message=message, **kwargs)  # type: ignore[arg-type]
