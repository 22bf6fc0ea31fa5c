"""Registering and listing OIDC clients (`keyturn clients …`, later the management API)."""

from __future__ import annotations

import json
from typing import Any, cast

from keyturn.domain.oidc import AuthMethod, Client, GrantType, SigningAlg
from keyturn.errors import KeyturnError
from keyturn.management.auth import MANAGEMENT_SCOPES, management_audience
from keyturn.oidc.clients import NewClient, build_client
from keyturn.runtime import Runtime

GRANTS: tuple[GrantType, ...] = ("authorization_code", "refresh_token", "client_credentials")


async def register_client(
    rt: Runtime,
    *,
    name: str,
    redirect_uris: list[str],
    public: bool = False,
    first_party: bool = False,
    grant_types: list[str] | None = None,
    post_logout_redirect_uris: list[str] | None = None,
    auth_method: str | None = None,
    jwks: dict[str, Any] | None = None,
    scopes: list[str] | None = None,
    audiences: list[str] | None = None,
    id_token_alg: str = "ES256",  # noqa: S107 - an algorithm name
) -> NewClient:
    """Validate and store a client; the secret (if any) is in the result and nowhere else."""
    grants = grant_types or ["authorization_code", "refresh_token"]
    unknown = [g for g in grants if g not in GRANTS]
    if unknown:
        raise KeyturnError(
            f"unknown grant type {unknown[0]!r}: use one of {', '.join(GRANTS)}", code="invalid_grant_type"
        )
    if auth_method not in (None, "client_secret_basic", "client_secret_post", "private_key_jwt"):
        raise KeyturnError(
            f"unknown token endpoint auth method {auth_method!r}", code="invalid_client_metadata"
        )
    if id_token_alg not in ("ES256", "RS256"):
        raise KeyturnError("the ID token algorithm must be ES256 or RS256", code="invalid_client_metadata")
    if not name.strip():
        raise KeyturnError("a client needs a name", code="invalid_client_metadata")
    audiences = list(audiences or [])
    if "client_credentials" in grants and set(scopes or []) & set(MANAGEMENT_SCOPES):
        audiences.append(
            management_audience(rt.settings.issuer_url)
        )  # `keyturn clients create --scope read:users`
    new = build_client(
        name=name.strip(),
        redirect_uris=redirect_uris,
        public=public,
        first_party=first_party,
        grant_types=[g for g in GRANTS if g in grants],
        post_logout_redirect_uris=post_logout_redirect_uris or [],
        auth_method=cast(AuthMethod | None, auth_method),
        jwks=jwks,
        scopes=scopes or [],
        audiences=list(dict.fromkeys(audiences)),
        id_token_alg=cast(SigningAlg, id_token_alg),
        now=rt.clock.now(),
    )
    await rt.store.create_client(new.client)
    return new


def describe_client(client: Client) -> dict[str, Any]:
    """A client as operators see it: never the secret or its hash."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "grant_types": list(client.grant_types),
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "public": client.is_public,
        "first_party": client.first_party,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "scopes": list(client.scopes),
        "audiences": list(client.audiences),
        "created_at": client.created_at.isoformat(),
    }


def load_jwks(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeyturnError("the JWKS file is not JSON", code="invalid_client_metadata") from exc
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise KeyturnError('the JWKS file must be {"keys": [...]}', code="invalid_client_metadata")
    return data
