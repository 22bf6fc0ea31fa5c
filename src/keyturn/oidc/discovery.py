"""Provider metadata (OIDC Discovery 1.0 §3, RFC 8414) and the app-association documents."""

from __future__ import annotations

from typing import Any

from keyturn.domain.assurance import ACR_VALUES
from keyturn.domain.tenant import TenantSettings
from keyturn.keys import ALGORITHMS
from keyturn.oidc.authorize_checks import SUPPORTED_SCOPES


def provider_metadata(issuer: str, *, base_url: str, ui_locales: list[str] | None = None) -> dict[str, Any]:
    """The issuer names the provider; the endpoints are where Keyturn is actually served."""
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{base_url}/oauth2/authorize",
        "token_endpoint": f"{base_url}/oauth2/token",
        "userinfo_endpoint": f"{base_url}/oauth2/userinfo",
        "jwks_uri": f"{base_url}/.well-known/jwks.json",
        "revocation_endpoint": f"{base_url}/oauth2/revoke",
        "introspection_endpoint": f"{base_url}/oauth2/introspect",
        "end_session_endpoint": f"{base_url}/oauth2/logout",
        "scopes_supported": list(SUPPORTED_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(ALGORITHMS),
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none",
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256", "EdDSA", "PS256"],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none",
        ],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "amr",
            "acr",
            "sid",
            "email",
            "email_verified",
            "name",
        ],
        "acr_values_supported": list(ACR_VALUES),
        "prompt_values_supported": ["none", "login", "consent", "create", "select_account"],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        "ui_locales_supported": ui_locales or ["en"],
    }


def apple_app_site_association(tenant: TenantSettings) -> dict[str, Any]:
    """Lets the listed iOS apps use this RP's passkeys (Apple's webcredentials service)."""
    return {"webcredentials": {"apps": tenant.native_apps.apple_app_ids}}


def asset_links(tenant: TenantSettings) -> list[dict[str, Any]]:
    """Digital Asset Links: the listed Android apps may use this site's credentials."""
    return [
        {
            "relation": [
                "delegate_permission/common.get_login_creds",
                "delegate_permission/common.handle_all_urls",
            ],
            "target": {
                "namespace": "android_app",
                "package_name": app.package_name,
                "sha256_cert_fingerprints": app.sha256_cert_fingerprints,
            },
        }
        for app in tenant.native_apps.android
    ]


def related_origins(tenant: TenantSettings) -> dict[str, Any]:
    """WebAuthn Related Origin Requests (L3 §5.11): origins that may use this RP ID."""
    return {"origins": tenant.rp.accepted_origins}
