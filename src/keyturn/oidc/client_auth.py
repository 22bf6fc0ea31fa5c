"""Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3,
RFC 7523 §3 for private_key_jwt).

A client authenticates with exactly the method it registered: a request that presents two
(a Basic header and a secret or assertion in the body) is refused with invalid_request,
and any other method than the registered one with invalid_client.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import cast
from urllib.parse import unquote

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, KeySetSerialization

from keyturn.context import Context
from keyturn.domain.oidc import Client
from keyturn.domain.text import refuse_bad_text
from keyturn.ids import constant_time_equal
from keyturn.oidc.clients import hash_secret
from keyturn.oidc.errors import InvalidClient, InvalidRequest

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = timedelta(minutes=10)
CLOCK_SKEW = timedelta(seconds=60)
# NumericDate (RFC 7519 §2) as Keyturn accepts it: seconds in years 1970–9999.
_LATEST_NUMERIC_DATE = 253_402_300_799


def numeric_date(claims: Mapping[str, object], name: str, *, required: bool) -> datetime | None:
    """A JWT's NumericDate claim as a datetime; anything a datetime cannot hold is refused."""
    value = claims.get(name)
    if value is None and not required:
        return None
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not 0 <= value <= _LATEST_NUMERIC_DATE
    ):
        raise InvalidClient(detail=f"assertion {name} is not a NumericDate in range")
    return datetime.fromtimestamp(value, UTC)


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidClient(detail="malformed Basic header") from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClient(detail="Basic header without a colon")
    credentials = unquote(client_id), unquote(secret)  # RFC 6749 §2.3.1: form-urlencoded
    # A header is input the guard never parses: a NUL here would be looked up (PostgreSQL
    # refuses it, SQLite finds no client), so both databases answer the same, here.
    refuse_bad_text(credentials, where="Basic credentials")
    return credentials


def claimed_client_id(form: Mapping[str, str], *, authorization: str | None) -> str | None:
    """The client a request names, before (and whether or not) it authenticates: what the token
    endpoint's rate limit counts, so guessing a client's secret is counted against it too."""
    try:
        basic = _basic_credentials(authorization)
    except InvalidClient:
        basic = None
    if basic is not None:
        return basic[0][:64] or None
    return (form.get("client_id") or _peek_issuer(form.get("client_assertion", "")))[:64] or None


async def authenticate_client(ctx: Context, form: Mapping[str, str], *, authorization: str | None) -> Client:
    """Who is calling, by the one method it registered."""
    basic = _basic_credentials(authorization)
    assertion = form.get("client_assertion_type") is not None or form.get("client_assertion") is not None
    if (basic is not None and (form.get("client_secret") is not None or assertion)) or (
        assertion and form.get("client_secret") is not None
    ):
        raise InvalidRequest(message="invalid_request.one_auth_method")
    if assertion:
        return await _private_key_jwt(ctx, form)
    client_id = basic[0] if basic else form.get("client_id", "")
    client = await ctx.rt.config.client(await ctx.read(), client_id[:64]) if client_id else None
    if client is None:
        raise InvalidClient(detail=f"unknown client {client_id[:64]!r}")
    method = client.token_endpoint_auth_method
    presented = (
        "client_secret_basic" if basic else "client_secret_post" if form.get("client_secret") else "none"
    )
    if presented != method:
        raise InvalidClient(detail=f"client must authenticate with {method}, not {presented}")
    if method == "none":
        return client
    secret = basic[1] if basic else form.get("client_secret", "")
    if client.secret_hash is None or not constant_time_equal(hash_secret(secret), client.secret_hash):
        raise InvalidClient(detail="wrong client secret")
    return client


async def _private_key_jwt(ctx: Context, form: Mapping[str, str]) -> Client:
    """RFC 7523 §3: iss = sub = client_id, aud = our token endpoint or issuer, short-lived, single-use."""
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise InvalidClient(detail="unsupported client_assertion_type")
    assertion = form.get("client_assertion", "")
    client_id = form.get("client_id") or _peek_issuer(assertion)
    client = await ctx.rt.config.client(await ctx.read(), client_id[:64]) if client_id else None
    if client is None or client.token_endpoint_auth_method != "private_key_jwt" or not client.jwks:  # noqa: S105
        raise InvalidClient(detail="unknown client or not registered for private_key_jwt")
    try:
        token = jwt.decode(
            assertion,
            KeySet.import_key_set(cast(KeySetSerialization, client.jwks)),
            algorithms=["ES256", "RS256", "EdDSA", "PS256"],
        )
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise InvalidClient(detail=f"client assertion: {exc!r}") from exc
    claims = token.claims
    endpoints = {f"{ctx.settings.base_url}/oauth2/token", ctx.settings.issuer_url}
    aud = claims.get("aud")
    audiences = {aud} if isinstance(aud, str) else set(aud) if isinstance(aud, list) else set()
    if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
        raise InvalidClient(detail="assertion iss/sub is not the client id")
    if not audiences & endpoints:
        raise InvalidClient(detail=f"assertion aud {aud!r} is not this server")
    now = ctx.now()
    expires = numeric_date(claims, "exp", required=True)
    assert expires is not None
    not_before = numeric_date(claims, "nbf", required=False)
    issued = numeric_date(claims, "iat", required=False)
    if expires <= now or expires - now > MAX_ASSERTION_LIFETIME:
        raise InvalidClient(detail="assertion expired or lives too long")
    if (not_before and not_before > now + CLOCK_SKEW) or (issued and issued > now + CLOCK_SKEW):
        raise InvalidClient(detail="assertion not valid yet")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 200:
        raise InvalidClient(detail="assertion needs a jti")
    async with ctx.writing() as tx:
        fresh = await tx.remember_client_assertion(client.client_id, jti, expires_at=expires)
    if not fresh:
        raise InvalidClient(detail="client assertion replayed")
    return client


def _peek_issuer(assertion: str) -> str:
    """The unverified `iss`, only to find which client's keys to verify with."""
    try:
        payload = assertion.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return ""
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    if not isinstance(issuer, str):
        return ""
    refuse_bad_text(issuer, where="client assertion iss")  # it is looked up before any check
    return issuer
