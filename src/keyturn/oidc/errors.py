"""OAuth 2.0 / OIDC errors: one class per protocol code (RFC 6749 §4.1.2.1, §5.2; OIDC Core §3.1.2.6)."""

from __future__ import annotations

from keyturn.errors import KeyturnError


class OAuthError(KeyturnError):
    """An error whose `code` is the protocol's `error` value."""


class InvalidRequest(OAuthError):
    code = "invalid_request"
    description = "The request is missing a parameter or has a bad one."


class InvalidClient(OAuthError):
    status = 401
    code = "invalid_client"
    description = "Client authentication failed."


class InvalidGrant(OAuthError):
    code = "invalid_grant"
    description = "The grant is invalid, expired, revoked or was issued to another client."


class UnauthorizedClient(OAuthError):
    code = "unauthorized_client"
    description = "This client may not use this grant or response type."


class UnsupportedGrantType(OAuthError):
    code = "unsupported_grant_type"
    description = "That grant type is not supported."


class UnsupportedResponseType(OAuthError):
    code = "unsupported_response_type"
    description = "Only response_type=code is supported."


class InvalidScope(OAuthError):
    code = "invalid_scope"
    description = "The requested scope is invalid or not allowed."


class AccessDenied(OAuthError):
    code = "access_denied"
    description = "The user or the server denied the request."


class LoginRequired(OAuthError):
    code = "login_required"
    description = "The user must sign in."


class ConsentRequired(OAuthError):
    code = "consent_required"
    description = "The user must consent."


class InvalidTarget(OAuthError):
    code = "invalid_target"
    description = "The requested audience is not allowed for this client."


class UnregisteredRedirect(OAuthError):
    """Unknown client or redirect URI: shown on an error page, never redirected to."""

    code = "invalid_request"
    description = "This sign-in link is not valid: the application or its return address is not registered."
