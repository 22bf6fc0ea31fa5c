"""The message catalogue: every text Keyturn shows or sends about an error, by message id.

A `KeyturnError` carries a stable `code` (the contract API clients and tests rely on) and
a message id, which is its code unless one code has several texts: then the id is
`<code>.<reason>` (OAuth's `invalid_request` has many). Texts may name `{parameters}`.
The README lists every id with its text (checked by tests/unit/test_docs.py). The texts are
English; `keyturn.i18n` translates them by id (the gettext context of each catalogue entry),
except those in `OPERATOR_ONLY`, which only operators read (the CLI, /api/v2, the dashboard).
"""

from __future__ import annotations

from collections.abc import Mapping

MESSAGES: dict[str, str] = {
    # --- requests and pages
    "invalid_request": "The request could not be processed.",
    "invalid_json": "The request body must be JSON.",
    "invalid_json.not_object": "The request body must be a JSON object.",
    "invalid_characters": "The request contains characters that cannot be stored.",
    "request_too_large": "The request is too large.",
    "missing_field": "The field {name!r} is required.",
    "not_found": "Not found.",
    "conflict": "That conflicts with the current state.",
    "unauthenticated": "Please sign in.",
    "forbidden": "This request is not allowed.",
    "csrf_failed": "The security token of this page is missing or wrong. Reload the page.",
    "cross_site_request": "Requests from other sites are not accepted.",
    "flow_expired": "This page has expired. Please start again.",
    "flow_browser_mismatch": "This page was opened in another browser. Please start again here.",
    "flow_user_mismatch": "This page belongs to another account.",
    "temporarily_unavailable": "The service is temporarily unavailable. Please try again in a moment.",
    "server_error": "Something went wrong on our side.",
    # --- methods
    "unknown_method": "Choose passkey or password.",
    "method_disabled": "Signing in with a {method} is turned off here.",
    "invalid_email": "Enter a valid email address.",
    "invalid_credentials": "Wrong email or password.",
    "password_too_short": "Use a password of at least {min} characters.",
    "password_too_long": "Use a password of at most {max} characters.",
    "invalid_current_password": "Your current password is not right.",
    "account_exists": "An account with this email already exists. Sign in instead.",
    "email_taken": "That email is used by another account.",
    "last_sign_in_method": "This is your last way to sign in. Add another passkey or a password first.",
    # --- attack protection
    "too_many_requests": "Too many requests. Please try again in a while.",
    "too_many_attempts": (
        "This account is blocked after too many failed attempts from your network. If it is yours, "
        "we have sent you an email with a link to unblock it; you can also sign in with a passkey."
    ),
    "unblock_link_invalid": "This unblock link has expired or was already used.",
    "captcha_required": "Complete the check that you are not a robot, then try again, or use a passkey.",
    "captcha_failed": "The check that you are not a robot did not pass. Try it again, or use a passkey.",
    "captcha_unavailable": (
        "The check that you are not a robot cannot be done right now. Try again in a moment, "
        "or use a passkey."
    ),
    "password_breached": (
        "This password has appeared in a data breach, so others may know it. Choose a different one."
    ),
    "password_breached.sign_in": (
        'This password has appeared in a data breach. Use "Can\'t sign in?" to set a new one, '
        "or sign in with a passkey."
    ),
    "breach_check_unavailable": "Passwords cannot be checked now. Try again in a moment, or use a passkey.",
    # --- passkeys
    "passkey_verification_failed": "That passkey could not be verified. Please try again.",
    "invalid_response": "The passkey response was malformed. Please try again.",
    "challenge_invalid": "This passkey request has expired or was already used. Please try again.",
    "cross_origin_refused": "Passkeys cannot be used from inside another site's page.",
    "origin_mismatch": "This passkey request came from a site Keyturn does not serve.",
    "unknown_credential": (
        "This passkey is not registered here any more. Choose another or sign in another way."
    ),
    "credential_not_allowed": "That passkey is not one of this account's. Try another.",
    "user_handle_mismatch": "That passkey does not belong to this account.",
    "backup_eligibility_changed": "That passkey could not be verified. Please try again.",
    "possible_cloned_passkey": "That passkey could not be verified. Please try again.",
    "credential_exists": "This passkey is already registered.",
    "invalid_public_key": "That passkey's public key is not acceptable. Try another authenticator.",
    "passkey_limit_reached": (
        "You already have {limit} passkeys, the most allowed. Remove one to add another."
    ),
    "passkey_not_found": "No such passkey.",
    "invalid_second_factor_code": "That code is not right. Check your authenticator app or recovery codes.",
    "too_many_second_factor_codes": (
        "Too many wrong codes. Try again in a few minutes, or use your security key."
    ),
    "totp_exists": "You already have an authenticator app. Remove it before adding another.",
    "security_key_limit_reached": "You already have {limit} security keys, the most allowed.",
    "authenticator_not_allowed": (
        "This kind of authenticator is not accepted here. Use a passkey from another provider "
        "or security key."
    ),
    "attestation_untrusted": (
        "This authenticator could not prove which model it is, and only certified authenticators "
        "are accepted here. Use another security key or authenticator."
    ),
    "authenticator_compromised": (
        "This authenticator model has a known security problem and is not accepted. Use another "
        "security key or authenticator."
    ),
    "mds_blob_invalid": "The FIDO Metadata Service blob could not be verified.",
    "mds_blob_not_newer": (
        "This FIDO Metadata Service blob (serial {serial}) is not newer than the stored one "
        "(serial {stored})."
    ),
    "synced_passkey_not_allowed": (
        "Only passkeys kept on one device are accepted here, such as a security key. Synced "
        "passkeys (iCloud Keychain, Google Password Manager…) are not. Add a device-bound one."
    ),
    "user_verification_required": (
        "This app asks you to confirm it's you on your device: unlock it with your fingerprint, "
        "face or PIN when your passkey asks."
    ),
    "attested_passkey_required": (
        "This app needs a passkey on a security key or device whose make was verified when it was "
        "added. Use one of those, or add one on your account page."
    ),
    "device_bound_passkey_not_allowed": (
        "Only synced passkeys are accepted here (iCloud Keychain, Google Password Manager, or "
        "another passkey provider). Use one of those."
    ),
    "automatic_upgrade_not_offered": (
        "A passkey can only be added automatically right after a password sign-in."
    ),
    "invalid_enrollment_choice": "Choose Not now or Don't ask again.",
    "invalid_name": "Give the passkey a name of 1 to {max} characters.",
    # --- the identity schema: traits (by field on the pages, `fields` in JSON answers)
    "invalid_traits": "Check {trait}: {text}",
    "invalid_traits.required": "This field is required.",
    "invalid_traits.unknown": "{name!r} is not a field of this identity schema.",
    "invalid_traits.format.email": "Enter an email address such as ada@example.com.",
    "invalid_traits.format.tel": "Enter a phone number such as +44 20 7946 0958.",
    "invalid_traits.format.uri": "Enter a web address starting with https://.",
    "invalid_traits.format.date": "Enter a date as YYYY-MM-DD.",
    "invalid_traits.format.other": "This value does not have the expected format.",
    "invalid_traits.enum": "Choose one of the options.",
    "invalid_traits.too_long": "Use at most {max} characters.",
    "invalid_traits.too_short": "Use at least {min} characters.",
    "invalid_traits.too_small": "Enter {min} or more.",
    "invalid_traits.too_large_number": "Enter {max} or less.",
    "invalid_traits.too_large": "These details are too long: at most {max} bytes in all.",
    "invalid_traits.type": "Enter a valid value.",
    "invalid_traits.invalid": "This value is not accepted.",
    "traits_not_editable": "Your profile cannot be changed here.",
    "invalid_body.metadata": "Payload validation error: {field}: {reason}.",
    "schema_change_breaks_users": (
        "This identity schema would make {count} user{plural} invalid (trait {trait!r} first: "
        "{text}). Run `keyturn users validate` to list them; confirm with --force (CLI) or "
        "?force=true (management API) to change it anyway."
    ),
    # --- sessions and re-authentication
    "session_not_found": "That session has already ended.",
    "reauthentication_required": "Confirm it's you to make this change.",
    # --- sign-in outcomes
    "access_denied": "The user or the server denied the request.",
    "access_denied.hook": "Access to this application was denied.",
    "access_denied.hook_message": "{text}",
    # --- tenant settings
    "invalid_config": "The configuration is not valid.",
    "invalid_config.reason": "{reason}",
    "invalid_patch": "The patch does not apply: {reason}",
    "invalid_patch.syntax": "{text!r}: write {op} operations as /json/pointer=value",
    "unknown_setting": "no setting at {path}",
    "rp_id_change_orphans_passkeys": (
        "Changing rp.id from {old!r} to {new!r} would stop {count} passkey{plural} from working: each "
        "passkey is bound to the domain it was created for, and browsers will not offer it to another. "
        "Confirm with --force (CLI) or ?force=true (management API) to change it anyway."
    ),
    # --- the dashboard (operators)
    "invalid_config.fields": "Some values are not valid: see the messages next to them.",
    "invalid_role": "Choose a role: {roles}.",
    "operator_exists": "An operator with this email already exists.",
    "enrollment_link_invalid": (
        "This enrollment link has expired or was already used. Ask an owner for a new one."
    ),
    "passkey_prerequisites_failed": "Passkeys cannot be enabled yet: fix the items below first.",
    "confirmation_mismatch": "Type {expected} exactly to confirm.",
    "admin_forbidden": "Forbidden.",
    # --- clients and hooks (operators)
    "invalid_redirect_uri": "redirect URI {uri!r} {problem}",
    "invalid_client_metadata": "The client's registration is not valid: {reason}.",
    "invalid_grant_type": "Unknown grant type {grant!r}: use one of {known}.",
    "invalid_scope_token": "{scope!r} is not a valid scope: a scope is one word of printable ASCII.",
    "client_exists": "A client with this id already exists.",
    "invalid_trigger": "Unknown trigger {trigger!r}: use post-login or pre-user-registration.",
    "invalid_hook_url": "{url!r} is not an http(s) URL.",
    "invalid_timeout": "The timeout must be between 0.1 and 10 seconds.",
    "invalid_failure_policy": "The failure policy must be deny or allow.",
    # --- codes and links sent by email; account recovery
    "email_code_wrong": "That code is not right. {left} tries left.",
    "email_code_expired": "This code has expired or was tried too many times. Ask for a new one.",
    "email_link_invalid": "This link has expired or was already used. Ask for a new one.",
    "email_link_other_browser": (
        "This link was asked for in another browser. Open it there, or type the code from the "
        "email on the page where you asked."
    ),
    "email_not_verified": "Confirm your email with the code we sent you first.",
    "recovery_disabled": "Account recovery by email is turned off here.",
    "recovery_done": "This recovery was already used or has expired. Ask for a new link to recover again.",
    # --- email
    "email_not_sent": "The message was not sent: {reason}",
    # --- OAuth 2.0 / OpenID Connect (RFC 6749 §4.1.2.1, §5.2; OIDC Core §3.1.2.6)
    "invalid_request.missing_parameter": "The parameter {name} is required.",
    "invalid_request.repeated": "Parameters given more than once: {names}.",
    "invalid_request.too_long": "The parameter {name} is too long.",
    "invalid_request.response_mode": "Only response_mode=query is supported.",
    "invalid_request.pkce_method_alone": "code_challenge_method without code_challenge.",
    "invalid_request.pkce_required": "PKCE (code_challenge with S256) is required for this client.",
    "invalid_request.pkce_s256_only": "Only code_challenge_method=S256 is accepted.",
    "invalid_request.pkce_challenge_format": "code_challenge must be 43 base64url characters.",
    "invalid_request.prompt_unsupported": "Unsupported prompt value in {prompt!r}.",
    "invalid_request.prompt_none_alone": "prompt=none cannot be combined with other values.",
    "invalid_request.max_age": "max_age must be a non-negative number of seconds.",
    "invalid_request.claims": "The claims parameter must be a JSON object as OIDC Core §5.5 describes.",
    "invalid_request.expired_authorization": (
        "This sign-in request has expired. Go back to the application and try again."
    ),
    "invalid_request.unregistered_redirect": (
        "This sign-in link is not valid: the application or its return address is not registered."
    ),
    "invalid_request.logout_client_mismatch": "This sign-out link's client does not match its ID token.",
    "invalid_request.logout_redirect_unregistered": "This sign-out link's return address is not registered.",
    "invalid_request.one_auth_method": "A client must authenticate with exactly one method.",
    "request_not_supported": "Request objects are not supported.",
    "request_uri_not_supported": "request_uri is not supported.",
    "invalid_client": "Client authentication failed.",
    "invalid_client.public_introspection": "Public clients cannot introspect tokens.",
    "invalid_grant": "The grant is invalid, expired, revoked or was issued to another client.",
    "invalid_grant.user_gone": "The user no longer exists.",
    "invalid_grant.code_used": "The authorization code was already used.",
    "invalid_grant.code_expired": "The authorization code has expired.",
    "invalid_grant.redirect_uri": "redirect_uri does not match the authorization request.",
    "invalid_grant.pkce": "The PKCE code_verifier is wrong.",
    "invalid_grant.refresh_used": "The refresh token was already used.",
    "unauthorized_client": "This client may not use this grant or response type.",
    "unsupported_grant_type": "That grant type is not supported.",
    "unsupported_response_type": "Only response_type=code is supported.",
    "invalid_scope": "The requested scope is invalid or not allowed.",
    "invalid_scope.unknown": "Unknown scope: {scopes}.",
    "invalid_scope.openid_required": "The openid scope is required.",
    "invalid_scope.narrow_only": "A refresh can only narrow the scope.",
    "login_required": "The user must sign in.",
    "consent_required": "The user must consent.",
    "interaction_required": "The user must confirm it's them with a stronger sign-in first.",
    "unmet_authentication_requirements": "The sign-in did not reach the level this app requires.",
    "invalid_target": "The requested audience is not allowed for this client.",
    "invalid_token": "The token is invalid or expired.",
    "invalid_token.bearer_required": "A bearer access token is required.",
    "insufficient_scope": "This token does not grant access to user information.",
    # --- management API (Auth0's errorCode values)
    "missing_token": "Missing authentication.",
    "invalid_token.management": "Invalid or expired token.",
    "invalid_token.audience": "Bad audience: use a token issued for this API.",
    "insufficient_scope.management": "Insufficient scope, expected any of: {scopes}",
    "inexistent_user": "The user does not exist.",
    "inexistent_connection": "The connection does not exist.",
    "inexistent_connection.name": "The connection does not exist: use {name!r}.",
    "inexistent_log": "Log event not found.",
    "inexistent_hook": "The hook does not exist.",
    "inexistent_client": "There is no client {client_id!r}.",
    "inexistent_hook.id": "There is no hook {hook_id!r}.",
    "authenticator_not_found": "The authentication method does not exist.",
    "authenticator_not_found.unnamed": "Only passkeys have a name.",
    "invalid_query_string": "Unsupported query: {query!r}.",
    "invalid_query_string.email_only": 'Only email:"…" searches are supported.',
    "invalid_query_string.field": "Cannot search logs by {field!r}.",
    "invalid_query_string.date": "{text!r} is not a date.",
    "invalid_query_string.date_range": "Write date ranges as date:[FROM TO UNTIL].",
    "invalid_body": "Payload validation error: {reason}",
    "auth0_idp_error": "The user already exists.",
    "email_taken.management": "The specified new email already exists.",
    "connection_conflict": (
        "A connection with the same name already exists: Keyturn serves one database connection "
        "({name}); change its options with PATCH /api/v2/connections/{id}."
    ),
}

# Texts only operators see: tenant settings, the dashboard, clients and hooks, the management
# API and `keyturn mail test`. They stay English, like the dashboard, and are not translated.
OPERATOR_ONLY: frozenset[str] = frozenset(
    {
        "invalid_config",
        "invalid_config.reason",
        "invalid_patch",
        "invalid_patch.syntax",
        "unknown_setting",
        "rp_id_change_orphans_passkeys",
        "invalid_config.fields",
        "invalid_role",
        "operator_exists",
        "enrollment_link_invalid",
        "passkey_prerequisites_failed",
        "admin_forbidden",
        "confirmation_mismatch",
        "invalid_body.metadata",
        "schema_change_breaks_users",
        "mds_blob_invalid",
        "mds_blob_not_newer",
        "invalid_redirect_uri",
        "invalid_client_metadata",
        "invalid_grant_type",
        "invalid_scope_token",
        "client_exists",
        "invalid_trigger",
        "invalid_hook_url",
        "invalid_timeout",
        "invalid_failure_policy",
        "email_not_sent",
        "missing_token",
        "invalid_token.management",
        "invalid_token.audience",
        "insufficient_scope.management",
        "inexistent_user",
        "inexistent_connection",
        "inexistent_connection.name",
        "inexistent_log",
        "inexistent_hook",
        "inexistent_client",
        "inexistent_hook.id",
        "authenticator_not_found",
        "authenticator_not_found.unnamed",
        "invalid_query_string",
        "invalid_query_string.email_only",
        "invalid_query_string.field",
        "invalid_query_string.date",
        "invalid_query_string.date_range",
        "invalid_body",
        "auth0_idp_error",
        "email_taken.management",
        "connection_conflict",
    }
)


def text(message_id: str, params: Mapping[str, object] | None = None) -> str:
    """The default (English) text of `message_id`, with its parameters filled in."""
    template = MESSAGES[message_id]
    return template.format(**params) if params else template


def code_of(message_id: str) -> str:
    """The error code a message id belongs to (`invalid_grant.code_used` → `invalid_grant`)."""
    return message_id.split(".", 1)[0]
