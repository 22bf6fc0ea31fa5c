"""The refresh_token grant (RFC 6749 §6, OAuth 2.0 Security BCP §4.14): rotation on every use,
reuse detection that revokes the family, client binding, scope narrowing, an absolute
lifetime, and refreshed ID tokens that keep the original sign-in (OIDC Core §12.2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import pytest
from httpx2 import Response
from joserfc import jwt
from joserfc.jwk import KeySet, KeySetSerialization
from joserfc.jwt import JWTClaimsRegistry
from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from keyturn.ids import hash_token
from keyturn.oidc.clients import NewClient
from keyturn.settings import Settings
from tests.support import browser, oidc, store
from tests.support.oidc import Pkce
from tests.support.soft_authenticator import SoftAuthenticator

ISSUER = "http://localhost:8000"
EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
OFFLINE = "openid email offline_access"


# --- local helpers -------------------------------------------------------------------


@dataclass(frozen=True)
class Tokens:
    access: str
    refresh: str
    id_token: str
    scope: str


def ok(response: Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert "no-store" in response.headers["cache-control"]
    body: dict[str, Any] = response.json()
    return body


def assert_error(response: Response, error: str) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error
    assert "access_token" not in response.json()


def refresh(client: TestClient, registered: NewClient, refresh_token: str, **extra: str) -> Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token} | extra
    if registered.secret is None:
        return client.post("/oauth2/token", data={**data, "client_id": registered.client.client_id})
    return client.post("/oauth2/token", data=data, auth=(registered.client.client_id, registered.secret))


def refreshed(client: TestClient, registered: NewClient, refresh_token: str, **extra: str) -> Tokens:
    body = ok(refresh(client, registered, refresh_token, **extra))
    return Tokens(
        body["access_token"], body.get("refresh_token", ""), body.get("id_token", ""), body["scope"]
    )


def sign_in_tokens(client: TestClient, registered: NewClient, scope: str = OFFLINE) -> Tokens:
    pkce = Pkce.new()
    code = oidc.code_for(client, registered, pkce, scope=scope)
    body = ok(oidc.exchange(client, registered, code, pkce))
    return Tokens(body["access_token"], body.get("refresh_token", ""), body["id_token"], body["scope"])


def userinfo(client: TestClient, access_token: str) -> Response:
    return client.get("/oauth2/userinfo", headers={"authorization": f"Bearer {access_token}"})


def id_claims(client: TestClient, clock: FrozenClock, registered: NewClient, id_token: str) -> dict[str, Any]:
    key_set = KeySet.import_key_set(cast(KeySetSerialization, oidc.jwks(client)))
    token = jwt.decode(id_token, key_set, algorithms=["ES256", "RS256"])
    JWTClaimsRegistry(
        now=int(clock.now().timestamp()),
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": registered.client.client_id},
        auth_time={"essential": True},
    ).validate(token.claims)
    return dict(token.claims)


def timestamp(when: datetime) -> int:
    return int(when.timestamp())


@pytest.fixture
def app(client: TestClient) -> NewClient:
    """A first-party confidential client; registered clients get the refresh_token grant by default."""
    return oidc.register(client)


@pytest.fixture
def signed_in(client: TestClient, authenticator: SoftAuthenticator) -> None:
    response = browser.signup_with_passkey(client, authenticator, EMAIL)
    assert response.status_code == 200, response.text


@pytest.fixture
def first(client: TestClient, app: NewClient, signed_in: None) -> Tokens:
    return sign_in_tokens(client, app)


# --- getting one ---------------------------------------------------------------------------


def test_offline_access_gives_a_refresh_token(client: TestClient, app: NewClient, first: Tokens) -> None:
    assert first.refresh
    assert first.scope.split() == ["openid", "email", "offline_access"]
    assert "refresh_token" in app.client.grant_types


def test_no_offline_access_no_refresh_token(client: TestClient, app: NewClient, signed_in: None) -> None:
    assert sign_in_tokens(client, app, scope="openid email").refresh == ""


def test_a_refresh_gives_working_tokens(client: TestClient, app: NewClient, first: Tokens) -> None:
    new = refreshed(client, app, first.refresh)
    assert new.access != first.access
    assert new.scope == first.scope
    assert userinfo(client, new.access).json()["email"] == EMAIL
    assert userinfo(client, first.access).status_code == 200  # a rotation alone revokes no access token


def test_a_refresh_answers_like_a_token_response(client: TestClient, app: NewClient, first: Tokens) -> None:
    body = ok(refresh(client, app, first.refresh))
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == OFFLINE
    assert body["id_token"]
    assert body["refresh_token"]


# --- rotation and reuse ------------------------------------------------------------------------


def test_every_refresh_rotates_the_refresh_token(client: TestClient, app: NewClient, first: Tokens) -> None:
    second = refreshed(client, app, first.refresh)
    assert second.refresh
    assert second.refresh != first.refresh
    third = refreshed(client, app, second.refresh)
    assert third.refresh not in (first.refresh, second.refresh)
    stored = store.read(client, lambda tx: tx.find_token(hash_token(first.refresh)))
    assert stored is not None
    assert stored.consumed_at is not None


def test_a_rotated_refresh_token_no_longer_works(client: TestClient, app: NewClient, first: Tokens) -> None:
    refreshed(client, app, first.refresh)
    assert_error(refresh(client, app, first.refresh), "invalid_grant")


def test_reusing_a_rotated_refresh_token_revokes_the_family(
    client: TestClient, app: NewClient, first: Tokens
) -> None:
    second = refreshed(client, app, first.refresh)
    third = refreshed(client, app, second.refresh)
    assert userinfo(client, third.access).status_code == 200

    assert_error(refresh(client, app, first.refresh), "invalid_grant")  # the replay

    assert_error(refresh(client, app, third.refresh), "invalid_grant")  # the newest one is dead too
    for access in (first.access, second.access, third.access):
        assert userinfo(client, access).status_code == 401
    newest = store.read(client, lambda tx: tx.find_token(hash_token(third.refresh)))
    assert newest is not None
    assert newest.revoked_at is not None
    grant = store.read(client, lambda tx: tx.get_grant(newest.grant_id))
    assert grant is not None
    assert grant.revoked_at is not None


def test_a_reuse_leaves_other_grants_alone(client: TestClient, app: NewClient, first: Tokens) -> None:
    other = sign_in_tokens(client, app)
    refreshed(client, app, first.refresh)
    assert_error(refresh(client, app, first.refresh), "invalid_grant")
    assert userinfo(client, other.access).status_code == 200
    assert refreshed(client, app, other.refresh).refresh


def test_a_refresh_token_of_another_client_is_refused(
    client: TestClient, app: NewClient, first: Tokens
) -> None:
    other = oidc.register(client, name="Other app")
    assert_error(refresh(client, other, first.refresh), "invalid_grant")


def test_a_public_clients_refresh_token_is_refused_to_another_public_client(
    client: TestClient, signed_in: None
) -> None:
    owner = oidc.register(client, public=True)
    thief = oidc.register(client, public=True, name="Thief")
    tokens = sign_in_tokens(client, owner)
    assert_error(refresh(client, thief, tokens.refresh), "invalid_grant")


def test_a_public_client_refreshes_and_rotates(client: TestClient, signed_in: None) -> None:
    public = oidc.register(client, public=True)
    tokens = sign_in_tokens(client, public)
    new = refreshed(client, public, tokens.refresh)
    assert new.refresh != tokens.refresh
    assert_error(refresh(client, public, tokens.refresh), "invalid_grant")


def test_an_access_token_is_not_a_refresh_token(client: TestClient, app: NewClient, first: Tokens) -> None:
    assert_error(refresh(client, app, first.access), "invalid_grant")
    assert userinfo(client, first.access).status_code == 200


def test_an_unknown_refresh_token_is_invalid_grant(client: TestClient, app: NewClient, first: Tokens) -> None:
    assert_error(refresh(client, app, "not-a-refresh-token"), "invalid_grant")


def test_a_client_without_the_refresh_grant_cannot_refresh(client: TestClient, first: Tokens) -> None:
    no_refresh = oidc.register(client, grant_types=["authorization_code"], name="No refresh")
    response = refresh(client, no_refresh, first.refresh)
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


# --- scope --------------------------------------------------------------------------------------


def test_a_refresh_may_narrow_the_scope(client: TestClient, app: NewClient, first: Tokens) -> None:
    narrow = refreshed(client, app, first.refresh, scope="openid offline_access")
    assert narrow.scope == "openid offline_access"
    claims = userinfo(client, narrow.access).json()
    assert "email" not in claims


def test_narrowing_the_scope_keeps_the_refresh_token(
    client: TestClient, app: NewClient, first: Tokens
) -> None:
    """RFC 6749 §6: the scope parameter narrows the access token; a new refresh token keeps the
    scope of the one presented. Asking for a narrow access token must not end offline access."""
    narrow = refreshed(client, app, first.refresh, scope="openid email")
    assert narrow.scope == "openid email"
    assert narrow.refresh, "the consumed refresh token was not replaced: offline access is lost"
    later = refreshed(client, app, narrow.refresh)
    assert "offline_access" in later.scope.split()


@pytest.mark.parametrize(
    "scope", ["openid email profile", "openid admin", "openid email offline_access profile"]
)
def test_a_refresh_may_not_widen_the_scope(
    client: TestClient, app: NewClient, first: Tokens, scope: str
) -> None:
    assert_error(refresh(client, app, first.refresh, scope=scope), "invalid_scope")


# --- lifetime ------------------------------------------------------------------------------------


def test_a_refresh_token_expires_after_its_lifetime(
    client: TestClient, app: NewClient, first: Tokens, clock: FrozenClock, settings: Settings
) -> None:
    clock.advance(seconds=settings.refresh_token_ttl_seconds + 1)
    assert_error(refresh(client, app, first.refresh), "invalid_grant")


def test_the_lifetime_is_absolute_across_rotations(
    client: TestClient, app: NewClient, first: Tokens, clock: FrozenClock, settings: Settings
) -> None:
    ttl = settings.refresh_token_ttl_seconds
    clock.advance(seconds=ttl - 60)
    rotated = refreshed(client, app, first.refresh)  # still inside the lifetime: works
    clock.advance(seconds=61)
    assert_error(refresh(client, app, rotated.refresh), "invalid_grant")


# --- refreshed ID tokens (OIDC Core §12.2) ---------------------------------------------------------


def test_a_refreshed_id_token_keeps_the_original_sign_in(
    client: TestClient, app: NewClient, signed_in: None, clock: FrozenClock
) -> None:
    signed_up = clock.now()
    original = id_claims(client, clock, app, sign_in_tokens(client, app).id_token)
    clock.advance(seconds=3 * 3600)
    new = refreshed(client, app, sign_in_tokens(client, app).refresh)
    claims = id_claims(client, clock, app, new.id_token)
    assert claims["auth_time"] == timestamp(signed_up) == original["auth_time"]
    assert claims["amr"] == ["phr"]
    assert claims["sub"] == original["sub"]
    assert claims["sid"] == original["sid"]
    assert claims["iat"] == timestamp(clock.now())


def test_a_refreshed_id_token_keeps_a_password_amr(
    client: TestClient, app: NewClient, clock: FrozenClock
) -> None:
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    signed_up = clock.now()
    tokens = sign_in_tokens(client, app)
    clock.advance(seconds=600)
    claims = id_claims(client, clock, app, refreshed(client, app, tokens.refresh).id_token)
    assert claims["amr"] == ["pwd"]
    assert claims["auth_time"] == timestamp(signed_up)


def test_a_refreshed_id_token_keeps_acr(
    client: TestClient, app: NewClient, signed_in: None, clock: FrozenClock
) -> None:
    pkce = Pkce.new()
    code = oidc.code_for(client, app, pkce, scope=OFFLINE, acr_values="phr")
    body = ok(oidc.exchange(client, app, code, pkce))
    clock.advance(seconds=60)
    claims = id_claims(client, clock, app, refreshed(client, app, body["refresh_token"]).id_token)
    assert claims["acr"] == "phr"
