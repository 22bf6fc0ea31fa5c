"""Drive Keyturn's OpenID Provider over a TestClient, as a relying party would."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from authlib.oidc.core import CodeIDToken
from httpx2 import Response
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet
from starlette.testclient import TestClient

from keyturn.oidc.clients import NewClient
from keyturn.operations.audit import CLI
from keyturn.operations.clients import register_client
from tests.support import store

REDIRECT_URI = "https://app.example/callback"
_CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


def register(client: TestClient, **options: Any) -> NewClient:
    """A client registered through the same operation the CLI uses (first-party by default)."""
    options.setdefault("name", "Test app")
    options.setdefault("redirect_uris", [REDIRECT_URI])
    options.setdefault("first_party", True)
    return store.in_context(client, lambda ctx: register_client(ctx, actor=CLI, **options))


def authorize(client: TestClient, registered: NewClient, pkce: Pkce | None = None, **params: str) -> Response:
    """GET /oauth2/authorize with sensible defaults; does not follow redirects."""
    query = {
        "client_id": registered.client.client_id,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": "openid email",
        "state": "state-123",
        "nonce": "nonce-456",
    }
    if pkce is not None:
        query |= {"code_challenge": pkce.challenge, "code_challenge_method": "S256"}
    query |= params
    return client.get("/oauth2/authorize", params=query, follow_redirects=False)


def redirect_params(response: Response) -> dict[str, str]:
    """The query of a redirect back to the client (asserting it is one)."""
    assert response.status_code in (302, 303), response.text
    location = response.headers["location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def consent(client: TestClient, consent_path: str, *, decision: str = "allow") -> Response:
    page = client.get(consent_path)
    assert page.status_code == 200, page.text
    match = _CSRF_FIELD.search(page.text)
    assert match
    return client.post(
        consent_path, data={"csrf": match.group(1), "decision": decision}, follow_redirects=False
    )


def code_for(client: TestClient, registered: NewClient, pkce: Pkce | None = None, **params: str) -> str:
    """Run /authorize for the signed-in browser (consenting if asked) and return the code."""
    response = authorize(client, registered, pkce, **params)
    location = response.headers.get("location", "")
    if location.startswith("/oauth2/consent/"):
        response = consent(client, location)
    return redirect_params(response)["code"]


def exchange(
    client: TestClient, registered: NewClient, code: str, pkce: Pkce | None, **extra: str
) -> Response:
    """POST the code to /oauth2/token, authenticating as the client registered (Basic, or none)."""
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI} | extra
    if pkce is not None:
        data["code_verifier"] = pkce.verifier
    if registered.secret is None:
        return client.post("/oauth2/token", data={**data, "client_id": registered.client.client_id})
    return client.post("/oauth2/token", data=data, auth=(registered.client.client_id, registered.secret))


def jwks(client: TestClient) -> dict[str, Any]:
    keys: dict[str, Any] = client.get("/.well-known/jwks.json").json()
    return keys


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a JWT, unverified: for tests that forge or inspect tokens."""

    def decode(part: str) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        return value

    header, payload, _ = token.split(".")
    return decode(header), decode(payload)


def authlib_claims(
    client: TestClient,
    registered: NewClient,
    body: dict[str, Any],
    *,
    now: int,
    nonce: str = "nonce-456",
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ID token of a token response as Authlib's relying party validates it (its OpenID
    client's own steps: the JWKS signature, then CodeIDToken's checks and `options`)."""
    metadata = client.get("/.well-known/openid-configuration").json()
    token = jose_jwt.decode(body["id_token"], KeySet.import_key_set(jwks(client)))  # type: ignore[arg-type]
    params = {"nonce": nonce, "client_id": registered.client.client_id, "access_token": body["access_token"]}
    wanted = {"iss": {"values": [metadata["issuer"]]}, **(options or {})}
    claims = CodeIDToken(token.claims, token.header, wanted, params)
    claims.validate(now=now, leeway=0)
    return dict(claims)
