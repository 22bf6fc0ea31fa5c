"""Registering, listing and deleting OIDC clients (`keyturn clients …`, the dashboard)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any, cast, get_args

from keyturn.context import Context
from keyturn.domain.assurance import MFA_POLICIES
from keyturn.domain.oidc import (
    MANAGEMENT_SCOPES,
    AuthMethod,
    Client,
    CredentialTypes,
    GrantType,
    SigningAlg,
    management_audience,
)
from keyturn.errors import KeyturnError, NotFound
from keyturn.oidc.clients import NewClient, build_client, check_redirect_uri
from keyturn.operations.audit import Actor, record_change

GRANTS: tuple[GrantType, ...] = ("authorization_code", "refresh_token", "client_credentials")
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")


def scope_tokens(values: list[str] | None) -> list[str]:
    """Scopes as given on a command line or in a form: each value may hold several, split on
    whitespace; each token must be valid (no quotes, backslashes or control characters)."""
    tokens: list[str] = []
    for value in values or []:
        for token in value.split():
            if not _SCOPE_TOKEN.match(token):
                raise KeyturnError(code="invalid_scope_token", scope=token)
            tokens.append(token)
    return list(dict.fromkeys(tokens))


def _metadata_error(reason: str, *, field: str | None = None) -> KeyturnError:
    """`field` names the registration field at fault, for a form to show the message next to."""
    return KeyturnError(
        code="invalid_client_metadata", reason=reason, extra={"field": field} if field else None
    )


PASSKEY_TYPES: tuple[CredentialTypes, ...] = get_args(CredentialTypes)


def passkey_types(value: str) -> CredentialTypes:
    """`--passkey-types`: which passkeys may sign in to the client (any|device_bound|synced)."""
    if value not in PASSKEY_TYPES:
        raise _metadata_error(f"passkey types must be one of {', '.join(PASSKEY_TYPES)}, not {value!r}")
    return value


async def register_client(
    ctx: Context,
    *,
    actor: Actor,
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
    allowed_credential_types: str = "any",
    mfa: str | None = None,
) -> NewClient:
    """Validate and store a client; the secret (if any) is in the result and nowhere else."""
    types = passkey_types(allowed_credential_types)
    grants = grant_types or ["authorization_code", "refresh_token"]
    unknown = [g for g in grants if g not in GRANTS]
    if unknown:
        raise KeyturnError(code="invalid_grant_type", grant=unknown[0], known=", ".join(GRANTS))
    if auth_method not in (None, "client_secret_basic", "client_secret_post", "private_key_jwt"):
        raise _metadata_error(f"unknown token endpoint auth method {auth_method!r}")
    if id_token_alg not in ("ES256", "RS256"):
        raise _metadata_error("the ID token algorithm must be ES256 or RS256")
    if not name.strip():
        raise _metadata_error("a client needs a name", field="name")
    if mfa is not None and mfa not in MFA_POLICIES:
        raise _metadata_error(f"mfa must be one of {', '.join(MFA_POLICIES)}", field="mfa")
    tokens = scope_tokens(scopes)
    audiences = list(audiences or [])
    if "client_credentials" in grants and set(tokens) & set(MANAGEMENT_SCOPES):
        audiences.append(management_audience(ctx.settings.issuer_url))  # `--scope read:users`
    new = build_client(
        name=name.strip(),
        redirect_uris=redirect_uris,
        public=public,
        first_party=first_party,
        grant_types=[g for g in GRANTS if g in grants],
        post_logout_redirect_uris=post_logout_redirect_uris or [],
        auth_method=cast(AuthMethod | None, auth_method),
        jwks=jwks,
        scopes=tokens,
        audiences=list(dict.fromkeys(audiences)),
        id_token_alg=cast(SigningAlg, id_token_alg),
        now=ctx.now(),
        mfa=mfa,
    )
    new = replace(new, client=replace(new.client, allowed_credential_types=types))
    async with ctx.writing() as tx:
        await tx.create_client(new.client)
        await tx.bump_config_version()
        record_change(ctx, actor, "create_client", registered_client_id=new.client.client_id)
    ctx.rt.config.forget()
    return new


async def update_client(
    ctx: Context, client_id: str, *, actor: Actor, allowed_credential_types: str | None = None
) -> Client:
    """Change what may change on a registered client (its passkey policy); the new client."""
    types = passkey_types(allowed_credential_types) if allowed_credential_types is not None else None
    async with ctx.writing() as tx:
        client = await tx.get_client(client_id)
        if client is None:
            raise NotFound(code="inexistent_client", client_id=client_id)
        if types is not None:
            client = replace(client, allowed_credential_types=types)
        await tx.update_client(client)
        await tx.bump_config_version()
        record_change(ctx, actor, "update_client", registered_client_id=client_id)
    ctx.rt.config.forget()
    return client


async def delete_client(ctx: Context, client_id: str, *, actor: Actor) -> None:
    """Delete a client, with its grants, codes and consents."""
    async with ctx.writing() as tx:
        if not await tx.delete_client(client_id):
            raise NotFound(code="inexistent_client", client_id=client_id)
        await tx.bump_config_version()
        record_change(ctx, actor, "delete_client", registered_client_id=client_id)
    ctx.rt.config.forget()


async def set_redirect_uris(
    ctx: Context,
    client_id: str,
    *,
    actor: Actor,
    redirect_uris: list[str],
    post_logout_redirect_uris: list[str],
) -> None:
    """Replace a client's redirect URIs, each checked as at registration (exact, https or
    loopback, no fragment); a client using the authorization code keeps at least one."""
    async with ctx.writing() as tx:
        client = await tx.get_client(client_id)
        if client is None:
            raise NotFound(code="inexistent_client", client_id=client_id)
        if "authorization_code" in client.grant_types and not redirect_uris:
            raise _metadata_error("authorization_code needs at least one redirect URI", field="redirect_uris")
        for uri in [*redirect_uris, *post_logout_redirect_uris]:
            check_redirect_uri(uri, public=client.is_public)
        await tx.update_client(
            replace(
                client,
                redirect_uris=tuple(redirect_uris),
                post_logout_redirect_uris=tuple(post_logout_redirect_uris),
            )
        )
        await tx.bump_config_version()
        record_change(ctx, actor, "update_client", registered_client_id=client_id, fields=["redirect_uris"])
    ctx.rt.config.forget()


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
        "allowed_credential_types": client.allowed_credential_types,
        "mfa": client.mfa,
        "created_at": client.created_at.isoformat(),
    }


def load_jwks(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _metadata_error("the JWKS file is not JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise _metadata_error('the JWKS file must be {"keys": [...]}')
    return data
