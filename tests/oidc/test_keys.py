"""Signing keys: what the JWKS publishes, how private keys are kept (sealed under a key-encryption
key that is not in the database), and rotation with retirement.

A second app on the same database and data directory plays another worker (or a restart): it
has its own KeyManager, so it reads the keys fresh instead of from the first app's cache.
"""

from __future__ import annotations

import base64
import gc
import json
import os
import stat
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc import jwt
from joserfc.jwk import KeySet, KeySetSerialization, RSAKey
from starlette.testclient import TestClient

from keyturn.app import create_app
from keyturn.clock import FrozenClock
from keyturn.domain.oidc import SigningKey
from keyturn.keys import ACTIVATION_DELAY
from keyturn.oidc.clients import NewClient
from keyturn.settings import Settings, SettingsError
from tests.conftest import BASE_URL
from tests.support import browser, oidc, store
from tests.support.soft_authenticator import SoftAuthenticator

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
API = "https://api.example/"
TTL = 3600  # access and ID token lifetime by default
DELAY = int(ACTIVATION_DELAY.total_seconds())  # a rotated-in key signs only after this
KEPT = TTL + DELAY  # a retired key may have signed until DELAY after its retirement


@contextmanager
def another_worker(settings: Settings, clock: FrozenClock) -> Iterator[TestClient]:
    with TestClient(
        create_app(settings, clock=clock), base_url=BASE_URL, headers={"origin": BASE_URL}
    ) as worker:
        yield worker


def kids(client: TestClient) -> set[str]:
    return {str(key["kid"]) for key in oidc.jwks(client)["keys"]}


def rotate(client: TestClient) -> dict[str, str]:
    """`keys rotate` in this app's process: {alg: new kid}."""
    created = browser.call(client, lambda rt: rt.keys.rotate(now=rt.clock.now()))
    return {key.alg: key.kid for key in created}


def stored_keys(client: TestClient) -> list[SigningKey]:
    return store.read(client, lambda tx: tx.list_signing_keys())


def header_of(token: str) -> dict[str, Any]:
    part = token.split(".")[0]
    header: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return header


def verify(jwks: dict[str, Any], token: str) -> dict[str, Any]:
    return dict(
        jwt.decode(
            token, KeySet.import_key_set(cast(KeySetSerialization, jwks)), algorithms=["ES256", "RS256"]
        ).claims
    )


def id_token(client: TestClient, registered: NewClient) -> str:
    response = oidc.exchange(client, registered, oidc.code_for(client, registered), None)
    assert response.status_code == 200, response.text
    token: str = response.json()["id_token"]
    return token


def machine_token(client: TestClient, registered: NewClient) -> str:
    assert registered.secret is not None
    response = client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "audience": API},
        auth=(registered.client.client_id, registered.secret),
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def machine_client(client: TestClient) -> NewClient:
    return oidc.register(client, grant_types=["client_credentials"], audiences=[API], redirect_uris=[])


# --- the published keys ----------------------------------------------------------------------


def test_the_jwks_has_one_es256_and_one_rs256_public_key(client: TestClient) -> None:
    response = client.get("/.well-known/jwks.json")

    assert response.status_code == 200
    keys = response.json()["keys"]
    assert sorted(key["alg"] for key in keys) == ["ES256", "RS256"]
    ec = next(key for key in keys if key["alg"] == "ES256")
    rsa = next(key for key in keys if key["alg"] == "RS256")
    assert (ec["kty"], ec["crv"], ec["use"]) == ("EC", "P-256", "sig")
    assert (rsa["kty"], rsa["use"]) == ("RSA", "sig")
    assert RSAKey.import_key(rsa).as_dict()["n"] and len(base64.urlsafe_b64decode(rsa["n"] + "==")) >= 256
    assert ec["kid"] and rsa["kid"] and ec["kid"] != rsa["kid"]
    for key in keys:
        assert not PRIVATE_MEMBERS & set(key), key


def test_the_keys_are_made_once_and_shared_by_every_worker(
    client: TestClient, settings: Settings, clock: FrozenClock
) -> None:
    first = oidc.jwks(client)

    with another_worker(settings, clock) as worker:
        second = oidc.jwks(worker)

    assert first == second
    assert len(stored_keys(client)) == 2


def test_id_tokens_verify_against_the_jwks_with_the_clients_algorithm(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    browser.signup_with_passkey(client, authenticator, "keys@example.com")
    es, rs = oidc.register(client), oidc.register(client, id_token_alg="RS256")
    published = {key["kid"]: key["alg"] for key in oidc.jwks(client)["keys"]}

    for registered, alg in ((es, "ES256"), (rs, "RS256")):
        token = id_token(client, registered)
        assert header_of(token)["alg"] == alg
        assert published[header_of(token)["kid"]] == alg
        assert verify(oidc.jwks(client), token)["aud"] == registered.client.client_id


# --- private keys at rest --------------------------------------------------------------------


def test_private_keys_are_stored_encrypted(client: TestClient) -> None:
    oidc.jwks(client)  # creates the keys

    for key in stored_keys(client):
        sealed = key.private_jwk_encrypted
        assert b'"d"' not in sealed and b'"kty"' not in sealed
        assert key.public_jwk["x" if key.alg == "ES256" else "n"].encode() not in sealed
        with pytest.raises(ValueError):
            json.loads(sealed)
        assert not PRIVATE_MEMBERS & set(key.public_jwk)


def test_the_sealed_keys_open_only_with_the_key_encryption_key(
    client: TestClient, settings: Settings
) -> None:
    """AES-GCM under the KEK file's key: the file opens them, any other key does not."""
    published = {key["kid"]: key for key in oidc.jwks(client)["keys"]}
    encoded = (settings.data_dir / "key-encryption.key").read_text().strip()
    kek = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))

    for key in stored_keys(client):
        nonce, sealed = key.private_jwk_encrypted[:12], key.private_jwk_encrypted[12:]
        private = json.loads(AESGCM(kek).decrypt(nonce, sealed, key.kid.encode()))
        assert "d" in private
        assert {k: v for k, v in private.items() if k not in PRIVATE_MEMBERS} == published[key.kid]
        with pytest.raises(InvalidTag):
            AESGCM(os.urandom(32)).decrypt(nonce, sealed, key.kid.encode())


def test_the_key_encryption_key_file_is_created_private_in_development(
    client: TestClient, settings: Settings
) -> None:
    path = settings.data_dir / "key-encryption.key"

    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    encoded = path.read_text().strip()
    assert len(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))) == 32


def test_a_restart_reuses_the_key_encryption_key_and_the_keys(
    client: TestClient, authenticator: SoftAuthenticator, settings: Settings, clock: FrozenClock
) -> None:
    browser.signup_with_passkey(client, authenticator, "restart@example.com")
    registered = oidc.register(client)
    before = id_token(client, registered)
    kek = (settings.data_dir / "key-encryption.key").read_bytes()

    with another_worker(settings, clock) as restarted:
        jwks = oidc.jwks(restarted)
        token = machine_token(restarted, machine_client(restarted))

    assert (settings.data_dir / "key-encryption.key").read_bytes() == kek
    assert verify(jwks, before)["aud"] == registered.client.client_id
    assert header_of(token)["kid"] in {key["kid"] for key in jwks["keys"]}


def _production(clean_database: str, data_dir: Path, **extra: Any) -> Settings:
    return Settings(
        environment="production",
        public_url="https://id.example.com",
        data_dir=data_dir,
        database_url=clean_database,
        **extra,
    )


@pytest.fixture
def no_kek_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEYTURN_KEY_ENCRYPTION_KEY", raising=False)


def failed_start(settings: Settings) -> tuple[str, list[warnings.WarningMessage]]:
    """Start an app that must refuse to start: (the SettingsError's message, ResourceWarnings
    raised while collecting what the failed start left behind)."""
    message = ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with TestClient(create_app(settings), base_url=settings.base_url):
                pass
        except SettingsError as error:
            message = str(error)
        gc.collect()
    assert message, "the app started"
    return message, [w for w in caught if issubclass(w.category, ResourceWarning)]


@pytest.mark.usefixtures("no_kek_env")
def test_production_refuses_to_start_without_a_key_encryption_key(
    clean_database: str, tmp_path: Path
) -> None:
    settings = _production(clean_database, tmp_path / "prod")

    message, _ = failed_start(settings)

    assert "key_encryption_key_file" in message
    assert "production" in message
    assert not settings.resolved_key_file.exists()


@pytest.mark.usefixtures("no_kek_env")
def test_a_failed_start_closes_the_database_it_opened(clean_database: str, tmp_path: Path) -> None:
    """The lifespan opens the database, then building the runtime raises: the database must still
    be closed."""
    _, leaked = failed_start(_production(clean_database, tmp_path / "prod"))

    assert [str(w.message) for w in leaked] == []


@pytest.mark.usefixtures("no_kek_env")
def test_production_starts_with_a_key_encryption_key_file(clean_database: str, tmp_path: Path) -> None:
    key_file = tmp_path / "secrets" / "kek"
    key_file.parent.mkdir()
    key_file.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode())
    settings = _production(clean_database, tmp_path / "prod", key_encryption_key_file=key_file)

    with TestClient(create_app(settings), base_url="https://id.example.com") as app:
        keys = oidc.jwks(app)["keys"]

    assert len(keys) == 2


def test_production_starts_with_the_key_in_the_environment(
    clean_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "KEYTURN_KEY_ENCRYPTION_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    )
    settings = _production(clean_database, tmp_path / "prod")

    with TestClient(create_app(settings), base_url="https://id.example.com") as app:
        keys = oidc.jwks(app)["keys"]

    assert len(keys) == 2
    assert not settings.resolved_key_file.exists()


@pytest.mark.usefixtures("no_kek_env")
@pytest.mark.parametrize("content", ["", "not base64 !!!", base64.urlsafe_b64encode(os.urandom(16)).decode()])
def test_a_bad_key_encryption_key_refuses_to_start(clean_database: str, tmp_path: Path, content: str) -> None:
    key_file = tmp_path / "kek"
    key_file.write_text(content)
    settings = Settings(database_url=clean_database, data_dir=tmp_path, key_encryption_key_file=key_file)

    message, _ = failed_start(settings)

    assert "key-encryption key" in message


# --- rotation -----------------------------------------------------------------------------------


def test_rotation_publishes_the_new_keys_beside_the_old(client: TestClient) -> None:
    old = kids(client)

    new = rotate(client)

    assert set(new) == {"ES256", "RS256"}
    assert not old & set(new.values())
    assert kids(client) == old | set(new.values())
    assert len(oidc.jwks(client)["keys"]) == 4
    retired = [key for key in stored_keys(client) if key.retired_at is not None]
    assert {key.kid for key in retired} == old


def test_tokens_signed_before_rotation_still_verify_and_new_ones_use_the_new_keys(
    client: TestClient, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    browser.signup_with_passkey(client, authenticator, "rotate@example.com")
    es, rs = oidc.register(client), oidc.register(client, id_token_alg="RS256")
    old_es, old_rs = id_token(client, es), id_token(client, rs)
    machine = machine_client(client)
    old_access = machine_token(client, machine)

    clock.advance(seconds=60)
    new = rotate(client)
    jwks = oidc.jwks(client)
    new_es, new_rs = id_token(client, es), id_token(client, rs)
    new_access = machine_token(client, machine)

    assert verify(jwks, old_es)["aud"] == es.client.client_id
    assert verify(jwks, old_rs)["aud"] == rs.client.client_id
    assert header_of(new_es)["kid"] == new["ES256"]
    assert header_of(new_rs)["kid"] == new["RS256"]
    assert header_of(new_access)["kid"] == new["ES256"]
    assert verify(jwks, new_es)["aud"] == es.client.client_id
    assert verify(jwks, new_rs)["aud"] == rs.client.client_id
    assert_active(client, machine, old_access)
    assert_active(client, machine, new_access)


def assert_active(client: TestClient, caller: NewClient, token: str) -> None:
    assert caller.secret is not None
    response = client.post(
        "/oauth2/introspect", data={"token": token}, auth=(caller.client.client_id, caller.secret)
    )
    assert response.json()["active"] is True, response.text


def test_retired_keys_leave_the_jwks_once_their_tokens_have_expired(
    client: TestClient, clock: FrozenClock
) -> None:
    """Rotate (which empties this app's key cache), let the last token the old key could have
    signed expire (activation delay + the longest token lifetime), then load."""
    old = kids(client)
    new = rotate(client)

    clock.advance(seconds=KEPT)

    assert kids(client) == set(new.values())
    assert not old & kids(client)


@pytest.mark.parametrize(("elapsed", "old_published"), [(KEPT - 1, True), (KEPT, False), (10 * TTL, False)])
def test_retired_keys_are_published_for_exactly_the_longest_token_lifetime_after_they_stop_signing(
    client: TestClient, settings: Settings, clock: FrozenClock, elapsed: int, old_published: bool
) -> None:
    old = kids(client)
    rotate(client)

    clock.advance(seconds=elapsed)
    with another_worker(settings, clock) as worker:
        published = kids(worker)

    assert (old <= published) is old_published
    assert len(published) == (4 if old_published else 2)


def test_retirement_waits_for_the_longer_of_the_access_and_id_token_lifetimes(
    clean_database: str, tmp_path: Path, clock: FrozenClock
) -> None:
    settings = Settings(
        database_url=clean_database,
        data_dir=tmp_path,
        public_url=BASE_URL,
        access_token_ttl_seconds=600,
        id_token_ttl_seconds=7200,
    )
    with another_worker(settings, clock) as app:
        old = kids(app)
        rotate(app)
    clock.advance(seconds=3600 + DELAY)
    with another_worker(settings, clock) as app:
        still = kids(app)
    clock.advance(seconds=3600)
    with another_worker(settings, clock) as app:
        after = kids(app)

    assert old <= still
    assert not old & after


def test_an_old_id_token_verifies_until_it_expires_after_rotation(
    client: TestClient, authenticator: SoftAuthenticator, settings: Settings, clock: FrozenClock
) -> None:
    browser.signup_with_passkey(client, authenticator, "late@example.com")
    registered = oidc.register(client)
    token = id_token(client, registered)
    rotate(client)

    clock.advance(seconds=TTL - 1)
    with another_worker(settings, clock) as worker:
        jwks = oidc.jwks(worker)

    assert verify(jwks, token)["aud"] == registered.client.client_id
    assert verify(jwks, token)["exp"] > clock.now().timestamp()


def test_rotating_twice_keeps_every_unexpired_key(client: TestClient, clock: FrozenClock) -> None:
    first = kids(client)
    second = set(rotate(client).values())
    clock.advance(seconds=60)
    third = set(rotate(client).values())

    assert kids(client) == first | second | third
    active = {key.kid for key in stored_keys(client) if key.retired_at is None}
    assert active == third


def test_a_key_rotated_in_by_one_worker_is_trusted_by_the_others_at_once(
    client: TestClient, settings: Settings, clock: FrozenClock
) -> None:
    """`keyturn keys rotate` runs in its own process: every worker picks the new keys up on its own
    schedule. A new key is published at once but signs only after the activation delay, and a
    worker that meets a kid it does not know reloads once: no token is ever refused meanwhile."""
    machine = machine_client(client)
    with another_worker(settings, clock) as worker_b:
        old = {str(k["kid"]) for k in oidc.jwks(worker_b)["keys"]}  # B has loaded (and caches) the ring
        clock.advance(seconds=DELAY)  # an installation that has run a while (fresh keys sign at once)
        new = rotate(client)  # as if worker A's reload had just seen the CLI's new keys

        early = machine_token(client, machine)
        assert header_of(early)["kid"] in old  # the old key still signs: B knows it
        assert_active(worker_b, machine, early)

        clock.advance(seconds=DELAY)
        late = machine_token(client, machine)
        assert header_of(late)["kid"] == new["ES256"]  # now the new key signs
        assert_active(worker_b, machine, late)  # B had cached the old ring: it reloads and accepts
        assert new["ES256"] in kids(worker_b)
