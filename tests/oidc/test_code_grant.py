"""The authorization code grant at /oauth2/token (RFC 6749 §4.1.3, RFC 7636 §4.6) and the ID
token it returns (OIDC Core §2, §3.1.3.3), checked with joserfc against the published JWKS."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import pytest
from httpx2 import Response
from joserfc import jwt
from joserfc.jwk import KeySet, KeySetSerialization
from joserfc.jwt import JWTClaimsRegistry
from sqlalchemy import select
from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from keyturn.domain.identity import User
from keyturn.ids import hash_token
from keyturn.oidc.clients import NewClient
from keyturn.runtime import Runtime
from keyturn.store.sql.database import SqlDatabase
from keyturn.store.sql.tables import authorization_codes
from tests.support import browser, oidc, store
from tests.support.oidc import Pkce
from tests.support.soft_authenticator import SoftAuthenticator

ISSUER = "http://localhost:8000"
EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
OFFLINE = "openid email offline_access"


# --- local helpers -------------------------------------------------------------------


def sign_up(client: TestClient, authenticator: SoftAuthenticator, email: str = EMAIL) -> User:
    response = browser.signup_with_passkey(client, authenticator, email)
    assert response.status_code == 200, response.text
    return store.user_of(client, email)


def assert_invalid_grant(response: Response) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_grant"
    assert "access_token" not in response.json()


def tokens(response: Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def userinfo(client: TestClient, access_token: str) -> Response:
    return client.get("/oauth2/userinfo", headers={"authorization": f"Bearer {access_token}"})


def refresh(client: TestClient, registered: NewClient, refresh_token: str) -> Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    assert registered.secret is not None
    return client.post("/oauth2/token", data=data, auth=(registered.client.client_id, registered.secret))


def decode_id_token(
    client: TestClient,
    clock: FrozenClock,
    registered: NewClient,
    id_token: str,
    *,
    algorithms: tuple[str, ...] = ("ES256", "RS256"),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of an ID token verified against the JWKS, with the claims OIDC requires."""
    key_set = KeySet.import_key_set(cast(KeySetSerialization, oidc.jwks(client)))
    token = jwt.decode(id_token, key_set, algorithms=list(algorithms))
    JWTClaimsRegistry(
        now=int(clock.now().timestamp()),
        iss={"essential": True, "value": ISSUER},
        sub={"essential": True},
        aud={"essential": True, "value": registered.client.client_id},
        exp={"essential": True},
        iat={"essential": True},
        auth_time={"essential": True},
    ).validate(token.claims)
    return dict(token.header), dict(token.claims)


def id_token_of(
    client: TestClient, clock: FrozenClock, registered: NewClient, pkce: Pkce | None = None, **params: str
) -> dict[str, Any]:
    pkce = pkce or Pkce.new()
    code = oidc.code_for(client, registered, pkce, **params)
    body = tokens(oidc.exchange(client, registered, code, pkce))
    return decode_id_token(client, clock, registered, body["id_token"])[1]


def timestamp(when: datetime) -> int:
    return int(when.timestamp())


def code_rows(client: TestClient) -> list[tuple[str, datetime | None]]:
    """(grant id, consumed_at) of every stored authorization code."""

    async def read(rt: Runtime) -> list[tuple[str, datetime | None]]:
        async with cast(SqlDatabase, rt.db).engine.connect() as conn:
            rows = await conn.execute(
                select(authorization_codes.c.grant_id, authorization_codes.c.consumed_at)
            )
            return [(row.grant_id, row.consumed_at) for row in rows]

    return browser.call(client, read)


@pytest.fixture
def app(client: TestClient) -> NewClient:
    """A first-party confidential client (Basic auth), refresh_token grant included."""
    return oidc.register(client)


@pytest.fixture
def ada(client: TestClient, authenticator: SoftAuthenticator) -> User:
    return sign_up(client, authenticator)


# --- single use -------------------------------------------------------------------------


def test_a_code_works_once(client: TestClient, app: NewClient, ada: User) -> None:
    pkce = Pkce.new()
    code = oidc.code_for(client, app, pkce)
    body = tokens(oidc.exchange(client, app, code, pkce))
    assert userinfo(client, body["access_token"]).json()["sub"] == ada.id
    [(_, consumed_at)] = code_rows(client)
    assert consumed_at is not None


def test_a_replayed_code_is_refused_and_revokes_what_it_gave(
    client: TestClient, app: NewClient, ada: User
) -> None:
    pkce = Pkce.new()
    code = oidc.code_for(client, app, pkce, scope=OFFLINE)
    first = tokens(oidc.exchange(client, app, code, pkce))
    assert userinfo(client, first["access_token"]).status_code == 200

    assert_invalid_grant(oidc.exchange(client, app, code, pkce))

    assert userinfo(client, first["access_token"]).status_code == 401
    assert_invalid_grant(refresh(client, app, first["refresh_token"]))
    [(grant_id, _)] = code_rows(client)
    grant = store.read(client, lambda tx: tx.get_grant(grant_id))
    assert grant is not None
    assert grant.revoked_at is not None
    stored = store.read(client, lambda tx: tx.find_token(hash_token(first["access_token"])))
    assert stored is not None
    assert stored.revoked_at is not None


def test_a_replay_does_not_touch_other_grants(client: TestClient, app: NewClient, ada: User) -> None:
    pkce, other_pkce = Pkce.new(), Pkce.new()
    code = oidc.code_for(client, app, pkce)
    other = tokens(oidc.exchange(client, app, oidc.code_for(client, app, other_pkce), other_pkce))
    tokens(oidc.exchange(client, app, code, pkce))
    assert_invalid_grant(oidc.exchange(client, app, code, pkce))
    assert userinfo(client, other["access_token"]).status_code == 200


@pytest.mark.parametrize(("seconds", "works"), [(59, True), (61, False)])
def test_a_code_lives_sixty_seconds(
    client: TestClient, app: NewClient, ada: User, clock: FrozenClock, seconds: int, works: bool
) -> None:
    pkce = Pkce.new()
    code = oidc.code_for(client, app, pkce)
    clock.advance(seconds=seconds)
    response = oidc.exchange(client, app, code, pkce)
    if works:
        tokens(response)
    else:
        assert_invalid_grant(response)


def test_an_unknown_code_is_invalid_grant(client: TestClient, app: NewClient, ada: User) -> None:
    assert_invalid_grant(oidc.exchange(client, app, "not-a-code", None))


# --- PKCE ---------------------------------------------------------------------------------


def test_a_wrong_verifier_is_refused_and_burns_the_code(
    client: TestClient, app: NewClient, ada: User
) -> None:
    pkce = Pkce.new()
    code = oidc.code_for(client, app, pkce)
    assert_invalid_grant(oidc.exchange(client, app, code, Pkce.new()))
    assert_invalid_grant(oidc.exchange(client, app, code, pkce))  # the right one is too late


def test_a_public_clients_wrong_verifier_is_refused(client: TestClient, ada: User) -> None:
    public = oidc.register(client, public=True)
    pkce = Pkce.new()
    code = oidc.code_for(client, public, pkce)
    assert_invalid_grant(oidc.exchange(client, public, code, Pkce.new()))
    assert_invalid_grant(oidc.exchange(client, public, code, pkce))


def test_a_missing_verifier_is_refused_when_a_challenge_was_sent(
    client: TestClient, app: NewClient, ada: User
) -> None:
    pkce = Pkce.new()
    code = oidc.code_for(client, app, pkce)
    assert_invalid_grant(oidc.exchange(client, app, code, None))
    assert_invalid_grant(oidc.exchange(client, app, code, pkce))


def test_the_challenge_itself_is_not_a_verifier(client: TestClient, app: NewClient, ada: User) -> None:
    pkce = Pkce.new()
    code = oidc.code_for(client, app, pkce)
    assert_invalid_grant(oidc.exchange(client, app, code, None, code_verifier=pkce.challenge))


def test_a_verifier_without_a_challenge_is_refused(client: TestClient, app: NewClient, ada: User) -> None:
    code = oidc.code_for(client, app, None)
    assert_invalid_grant(oidc.exchange(client, app, code, Pkce.new()))


# --- redirect_uri and client binding -------------------------------------------------------


@pytest.mark.parametrize("redirect_uri", ["https://app.example/other", "https://app.example/callback/", ""])
def test_the_redirect_uri_must_match_the_authorization_request(
    client: TestClient, ada: User, redirect_uri: str
) -> None:
    registered = oidc.register(client, redirect_uris=[oidc.REDIRECT_URI, "https://app.example/other"])
    pkce = Pkce.new()
    code = oidc.code_for(client, registered, pkce)
    assert_invalid_grant(oidc.exchange(client, registered, code, pkce, redirect_uri=redirect_uri))


def test_another_clients_code_is_refused(client: TestClient, app: NewClient, ada: User) -> None:
    other = oidc.register(client, name="Other app")
    pkce = Pkce.new()
    code = oidc.code_for(client, app, pkce)
    assert_invalid_grant(oidc.exchange(client, other, code, pkce))


def test_another_public_clients_code_is_refused(client: TestClient, ada: User) -> None:
    owner = oidc.register(client, public=True)
    thief = oidc.register(client, public=True, name="Thief")
    pkce = Pkce.new()
    code = oidc.code_for(client, owner, pkce)
    assert_invalid_grant(oidc.exchange(client, thief, code, pkce))


# --- the token response ----------------------------------------------------------------------


def test_the_token_response_has_what_rfc_6749_asks(client: TestClient, app: NewClient, ada: User) -> None:
    pkce = Pkce.new()
    response = oidc.exchange(client, app, oidc.code_for(client, app, pkce), pkce)
    body = tokens(response)
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "openid email"
    assert body["id_token"].count(".") == 2
    assert body["access_token"]
    assert "refresh_token" not in body  # no offline_access asked
    assert "no-store" in response.headers["cache-control"]
    assert response.headers["content-type"].startswith("application/json")


# --- the ID token ----------------------------------------------------------------------------


def test_the_id_token_has_the_required_claims(
    client: TestClient, app: NewClient, ada: User, clock: FrozenClock
) -> None:
    signed_up = clock.now()
    clock.advance(seconds=90)
    pkce = Pkce.new()
    code = oidc.code_for(client, app, pkce, nonce="n-0S6_WzA2Mj")
    body = tokens(oidc.exchange(client, app, code, pkce))
    header, claims = decode_id_token(client, clock, app, body["id_token"])

    assert header["alg"] == "ES256"
    assert header["kid"] in {key["kid"] for key in oidc.jwks(client)["keys"]}
    assert claims["iss"] == ISSUER
    assert claims["aud"] == app.client.client_id
    assert claims["sub"] == ada.id
    assert claims["iat"] == timestamp(clock.now())
    assert claims["exp"] == claims["iat"] + 3600
    assert claims["auth_time"] == timestamp(signed_up)
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["amr"] == ["phr"]
    assert isinstance(claims["sid"], str)
    assert claims["sid"]
    assert claims["email"] == EMAIL
    assert claims["email_verified"] is ada.email_verified is False  # until an operator marks it


def test_the_sid_is_the_browser_session(
    client: TestClient, app: NewClient, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    sign_up(client, authenticator)
    first = id_token_of(client, clock, app)["sid"]
    assert id_token_of(client, clock, app)["sid"] == first
    browser.sign_out(client)
    assert browser.login_with_passkey(client, authenticator).status_code == 200
    assert id_token_of(client, clock, app)["sid"] != first


def test_no_nonce_sent_means_no_nonce_claim(
    client: TestClient, app: NewClient, ada: User, clock: FrozenClock
) -> None:
    pkce = Pkce.new()
    query = {
        "client_id": app.client.client_id,
        "redirect_uri": oidc.REDIRECT_URI,
        "response_type": "code",
        "scope": "openid",
        "state": "state-123",
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
    }
    response = client.get("/oauth2/authorize", params=query, follow_redirects=False)
    code = oidc.redirect_params(response)["code"]
    body = tokens(oidc.exchange(client, app, code, pkce))
    assert "nonce" not in decode_id_token(client, clock, app, body["id_token"])[1]


def test_the_email_claims_come_only_with_the_email_scope(
    client: TestClient, app: NewClient, ada: User, clock: FrozenClock
) -> None:
    claims = id_token_of(client, clock, app, scope="openid")
    assert "email" not in claims
    assert "email_verified" not in claims


def test_sub_is_stable_across_sign_ins_and_differs_between_users(
    client: TestClient, app: NewClient, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    ada = sign_up(client, authenticator)
    first = id_token_of(client, clock, app)["sub"]
    browser.sign_out(client)
    clock.advance(seconds=300)
    assert browser.login_with_passkey(client, authenticator).status_code == 200
    again = id_token_of(client, clock, app)["sub"]
    assert first == again == ada.id
    assert EMAIL not in first

    browser.sign_out(client)
    response = browser.signup_with_password(client, "grace@example.com", PASSWORD)
    assert response.status_code == 200, response.text
    other = id_token_of(client, clock, app)
    assert other["sub"] != first
    assert other["email"] == "grace@example.com"


def test_amr_is_phr_after_a_passkey(
    client: TestClient, app: NewClient, ada: User, clock: FrozenClock
) -> None:
    assert id_token_of(client, clock, app)["amr"] == ["phr"]


def test_amr_is_pwd_after_a_password(client: TestClient, app: NewClient, clock: FrozenClock) -> None:
    response = browser.signup_with_password(client, EMAIL, PASSWORD)
    assert response.status_code == 200, response.text
    claims = id_token_of(client, clock, app)
    assert claims["amr"] == ["pwd"]
    assert claims["email"] == EMAIL


def test_amr_is_pwd_after_a_password_sign_in(client: TestClient, app: NewClient, clock: FrozenClock) -> None:
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    browser.sign_out(client)
    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 200
    assert id_token_of(client, clock, app)["amr"] == ["pwd"]


def test_acr_is_phr_when_asked_for_and_a_passkey_was_used(
    client: TestClient, app: NewClient, ada: User, clock: FrozenClock
) -> None:
    assert id_token_of(client, clock, app, acr_values="phr")["acr"] == "phr"


def test_acr_is_absent_when_not_asked_for(
    client: TestClient, app: NewClient, ada: User, clock: FrozenClock
) -> None:
    assert "acr" not in id_token_of(client, clock, app)


def test_acr_is_absent_when_another_acr_was_asked_for(
    client: TestClient, app: NewClient, ada: User, clock: FrozenClock
) -> None:
    """Only `acr_values=phr` is answered with acr=phr (the rule this provider documents)."""
    claims = id_token_of(client, clock, app, acr_values="urn:mace:incommon:iap:silver")
    assert "acr" not in claims


def test_phr_asked_for_after_a_password_is_a_step_up_not_a_code(
    client: TestClient, app: NewClient, clock: FrozenClock
) -> None:
    """The step-up itself is tests/oidc/test_step_up.py."""
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    response = oidc.authorize(client, app, Pkce.new(), acr_values="phr")
    assert response.headers["location"].startswith("/login?authorization_request=")
    assert code_rows(client) == []


def test_rs256_id_tokens_for_a_client_registered_for_them(
    client: TestClient, ada: User, clock: FrozenClock
) -> None:
    rs256 = oidc.register(client, id_token_alg="RS256")
    pkce = Pkce.new()
    body = tokens(oidc.exchange(client, rs256, oidc.code_for(client, rs256, pkce), pkce))
    header, claims = decode_id_token(client, clock, rs256, body["id_token"], algorithms=("RS256",))
    assert header["alg"] == "RS256"
    published = {key["kid"]: key for key in oidc.jwks(client)["keys"]}
    assert published[header["kid"]]["kty"] == "RSA"
    assert claims["sub"] == ada.id


def test_es256_is_the_default_and_does_not_verify_as_rs256(
    client: TestClient, app: NewClient, ada: User, clock: FrozenClock
) -> None:
    pkce = Pkce.new()
    body = tokens(oidc.exchange(client, app, oidc.code_for(client, app, pkce), pkce))
    with pytest.raises(Exception, match="algorithm"):
        decode_id_token(client, clock, app, body["id_token"], algorithms=("RS256",))
