"""What clients and APIs do with tokens: the client_credentials grant (RFC 6749 §4.4, JWT access
tokens per RFC 9068), UserInfo (OIDC Core §5.3), revocation (RFC 7009) and introspection
(RFC 7662) — including forged and confused tokens, which must be refused everywhere."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any, cast

import pytest
from httpx2 import Response
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, KeySetSerialization, RSAKey
from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from keyturn.errors import KeyturnError
from keyturn.oidc.clients import NewClient
from keyturn.runtime import Runtime
from tests.support import browser, oidc, store
from tests.support.oidc import b64url as _b64
from tests.support.oidc import jwt_parts as _parts
from tests.support.soft_authenticator import SoftAuthenticator

ISSUER = "http://localhost:8000"
API = "https://api.example/"
ACCESS_TTL = 3600  # Settings.access_token_ttl_seconds default


# --- helpers -------------------------------------------------------------------------------


def secret_of(registered: NewClient) -> str:
    assert registered.secret is not None
    return registered.secret


def auth_of(registered: NewClient) -> tuple[str, str]:
    return registered.client.client_id, secret_of(registered)


def machine_client(client: TestClient, **options: Any) -> NewClient:
    options.setdefault("grant_types", ["client_credentials"])
    options.setdefault("scopes", ["read:users", "write:users"])
    options.setdefault("audiences", [API])
    options.setdefault("redirect_uris", [])
    return oidc.register(client, **options)


def web_client(client: TestClient, **options: Any) -> NewClient:
    """A confidential, first-party web app that may get refresh tokens and tokens for API."""
    options.setdefault("grant_types", ["authorization_code", "refresh_token"])
    options.setdefault("audiences", [API])
    return oidc.register(client, **options)


def client_credentials(client: TestClient, registered: NewClient, **form: str) -> Response:
    return client.post(
        "/oauth2/token", data={"grant_type": "client_credentials", **form}, auth=auth_of(registered)
    )


def sign_in(client: TestClient, authenticator: SoftAuthenticator, email: str = "ada@example.com") -> None:
    response = browser.signup_with_passkey(client, authenticator, email)
    assert response.status_code == 200, response.text


def user_tokens(
    client: TestClient, registered: NewClient, *, scope: str = "openid email offline_access", **params: str
) -> dict[str, Any]:
    """Run the code flow for the signed-in browser and return the token response."""
    code = oidc.code_for(client, registered, None, scope=scope, **params)
    response = oidc.exchange(client, registered, code, None)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def userinfo(client: TestClient, token: str, *, method: str = "GET") -> Response:
    headers = {"authorization": f"Bearer {token}"}
    if method == "GET":
        return client.get("/oauth2/userinfo", headers=headers)
    return client.post("/oauth2/userinfo", headers=headers)


def introspect(client: TestClient, caller: NewClient, token: str) -> dict[str, Any]:
    response = client.post("/oauth2/introspect", data={"token": token}, auth=auth_of(caller))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def revoke(client: TestClient, caller: NewClient, token: str, **extra: str) -> Response:
    return client.post("/oauth2/revoke", data={"token": token, **extra}, auth=auth_of(caller))


def refresh(client: TestClient, registered: NewClient, token: str) -> Response:
    return client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        auth=auth_of(registered),
    )


def assert_bearer_refused(response: Response, *, status: int = 401) -> None:
    assert response.status_code == status, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "sub" not in response.json()


def verify_with_jwks(client: TestClient, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a token checked against the published JWKS with a real JOSE library."""
    decoded = jwt.decode(
        token,
        KeySet.import_key_set(cast(KeySetSerialization, oidc.jwks(client))),
        algorithms=["ES256", "RS256"],
    )
    return dict(decoded.header), dict(decoded.claims)


def _b64json(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


# --- client_credentials ----------------------------------------------------------------------


def test_client_credentials_with_an_audience_gets_an_rfc9068_jwt(
    client: TestClient, clock: FrozenClock
) -> None:
    registered = machine_client(client)
    client_id = registered.client.client_id

    response = client_credentials(client, registered, scope="read:users", audience=API)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == ACCESS_TTL
    assert body["scope"] == "read:users"
    assert "id_token" not in body
    assert "refresh_token" not in body
    header, claims = verify_with_jwks(client, body["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    assert header["kid"] in {key["kid"] for key in oidc.jwks(client)["keys"]}
    now = int(clock.now().timestamp())
    assert claims["iss"] == ISSUER
    assert claims["sub"] == client_id
    assert claims["aud"] == API
    assert claims["client_id"] == client_id
    assert claims["iat"] == now
    assert claims["exp"] == now + ACCESS_TTL
    assert isinstance(claims["jti"], str) and claims["jti"]
    assert claims["scope"] == "read:users"


def test_client_credentials_jtis_are_unique(client: TestClient) -> None:
    registered = machine_client(client)

    tokens = [client_credentials(client, registered, audience=API).json()["access_token"] for _ in range(2)]

    assert _parts(tokens[0])[1]["jti"] != _parts(tokens[1])[1]["jti"]


def test_client_credentials_accepts_the_resource_parameter(client: TestClient) -> None:
    """RFC 8707 `resource` names the API as well as Auth0's `audience`."""
    registered = machine_client(client)

    response = client_credentials(client, registered, resource=API)

    assert response.status_code == 200, response.text
    assert verify_with_jwks(client, response.json()["access_token"])[1]["aud"] == API


def test_client_credentials_without_scope_gets_the_registered_scopes(client: TestClient) -> None:
    registered = machine_client(client)

    response = client_credentials(client, registered, audience=API)

    assert response.status_code == 200, response.text
    assert set(response.json()["scope"].split()) == {"read:users", "write:users"}


def test_client_credentials_without_an_audience_gets_an_opaque_token(client: TestClient) -> None:
    registered = machine_client(client, scopes=["read:reports"], audiences=[])

    response = client_credentials(client, registered, scope="read:reports")

    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert token.count(".") != 2
    body = introspect(client, registered, token)
    assert body["active"] is True
    assert "aud" not in body


def test_client_credentials_defaults_to_the_only_registered_audience(client: TestClient) -> None:
    registered = machine_client(client, scopes=["read:reports"], audiences=[API])

    response = client_credentials(client, registered)

    assert response.status_code == 200, response.text
    assert verify_with_jwks(client, response.json()["access_token"])[1]["aud"] == API


def test_client_credentials_with_several_audiences_and_none_asked_gets_no_jwt(client: TestClient) -> None:
    registered = machine_client(
        client, scopes=["read:reports"], audiences=[API, "https://other-api.example/"]
    )

    response = client_credentials(client, registered)

    assert response.status_code == 200, response.text
    assert response.json()["access_token"].count(".") != 2


def test_client_credentials_refuses_a_scope_outside_the_registered_list(client: TestClient) -> None:
    registered = machine_client(client)

    response = client_credentials(client, registered, scope="read:users admin", audience=API)

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_scope"
    assert "access_token" not in response.json()


def test_client_credentials_refuses_openid_scopes(client: TestClient) -> None:
    registered = machine_client(client)

    response = client_credentials(client, registered, scope="openid")

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_scope"


@pytest.mark.parametrize("parameter", ["audience", "resource"])
def test_client_credentials_refuses_an_unregistered_audience(client: TestClient, parameter: str) -> None:
    registered = machine_client(client)

    response = client_credentials(client, registered, **{parameter: "https://other-api.example/"})

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_target"


def test_client_credentials_needs_the_grant_registered(client: TestClient) -> None:
    registered = web_client(client)

    response = client_credentials(client, registered)

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "unauthorized_client"


@pytest.mark.parametrize(
    "grant_type", ["password", "implicit", "urn:ietf:params:oauth:grant-type:device_code", ""]
)
def test_an_unknown_grant_type_is_unsupported(client: TestClient, grant_type: str) -> None:
    registered = machine_client(client)

    response = client.post("/oauth2/token", data={"grant_type": grant_type}, auth=auth_of(registered))

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "unsupported_grant_type"


def test_public_clients_cannot_be_registered_for_client_credentials(client: TestClient) -> None:
    with pytest.raises(KeyturnError) as caught:
        oidc.register(client, public=True, grant_types=["client_credentials"], redirect_uris=[])

    assert caught.value.code == "invalid_client_metadata"
    assert store.read(client, lambda tx: tx.list_clients()) == []


def test_a_client_credentials_token_is_introspected_without_a_user(client: TestClient) -> None:
    registered = machine_client(client)
    token = client_credentials(client, registered, scope="read:users", audience=API).json()["access_token"]

    body = introspect(client, registered, token)

    assert body["active"] is True
    assert body["sub"] == registered.client.client_id
    assert body["client_id"] == registered.client.client_id
    assert body["aud"] == API
    assert body["scope"] == "read:users"
    assert "amr" not in body and "auth_time" not in body


# --- UserInfo --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_userinfo_returns_the_users_claims_by_scope(
    client: TestClient, authenticator: SoftAuthenticator, method: str
) -> None:
    sign_in(client, authenticator, "grace@example.com")
    registered = web_client(client)
    tokens = user_tokens(client, registered, scope="openid email")

    response = userinfo(client, tokens["access_token"], method=method)

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["sub"] == verify_with_jwks(client, tokens["id_token"])[1]["sub"]
    assert body["email"] == "grace@example.com"
    assert body["email_verified"] is False


def test_userinfo_with_openid_scope_alone_returns_only_sub(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_in(client, authenticator)
    tokens = user_tokens(client, web_client(client), scope="openid")

    response = userinfo(client, tokens["access_token"])

    assert response.status_code == 200, response.text
    assert set(response.json()) == {"sub"}


def test_userinfo_accepts_the_token_as_a_form_parameter(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    """RFC 6750 §2.2: form-encoded body parameter access_token."""
    sign_in(client, authenticator)
    tokens = user_tokens(client, web_client(client))

    response = client.post("/oauth2/userinfo", data={"access_token": tokens["access_token"]})

    assert response.status_code == 200, response.text
    assert "sub" in response.json()


def test_userinfo_accepts_a_jwt_access_token(client: TestClient, authenticator: SoftAuthenticator) -> None:
    sign_in(client, authenticator)
    tokens = user_tokens(client, web_client(client), audience=API)
    header, claims = verify_with_jwks(client, tokens["access_token"])

    response = userinfo(client, tokens["access_token"])

    assert header["typ"] == "at+jwt"
    assert claims["aud"] == API
    assert response.status_code == 200, response.text
    assert response.json()["sub"] == claims["sub"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer"}, {"authorization": "Bearer "}, {"authorization": "Basic dXNlcjpwYXNz"}],
    ids=["none", "bearer-without-token", "bearer-blank", "basic"],
)
def test_userinfo_without_a_bearer_token_is_401(client: TestClient, headers: dict[str, str]) -> None:
    get = client.get("/oauth2/userinfo", headers=headers)
    post = client.post("/oauth2/userinfo", headers=headers)

    assert_bearer_refused(get)
    assert_bearer_refused(post)


def test_userinfo_refuses_a_client_credentials_token(client: TestClient) -> None:
    registered = machine_client(client)
    jwt_token = client_credentials(client, registered, audience=API).json()["access_token"]
    opaque = client_credentials(client, registered).json()["access_token"]

    for token in (jwt_token, opaque):
        response = userinfo(client, token)
        assert response.status_code in (401, 403), response.text
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "sub" not in response.json()


def test_userinfo_refuses_an_expired_access_token(
    client: TestClient, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    sign_in(client, authenticator)
    registered = web_client(client)
    opaque = user_tokens(client, registered)["access_token"]
    as_jwt = user_tokens(client, registered, audience=API)["access_token"]
    assert userinfo(client, opaque).status_code == 200
    assert userinfo(client, as_jwt).status_code == 200

    clock.advance(seconds=ACCESS_TTL + 1)

    assert_bearer_refused(userinfo(client, opaque))
    assert_bearer_refused(userinfo(client, as_jwt))
    assert introspect(client, registered, opaque) == {"active": False}
    assert introspect(client, registered, as_jwt) == {"active": False}


def test_an_access_token_is_valid_until_just_before_it_expires(
    client: TestClient, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    sign_in(client, authenticator)
    token = user_tokens(client, web_client(client))["access_token"]

    clock.advance(seconds=ACCESS_TTL - 1)
    before = userinfo(client, token)
    clock.advance(seconds=1)
    at_expiry = userinfo(client, token)

    assert before.status_code == 200
    assert at_expiry.status_code == 401


def test_userinfo_refuses_a_revoked_access_token(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_in(client, authenticator)
    registered = web_client(client)
    token = user_tokens(client, registered)["access_token"]

    assert revoke(client, registered, token).status_code == 200

    assert_bearer_refused(userinfo(client, token))


def test_userinfo_refuses_a_refresh_token_or_an_id_token(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_in(client, authenticator)
    registered = web_client(client)
    tokens = user_tokens(client, registered)

    assert_bearer_refused(userinfo(client, tokens["refresh_token"]))
    assert_bearer_refused(userinfo(client, tokens["id_token"]))
    assert introspect(client, registered, tokens["id_token"]) == {"active": False}


# --- forged and confused access tokens -----------------------------------------------------------


def _hmac_token(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    signing_input = f"{_b64json(header)}.{_b64json(claims)}"
    return f"{signing_input}.{_b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())}"


def forge(client: TestClient, kind: str, genuine: str) -> str:
    """A forgery of `genuine` (a real at+jwt Keyturn issued, whose jti IS in the database)."""
    header, claims = _parts(genuine)
    published = oidc.jwks(client)["keys"]
    es_jwk = next(k for k in published if k["alg"] == "ES256")
    rs_jwk = next(k for k in published if k["alg"] == "RS256")
    if kind == "alg-none":
        return f"{_b64json({'alg': 'none', 'typ': 'at+jwt', 'kid': es_jwk['kid']})}.{_b64json(claims)}."
    if kind == "alg-none-with-genuine-signature":
        return f"{_b64json({**header, 'alg': 'none'})}.{_b64json(claims)}.{genuine.split('.')[2]}"
    if kind == "hs256-keyed-with-rsa-public-pem":
        pem = RSAKey.import_key(rs_jwk).as_pem(private=False)
        return _hmac_token({"alg": "HS256", "typ": "at+jwt", "kid": rs_jwk["kid"]}, claims, pem)
    if kind == "hs256-keyed-with-ec-public-jwk-json":
        raw = json.dumps(es_jwk).encode()
        return _hmac_token({"alg": "HS256", "typ": "at+jwt", "kid": es_jwk["kid"]}, claims, raw)
    if kind == "hs256-random-key":
        return _hmac_token({"alg": "HS256", "typ": "at+jwt"}, claims, secrets.token_bytes(32))
    if kind == "unrelated-ec-key-with-copied-kid":
        other = ECKey.generate_key("P-256")
        return jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": es_jwk["kid"]}, claims, other)
    if kind == "unrelated-rsa-key-with-copied-kid":
        other_rsa = RSAKey.generate_key(2048)
        return jwt.encode({"alg": "RS256", "typ": "at+jwt", "kid": rs_jwk["kid"]}, claims, other_rsa)
    if kind == "embedded-jwk-header":
        attacker = ECKey.generate_key("P-256")
        embedded = {"alg": "ES256", "typ": "at+jwt", "jwk": attacker.as_dict(private=False)}
        return jwt.encode(embedded, claims, attacker)
    if kind == "tampered-claims":
        widened = {**claims, "scope": claims["scope"] + " admin", "sub": "someone-else"}
        signing_input, signature = genuine.rsplit(".", 1)
        return f"{signing_input.split('.')[0]}.{_b64json(widened)}.{signature}"
    if kind == "server-signed-but-never-issued-jti":
        never_issued = {**claims, "jti": secrets.token_hex(16)}

        async def sign(rt: Runtime) -> str:
            ring = await rt.keys.ring(now=rt.clock.now())
            return ring.sign(never_issued, now=rt.clock.now(), typ="at+jwt")

        return browser.call(client, sign)
    raise AssertionError(kind)


FORGERIES = [
    "alg-none",
    "alg-none-with-genuine-signature",
    "hs256-keyed-with-rsa-public-pem",
    "hs256-keyed-with-ec-public-jwk-json",
    "hs256-random-key",
    "unrelated-ec-key-with-copied-kid",
    "unrelated-rsa-key-with-copied-kid",
    "embedded-jwk-header",
    "tampered-claims",
    "server-signed-but-never-issued-jti",
]


@pytest.mark.parametrize("kind", FORGERIES)
def test_forged_access_tokens_are_refused_by_userinfo_and_introspection(
    client: TestClient, authenticator: SoftAuthenticator, kind: str
) -> None:
    sign_in(client, authenticator)
    registered = web_client(client)
    genuine = user_tokens(client, registered, audience=API)["access_token"]
    assert userinfo(client, genuine).status_code == 200  # the real one works: only the forgery differs

    forged = forge(client, kind, genuine)

    assert_bearer_refused(userinfo(client, forged))
    assert_bearer_refused(userinfo(client, forged, method="POST"))
    assert introspect(client, registered, forged) == {"active": False}
    assert revoke(client, registered, forged).status_code == 200
    assert userinfo(client, genuine).status_code == 200  # revoking a forgery revoked nothing


@pytest.mark.parametrize("kind", ["unrelated-ec-key-with-copied-kid", "server-signed-but-never-issued-jti"])
def test_forged_client_credentials_tokens_are_inactive(client: TestClient, kind: str) -> None:
    registered = machine_client(client)
    genuine = client_credentials(client, registered, audience=API).json()["access_token"]

    assert introspect(client, registered, forge(client, kind, genuine)) == {"active": False}


@pytest.mark.parametrize("token", ["", "x", "a.b.c", "e30.e30.", "..", "Bearer x", "%00" * 10])
def test_garbage_bearer_tokens_are_401(client: TestClient, token: str) -> None:
    registered = machine_client(client)

    response = client.get("/oauth2/userinfo", headers={"authorization": f"Bearer {token}"})

    assert_bearer_refused(response)
    if token:
        assert introspect(client, registered, token) == {"active": False}


# --- revocation (RFC 7009) ------------------------------------------------------------------------


def test_revoking_a_refresh_token_revokes_its_whole_grant(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_in(client, authenticator)
    registered = web_client(client)
    tokens = user_tokens(client, registered)
    assert userinfo(client, tokens["access_token"]).status_code == 200

    response = revoke(client, registered, tokens["refresh_token"])

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert_bearer_refused(userinfo(client, tokens["access_token"]))
    assert introspect(client, registered, tokens["access_token"]) == {"active": False}
    assert introspect(client, registered, tokens["refresh_token"]) == {"active": False}
    refreshed = refresh(client, registered, tokens["refresh_token"])
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"


def test_revoking_a_refresh_token_leaves_other_grants_alone(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_in(client, authenticator)
    registered = web_client(client)
    first, second = user_tokens(client, registered), user_tokens(client, registered)

    revoke(client, registered, first["refresh_token"])

    assert userinfo(client, second["access_token"]).status_code == 200
    assert refresh(client, registered, second["refresh_token"]).status_code == 200


def test_revoking_a_jwt_access_tokens_grant_through_its_refresh_token(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_in(client, authenticator)
    registered = web_client(client)
    tokens = user_tokens(client, registered, audience=API)

    revoke(client, registered, tokens["refresh_token"])

    assert_bearer_refused(userinfo(client, tokens["access_token"]))


@pytest.mark.parametrize("audience", [None, API], ids=["opaque", "jwt"])
def test_revoking_an_access_token(
    client: TestClient, authenticator: SoftAuthenticator, audience: str | None
) -> None:
    sign_in(client, authenticator)
    registered = web_client(client)
    tokens = user_tokens(client, registered, **({"audience": audience} if audience else {}))

    response = revoke(client, registered, tokens["access_token"], token_type_hint="access_token")

    assert response.status_code == 200, response.text
    assert_bearer_refused(userinfo(client, tokens["access_token"]))
    assert introspect(client, registered, tokens["access_token"]) == {"active": False}


def test_a_wrong_token_type_hint_does_not_stop_revocation(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    """RFC 7009 §2.1: the hint is only a hint; the server searches all token types."""
    sign_in(client, authenticator)
    registered = web_client(client)
    tokens = user_tokens(client, registered)

    revoke(client, registered, tokens["refresh_token"], token_type_hint="access_token")

    assert_bearer_refused(userinfo(client, tokens["access_token"]))


def test_revoking_an_unknown_token_is_200(client: TestClient) -> None:
    registered = machine_client(client)

    for token in ("never-issued", "a.b.c", secrets.token_urlsafe(32)):
        response = revoke(client, registered, token)
        assert response.status_code == 200, response.text


def test_revocation_needs_the_token_parameter(client: TestClient) -> None:
    registered = machine_client(client)

    response = client.post("/oauth2/revoke", data={}, auth=auth_of(registered))

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"


def test_revoking_another_clients_tokens_has_no_effect(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_in(client, authenticator)
    owner, stranger = web_client(client), web_client(client, name="Stranger")
    tokens = user_tokens(client, owner)
    jwt_tokens = user_tokens(client, owner, audience=API)

    for token in (tokens["refresh_token"], tokens["access_token"], jwt_tokens["access_token"]):
        assert revoke(client, stranger, token).status_code == 200

    assert userinfo(client, tokens["access_token"]).status_code == 200
    assert userinfo(client, jwt_tokens["access_token"]).status_code == 200
    assert introspect(client, owner, tokens["refresh_token"])["active"] is True
    assert refresh(client, owner, tokens["refresh_token"]).status_code == 200


def test_a_public_client_can_revoke_its_own_tokens(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_in(client, authenticator)
    registered = oidc.register(client, public=True)
    pkce = oidc.Pkce.new()
    tokens = oidc.exchange(client, registered, oidc.code_for(client, registered, pkce), pkce).json()

    response = client.post(
        "/oauth2/revoke", data={"token": tokens["access_token"], "client_id": registered.client.client_id}
    )

    assert response.status_code == 200, response.text
    assert_bearer_refused(userinfo(client, tokens["access_token"]))


# --- introspection (RFC 7662) ---------------------------------------------------------------------


def test_introspecting_an_active_access_token(
    client: TestClient, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    sign_in(client, authenticator)
    registered = web_client(client)
    tokens = user_tokens(client, registered)
    id_claims = verify_with_jwks(client, tokens["id_token"])[1]
    now = int(clock.now().timestamp())

    body = introspect(client, registered, tokens["access_token"])

    assert body["active"] is True
    assert body["scope"] == "openid email offline_access"
    assert body["client_id"] == registered.client.client_id
    assert body["sub"] == id_claims["sub"]
    assert body["token_type"] == "access_token"
    assert body["iat"] == now
    assert body["exp"] == now + ACCESS_TTL
    assert body["iss"] == ISSUER
    assert body["amr"] == id_claims["amr"] == ["phr"]
    assert body["auth_time"] == id_claims["auth_time"]


def test_introspecting_a_refresh_token(client: TestClient, authenticator: SoftAuthenticator) -> None:
    sign_in(client, authenticator)
    registered = web_client(client)
    tokens = user_tokens(client, registered)

    body = introspect(client, registered, tokens["refresh_token"])

    assert body["active"] is True
    assert body["token_type"] == "refresh_token"
    assert body["client_id"] == registered.client.client_id


def test_introspecting_a_jwt_access_token_reports_its_audience(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_in(client, authenticator)
    registered = web_client(client)
    token = user_tokens(client, registered, audience=API)["access_token"]

    body = introspect(client, registered, token)

    assert body["active"] is True
    assert body["aud"] == API
    assert body["sub"] == _parts(token)[1]["sub"]


def test_a_resource_server_client_may_introspect_another_clients_token(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_in(client, authenticator)
    app, api = web_client(client), machine_client(client, name="The API")
    token = user_tokens(client, app, audience=API)["access_token"]

    body = introspect(client, api, token)

    assert body["active"] is True
    assert body["client_id"] == app.client.client_id


def test_public_clients_cannot_introspect(client: TestClient, authenticator: SoftAuthenticator) -> None:
    sign_in(client, authenticator)
    registered = oidc.register(client, public=True)
    pkce = oidc.Pkce.new()
    tokens = oidc.exchange(client, registered, oidc.code_for(client, registered, pkce), pkce).json()

    response = client.post(
        "/oauth2/introspect", data={"token": tokens["access_token"], "client_id": registered.client.client_id}
    )

    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    assert "active" not in response.json()


def test_introspection_needs_client_authentication(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    sign_in(client, authenticator)
    token = user_tokens(client, web_client(client))["access_token"]

    response = client.post("/oauth2/introspect", data={"token": token})

    assert response.status_code == 401
    assert "active" not in response.json()


def test_introspecting_revoked_expired_and_unknown_tokens(
    client: TestClient, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    sign_in(client, authenticator)
    registered = web_client(client)
    revoked, expiring = user_tokens(client, registered), user_tokens(client, registered)
    revoke(client, registered, revoked["access_token"])

    assert introspect(client, registered, revoked["access_token"]) == {"active": False}
    assert introspect(client, registered, "never-issued") == {"active": False}
    clock.advance(seconds=ACCESS_TTL + 1)
    assert introspect(client, registered, expiring["access_token"]) == {"active": False}
    assert introspect(client, registered, expiring["refresh_token"])["active"] is True  # lives 30 days


def test_introspecting_a_consumed_refresh_token_is_inactive(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    """After rotation the old refresh token can no longer be used, so it is not active."""
    sign_in(client, authenticator)
    registered = web_client(client)
    tokens = user_tokens(client, registered)

    rotated = refresh(client, registered, tokens["refresh_token"])

    assert rotated.status_code == 200, rotated.text
    assert introspect(client, registered, rotated.json()["refresh_token"])["active"] is True
    assert introspect(client, registered, tokens["refresh_token"]) == {"active": False}


def test_introspection_needs_the_token_parameter(client: TestClient) -> None:
    registered = machine_client(client)

    response = client.post("/oauth2/introspect", data={}, auth=auth_of(registered))

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
