"""Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3,
OIDC Core §9): client_secret_basic, client_secret_post, none (public) and private_key_jwt (RFC 7523).

The client_credentials grant is the probe at /oauth2/token (it needs no user); a public client,
which cannot use it, is probed at /oauth2/revoke, where an authenticated call with an unknown
token answers 200 and a failed authentication 401.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

import pytest
from httpx2 import Response
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from starlette.testclient import TestClient

from keyturn.app import create_app
from keyturn.clock import FrozenClock
from keyturn.errors import KeyturnError
from keyturn.oidc.clients import NewClient
from keyturn.settings import Settings
from tests.support import browser, oidc, store
from tests.support.oidc import b64url as _b64
from tests.support.soft_authenticator import SoftAuthenticator

TOKEN_ENDPOINT = "http://localhost:8000/oauth2/token"
ISSUER = "http://localhost:8000"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLIENT_CREDENTIALS = {"grant_type": "client_credentials", "scope": "read:users"}


def machine_client(client: TestClient, **options: Any) -> NewClient:
    """A confidential client that may use client_credentials (so /oauth2/token needs no user)."""
    options.setdefault("grant_types", ["client_credentials"])
    options.setdefault("scopes", ["read:users"])
    options.setdefault("redirect_uris", [])
    return oidc.register(client, **options)


def assert_invalid_client(response: Response, *, challenge: bool) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    assert "access_token" not in response.json()
    if challenge:
        assert response.headers["www-authenticate"].lower().startswith("basic")


def secret_of(registered: NewClient) -> str:
    assert registered.secret is not None
    return registered.secret


# --- client_secret_basic and client_secret_post ------------------------------------------


def test_client_secret_basic_authenticates(client: TestClient) -> None:
    registered = machine_client(client)

    response = client.post(
        "/oauth2/token", data=CLIENT_CREDENTIALS, auth=(registered.client.client_id, secret_of(registered))
    )

    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"
    assert response.headers["cache-control"] == "no-store"


def test_a_basic_client_may_not_send_its_secret_in_the_form(client: TestClient) -> None:
    registered = machine_client(client)

    response = client.post(
        "/oauth2/token",
        data={
            **CLIENT_CREDENTIALS,
            "client_id": registered.client.client_id,
            "client_secret": secret_of(registered),
        },
    )

    assert_invalid_client(response, challenge=False)


def test_client_secret_post_authenticates_a_client_registered_for_it(client: TestClient) -> None:
    registered = machine_client(client, auth_method="client_secret_post")

    response = client.post(
        "/oauth2/token",
        data={
            **CLIENT_CREDENTIALS,
            "client_id": registered.client.client_id,
            "client_secret": secret_of(registered),
        },
    )

    assert response.status_code == 200, response.text
    assert "access_token" in response.json()


def test_a_post_client_may_not_use_basic(client: TestClient) -> None:
    registered = machine_client(client, auth_method="client_secret_post")

    response = client.post(
        "/oauth2/token", data=CLIENT_CREDENTIALS, auth=(registered.client.client_id, secret_of(registered))
    )

    assert_invalid_client(response, challenge=True)


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_a_wrong_secret_is_invalid_client(client: TestClient, method: str) -> None:
    registered = machine_client(client, auth_method=method)
    wrong = secret_of(registered)[:-2] + "xx"

    if method == "client_secret_basic":
        response = client.post(
            "/oauth2/token", data=CLIENT_CREDENTIALS, auth=(registered.client.client_id, wrong)
        )
    else:
        form = {**CLIENT_CREDENTIALS, "client_id": registered.client.client_id, "client_secret": wrong}
        response = client.post("/oauth2/token", data=form)

    assert_invalid_client(response, challenge=method == "client_secret_basic")


def test_another_clients_secret_does_not_authenticate(client: TestClient) -> None:
    first, second = machine_client(client), machine_client(client)

    response = client.post(
        "/oauth2/token", data=CLIENT_CREDENTIALS, auth=(first.client.client_id, secret_of(second))
    )

    assert_invalid_client(response, challenge=True)


def test_an_unknown_client_is_invalid_client(client: TestClient) -> None:
    with_basic = client.post("/oauth2/token", data=CLIENT_CREDENTIALS, auth=("no-such-client", "secret"))
    with_form = client.post(
        "/oauth2/token", data={**CLIENT_CREDENTIALS, "client_id": "no-such-client", "client_secret": "secret"}
    )
    with_nothing = client.post("/oauth2/token", data=CLIENT_CREDENTIALS)

    assert_invalid_client(with_basic, challenge=True)
    assert_invalid_client(with_form, challenge=False)
    assert_invalid_client(with_nothing, challenge=False)


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
    ],
)
def test_a_malformed_basic_header_is_invalid_client(client: TestClient, header: str) -> None:
    machine_client(client)

    response = client.post("/oauth2/token", data=CLIENT_CREDENTIALS, headers={"authorization": header})

    assert_invalid_client(response, challenge=True)


def test_basic_credentials_are_form_urldecoded(client: TestClient) -> None:
    """RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding."""
    registered = machine_client(client)
    client_id, secret = registered.client.client_id, secret_of(registered)
    encoded = "".join(f"%{byte:02X}" for byte in client_id.encode())  # every byte escaped
    header = "Basic " + base64.b64encode(f"{encoded}:{secret}".encode()).decode()

    response = client.post("/oauth2/token", data=CLIENT_CREDENTIALS, headers={"authorization": header})

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", ["/oauth2/revoke", "/oauth2/introspect"])
def test_revocation_and_introspection_authenticate_the_client_too(client: TestClient, path: str) -> None:
    registered = machine_client(client)
    client_id = registered.client.client_id

    good = client.post(path, data={"token": "unknown"}, auth=(client_id, secret_of(registered)))
    wrong = client.post(path, data={"token": "unknown"}, auth=(client_id, "wrong-secret"))
    anonymous = client.post(path, data={"token": "unknown"})

    assert good.status_code == 200, good.text
    assert_invalid_client(wrong, challenge=True)
    assert_invalid_client(anonymous, challenge=False)


def test_client_secrets_are_stored_hashed(client: TestClient) -> None:
    registered = machine_client(client)
    secret = secret_of(registered)

    stored = store.read(client, lambda tx: tx.get_client(registered.client.client_id))

    assert stored is not None
    assert stored.secret_hash
    assert stored.secret_hash != secret
    assert secret not in stored.secret_hash
    assert len(secret) >= 43  # 256 bits, base64url


def test_every_confidential_client_gets_its_own_secret(client: TestClient) -> None:
    first, second = machine_client(client), machine_client(client)

    assert first.client.client_id != second.client.client_id
    assert secret_of(first) != secret_of(second)


# --- public clients (token_endpoint_auth_method=none) ---------------------------------------


def test_a_public_client_authenticates_with_its_client_id_alone(client: TestClient) -> None:
    registered = oidc.register(client, public=True)

    response = client.post(
        "/oauth2/revoke", data={"token": "unknown", "client_id": registered.client.client_id}
    )

    assert registered.secret is None
    assert response.status_code == 200, response.text


def test_a_public_client_exchanges_a_code_with_pkce_and_no_secret(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    browser.signup_with_passkey(client, authenticator, "public@example.com")
    registered = oidc.register(client, public=True)
    pkce = oidc.Pkce.new()

    response = oidc.exchange(client, registered, oidc.code_for(client, registered, pkce), pkce)

    assert response.status_code == 200, response.text
    assert "id_token" in response.json()


def test_a_public_client_that_sends_a_secret_is_refused(client: TestClient) -> None:
    registered = oidc.register(client, public=True)
    client_id = registered.client.client_id

    in_form = client.post(
        "/oauth2/revoke", data={"token": "unknown", "client_id": client_id, "client_secret": "made-up"}
    )
    with_basic = client.post("/oauth2/revoke", data={"token": "unknown"}, auth=(client_id, "made-up"))
    basic_without_secret = client.post("/oauth2/revoke", data={"token": "unknown"}, auth=(client_id, ""))

    assert_invalid_client(in_form, challenge=False)
    assert_invalid_client(with_basic, challenge=True)
    assert_invalid_client(basic_without_secret, challenge=True)


def test_a_public_client_stores_no_secret(client: TestClient) -> None:
    registered = oidc.register(client, public=True)

    stored = store.read(client, lambda tx: tx.get_client(registered.client.client_id))

    assert stored is not None
    assert stored.secret_hash is None
    assert stored.token_endpoint_auth_method == "none"


def test_a_confidential_client_cannot_authenticate_with_its_client_id_alone(client: TestClient) -> None:
    registered = machine_client(client)

    response = client.post(
        "/oauth2/token", data={**CLIENT_CREDENTIALS, "client_id": registered.client.client_id}
    )

    assert_invalid_client(response, challenge=False)


# --- private_key_jwt (RFC 7523 §2.2, §3) -----------------------------------------------------


def new_ec_key() -> ECKey:
    return ECKey.generate_key("P-256", {"alg": "ES256", "use": "sig"}, auto_kid=True)


def key_client(client: TestClient, key: ECKey | RSAKey) -> NewClient:
    return machine_client(client, auth_method="private_key_jwt", jwks={"keys": [key.as_dict(private=False)]})


def assertion(
    key: ECKey | RSAKey,
    client_id: str,
    clock: FrozenClock,
    *,
    alg: str = "ES256",
    kid: str | None = None,
    **overrides: Any,
) -> str:
    now = int(clock.now().timestamp())
    claims: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_ENDPOINT,
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(16),
    }
    claims.update(overrides)
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode({"alg": alg, "kid": kid or key.kid}, claims, key, algorithms=[alg])


def with_assertion(client: TestClient, token: str, *, client_id: str | None = None, **extra: str) -> Response:
    form = {**CLIENT_CREDENTIALS, "client_assertion_type": ASSERTION_TYPE, "client_assertion": token, **extra}
    if client_id is not None:
        form["client_id"] = client_id
    return client.post("/oauth2/token", data=form)


def test_private_key_jwt_authenticates_with_a_signed_assertion(
    client: TestClient, clock: FrozenClock
) -> None:
    key = new_ec_key()
    registered = key_client(client, key)
    client_id = registered.client.client_id

    with_client_id = with_assertion(client, assertion(key, client_id, clock), client_id=client_id)
    without_client_id = with_assertion(client, assertion(key, client_id, clock))

    assert registered.secret is None
    assert with_client_id.status_code == 200, with_client_id.text
    assert without_client_id.status_code == 200, without_client_id.text


def test_private_key_jwt_with_an_rsa_key(client: TestClient, clock: FrozenClock) -> None:
    key = RSAKey.generate_key(2048, {"alg": "RS256", "use": "sig"}, auto_kid=True)
    registered = key_client(client, key)

    response = with_assertion(client, assertion(key, registered.client.client_id, clock, alg="RS256"))

    assert response.status_code == 200, response.text


def test_private_key_jwt_accepts_the_issuer_as_audience(client: TestClient, clock: FrozenClock) -> None:
    key = new_ec_key()
    registered = key_client(client, key)

    response = with_assertion(client, assertion(key, registered.client.client_id, clock, aud=[ISSUER]))

    assert response.status_code == 200, response.text


def test_a_replayed_assertion_is_invalid_client(client: TestClient, clock: FrozenClock) -> None:
    key = new_ec_key()
    registered = key_client(client, key)
    token = assertion(key, registered.client.client_id, clock)

    first = with_assertion(client, token)
    clock.advance(seconds=5)
    replay = with_assertion(client, token)

    assert first.status_code == 200, first.text
    assert_invalid_client(replay, challenge=False)


def test_assertions_with_different_jtis_are_each_accepted(client: TestClient, clock: FrozenClock) -> None:
    key = new_ec_key()
    registered = key_client(client, key)

    responses = [with_assertion(client, assertion(key, registered.client.client_id, clock)) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 200]


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"aud": "https://other.example/oauth2/token"}, id="wrong-aud"),
        pytest.param({"aud": None}, id="no-aud"),
        pytest.param({"exp": -1}, id="expired"),  # relative, see below
        pytest.param({"exp": 0}, id="expires-now"),
        pytest.param({"exp": 11 * 60}, id="lifetime-over-10-minutes"),
        pytest.param({"exp": None}, id="no-exp"),
        pytest.param({"jti": None}, id="no-jti"),
        pytest.param({"iss": "someone-else"}, id="iss-not-client"),
        pytest.param({"sub": "someone-else"}, id="sub-not-client"),
    ],
)
def test_a_bad_assertion_is_invalid_client(
    client: TestClient, clock: FrozenClock, overrides: dict[str, Any]
) -> None:
    key = new_ec_key()
    registered = key_client(client, key)
    client_id = registered.client.client_id
    if overrides.get("exp") is not None:
        overrides = {**overrides, "exp": int(clock.now().timestamp()) + overrides["exp"]}

    response = with_assertion(client, assertion(key, client_id, clock, **overrides), client_id=client_id)

    assert_invalid_client(response, challenge=False)


def test_an_assertion_that_lives_exactly_ten_minutes_is_accepted(
    client: TestClient, clock: FrozenClock
) -> None:
    key = new_ec_key()
    registered = key_client(client, key)
    exp = int(clock.now().timestamp()) + 600

    response = with_assertion(client, assertion(key, registered.client.client_id, clock, exp=exp))

    assert response.status_code == 200, response.text


def test_an_assertion_that_expired_while_in_flight_is_invalid_client(
    client: TestClient, clock: FrozenClock
) -> None:
    key = new_ec_key()
    registered = key_client(client, key)
    token = assertion(key, registered.client.client_id, clock)

    clock.advance(seconds=61)

    assert_invalid_client(with_assertion(client, token), challenge=False)


def test_an_assertion_signed_by_another_key_is_invalid_client(client: TestClient, clock: FrozenClock) -> None:
    key, impostor = new_ec_key(), new_ec_key()
    registered = key_client(client, key)
    client_id = registered.client.client_id

    same_kid = assertion(impostor, client_id, clock, kid=str(key.kid))
    own_kid = assertion(impostor, client_id, clock)

    assert_invalid_client(with_assertion(client, same_kid, client_id=client_id), challenge=False)
    assert_invalid_client(with_assertion(client, own_kid, client_id=client_id), challenge=False)


def test_an_assertion_naming_another_client_as_issuer_is_invalid_client(
    client: TestClient, clock: FrozenClock
) -> None:
    """Client B's valid assertion cannot authenticate client A, whichever id the form names."""
    key_a, key_b = new_ec_key(), new_ec_key()
    a, b = key_client(client, key_a), key_client(client, key_b)

    b_token = assertion(key_b, b.client.client_id, clock)

    assert_invalid_client(with_assertion(client, b_token, client_id=a.client.client_id), challenge=False)


def test_an_unsigned_or_hmac_assertion_is_invalid_client(client: TestClient, clock: FrozenClock) -> None:
    key = new_ec_key()
    registered = key_client(client, key)
    client_id = registered.client.client_id
    now = int(clock.now().timestamp())
    claims = {"iss": client_id, "sub": client_id, "aud": TOKEN_ENDPOINT, "exp": now + 60}

    def forged(alg: str, signing_key: bytes | None) -> str:
        header = _b64(json.dumps({"alg": alg, "kid": key.kid}).encode())
        payload = _b64(json.dumps({**claims, "jti": secrets.token_urlsafe(8)}).encode())
        if signing_key is None:
            return f"{header}.{payload}."
        mac = hmac.new(signing_key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(mac)}"

    public_json = json.dumps(key.as_dict(private=False)).encode()
    for token in (forged("none", None), forged("HS256", public_json), forged("HS256", b"guess")):
        assert_invalid_client(with_assertion(client, token, client_id=client_id), challenge=False)


def test_an_assertion_is_only_for_private_key_jwt_clients(client: TestClient, clock: FrozenClock) -> None:
    """A client registered for secrets cannot switch to an assertion, even a well-signed one."""
    key = new_ec_key()
    registered = machine_client(client)
    client_id = registered.client.client_id

    response = with_assertion(client, assertion(key, client_id, clock), client_id=client_id)

    assert_invalid_client(response, challenge=False)


def test_a_private_key_jwt_client_has_no_secret_to_fall_back_on(client: TestClient) -> None:
    registered = key_client(client, new_ec_key())
    client_id = registered.client.client_id

    form = client.post(
        "/oauth2/token", data={**CLIENT_CREDENTIALS, "client_id": client_id, "client_secret": "x"}
    )
    basic = client.post("/oauth2/token", data=CLIENT_CREDENTIALS, auth=(client_id, "x"))
    bare = client.post("/oauth2/token", data={**CLIENT_CREDENTIALS, "client_id": client_id})

    assert_invalid_client(form, challenge=False)
    assert_invalid_client(basic, challenge=True)
    assert_invalid_client(bare, challenge=False)


def test_presenting_two_authentication_methods_is_invalid_request(
    client: TestClient, clock: FrozenClock
) -> None:
    """Two methods at once (a Basic header plus a secret or an assertion in the body, or a secret
    beside an assertion) are refused outright (400), even when each credential is right."""
    registered = machine_client(client)
    client_id, secret = registered.client.client_id, secret_of(registered)
    key = new_ec_key()
    keyed = key_client(client, key)
    keyed_id = keyed.client.client_id

    basic_and_post = client.post(
        "/oauth2/token",
        data={**CLIENT_CREDENTIALS, "client_id": client_id, "client_secret": secret},
        auth=(client_id, secret),
    )
    basic_and_assertion = client.post(
        "/oauth2/token",
        data={
            **CLIENT_CREDENTIALS,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(key, keyed_id, clock),
        },
        auth=(client_id, secret),
    )
    secret_and_assertion = with_assertion(
        client, assertion(key, keyed_id, clock), client_id=keyed_id, client_secret=secret
    )

    for response in (basic_and_post, basic_and_assertion, secret_and_assertion):
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_request"
        assert "access_token" not in response.json()


def test_garbage_assertions_are_invalid_client(client: TestClient) -> None:
    registered = key_client(client, new_ec_key())
    client_id = registered.client.client_id

    for token in ("", "not-a-jwt", "a.b.c", "e30.e30.", _b64(b"{") + "." + _b64(b"{") + ".x"):
        assert_invalid_client(with_assertion(client, token, client_id=client_id), challenge=False)
        assert_invalid_client(with_assertion(client, token), challenge=False)


def test_private_key_jwt_works_at_introspection(client: TestClient, clock: FrozenClock) -> None:
    key = new_ec_key()
    registered = key_client(client, key)

    response = client.post(
        "/oauth2/introspect",
        data={
            "token": "unknown",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(key, registered.client.client_id, clock),
        },
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"active": False}


def test_private_key_jwt_needs_registered_keys(client: TestClient) -> None:
    with pytest.raises(KeyturnError) as caught:
        machine_client(client, auth_method="private_key_jwt")

    assert caught.value.code == "invalid_client_metadata"


def test_the_assertion_replay_cache_survives_a_restart(
    client: TestClient, clock: FrozenClock, settings: Settings
) -> None:
    """Replays are refused by the database, not a per-process memory: another worker refuses too."""
    key = new_ec_key()
    registered = key_client(client, key)
    token = assertion(key, registered.client.client_id, clock)
    assert with_assertion(client, token).status_code == 200

    with TestClient(create_app(settings, clock=clock), base_url=ISSUER) as other_worker:
        replay = with_assertion(other_worker, token)

    assert_invalid_client(replay, challenge=False)


def test_an_assertion_with_a_fractional_exp_is_accepted(client: TestClient, clock: FrozenClock) -> None:
    """RFC 7519 §2: a NumericDate "can" be non-integer (e.g. a client that writes time.time() + 60).
    Such an assertion is valid and must authenticate like one with an integer exp."""
    key = new_ec_key()
    registered = key_client(client, key)
    exp = clock.now().timestamp() + 60.5

    response = with_assertion(client, assertion(key, registered.client.client_id, clock, exp=exp))

    assert response.status_code == 200, response.text
