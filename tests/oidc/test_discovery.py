"""Provider metadata (OIDC Discovery 1.0, RFC 8414) and the app-association documents that let
native apps and related web origins use this RP's passkeys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, KeySetSerialization
from starlette.testclient import TestClient

from keyturn.app import create_app
from keyturn.clock import FrozenClock
from keyturn.errors import ConfigError
from keyturn.settings import Settings
from tests.conftest import BASE_URL
from tests.support import oidc, store

FINGERPRINT = ":".join(["AB"] * 32)
OTHER_FINGERPRINT = ":".join(["0F"] * 32)


def metadata(client: TestClient) -> dict[str, Any]:
    response = client.get("/.well-known/openid-configuration")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


# --- OpenID provider metadata ----------------------------------------------------------------------


def test_the_provider_metadata(client: TestClient) -> None:
    body = metadata(client)

    assert body["issuer"] == BASE_URL
    assert body["authorization_endpoint"] == f"{BASE_URL}/oauth2/authorize"
    assert body["token_endpoint"] == f"{BASE_URL}/oauth2/token"
    assert body["userinfo_endpoint"] == f"{BASE_URL}/oauth2/userinfo"
    assert body["jwks_uri"] == f"{BASE_URL}/.well-known/jwks.json"
    assert body["revocation_endpoint"] == f"{BASE_URL}/oauth2/revoke"
    assert body["introspection_endpoint"] == f"{BASE_URL}/oauth2/introspect"
    assert body["end_session_endpoint"] == f"{BASE_URL}/oauth2/logout"
    assert body["response_types_supported"] == ["code"]
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert {"client_secret_basic", "client_secret_post", "private_key_jwt", "none"} <= set(
        body["token_endpoint_auth_methods_supported"]
    )
    assert set(body["id_token_signing_alg_values_supported"]) == {"ES256", "RS256"}
    assert body["authorization_response_iss_parameter_supported"] is True
    assert {"openid", "email", "profile", "offline_access"} <= set(body["scopes_supported"])
    assert {"authorization_code", "refresh_token", "client_credentials"} <= set(body["grant_types_supported"])
    assert "implicit" not in body["grant_types_supported"]
    assert "public" in body["subject_types_supported"]
    assert "none" not in body["id_token_signing_alg_values_supported"]
    assert "none" not in body["token_endpoint_auth_signing_alg_values_supported"]
    assert not any(alg.startswith("HS") for alg in body["token_endpoint_auth_signing_alg_values_supported"])


def test_every_advertised_endpoint_is_served(client: TestClient) -> None:
    """Each endpoint in the metadata answers at its path (not 404/405)."""
    body = metadata(client)
    probes = {
        "authorization_endpoint": "GET",
        "token_endpoint": "POST",
        "userinfo_endpoint": "GET",
        "jwks_uri": "GET",
        "revocation_endpoint": "POST",
        "introspection_endpoint": "POST",
        "end_session_endpoint": "GET",
    }
    for name, method in probes.items():
        path = body[name].removeprefix(BASE_URL)
        response = client.request(method, path, follow_redirects=False)
        assert response.status_code not in (404, 405), (name, response.status_code)


def test_the_jwks_uri_serves_the_keys_that_sign_tokens(client: TestClient) -> None:
    registered = oidc.register(
        client, grant_types=["client_credentials"], audiences=["https://api.example/"], redirect_uris=[]
    )
    assert registered.secret is not None
    token = client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "audience": "https://api.example/"},
        auth=(registered.client.client_id, registered.secret),
    ).json()["access_token"]

    keys = client.get(metadata(client)["jwks_uri"].removeprefix(BASE_URL)).json()

    claims = jwt.decode(
        token, KeySet.import_key_set(cast(KeySetSerialization, keys)), algorithms=["ES256", "RS256"]
    ).claims
    assert claims["iss"] == metadata(client)["issuer"]


@pytest.fixture
def issuer_app(clean_database: str, tmp_path: Path, clock: FrozenClock) -> Iterator[TestClient]:
    settings = Settings(
        database_url=clean_database, data_dir=tmp_path, public_url=BASE_URL, issuer="https://id.example.com/"
    )
    with TestClient(
        create_app(settings, clock=clock), base_url=BASE_URL, headers={"origin": BASE_URL}
    ) as app:
        yield app


def test_the_issuer_setting_changes_the_issuer(issuer_app: TestClient) -> None:
    body = metadata(issuer_app)

    assert body["issuer"] == "https://id.example.com"
    # The issuer only names the provider; endpoints are where it is served (public_url).
    assert body["token_endpoint"] == "http://localhost:8000/oauth2/token"
    assert body["jwks_uri"] == "http://localhost:8000/.well-known/jwks.json"


def test_tokens_carry_the_configured_issuer(issuer_app: TestClient) -> None:
    registered = oidc.register(
        issuer_app, grant_types=["client_credentials"], audiences=["https://api.example/"], redirect_uris=[]
    )
    assert registered.secret is not None

    response = issuer_app.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "audience": "https://api.example/"},
        auth=(registered.client.client_id, registered.secret),
    )

    claims = jwt.decode(
        response.json()["access_token"],
        KeySet.import_key_set(cast(KeySetSerialization, oidc.jwks(issuer_app))),
        algorithms=["ES256"],
    ).claims
    assert claims["iss"] == "https://id.example.com"


# --- app-association documents -------------------------------------------------------------------


def test_the_association_documents_are_empty_by_default(client: TestClient) -> None:
    apple = client.get("/.well-known/apple-app-site-association")
    android = client.get("/.well-known/assetlinks.json")
    webauthn = client.get("/.well-known/webauthn")

    assert apple.status_code == android.status_code == webauthn.status_code == 200
    assert apple.headers["content-type"].startswith("application/json")
    assert android.headers["content-type"].startswith("application/json")
    assert apple.json() == {"webcredentials": {"apps": []}}
    assert android.json() == []
    assert webauthn.json()["origins"] == [BASE_URL]


def test_apple_app_site_association_lists_the_configured_apps(client: TestClient) -> None:
    apps = ["ABCDE12345.com.example.app", "ZYXWV98765.com.example.other"]

    store.set_tenant(client, "/native_apps/apple_app_ids", apps)

    assert client.get("/.well-known/apple-app-site-association").json() == {"webcredentials": {"apps": apps}}


def test_assetlinks_lists_the_configured_android_apps(client: TestClient) -> None:
    android = [
        {"package_name": "com.example.app", "sha256_cert_fingerprints": [FINGERPRINT, OTHER_FINGERPRINT]},
        {"package_name": "com.example.lite", "sha256_cert_fingerprints": [FINGERPRINT]},
    ]

    store.set_tenant(client, "/native_apps/android", android)

    statements = client.get("/.well-known/assetlinks.json").json()
    assert [s["target"] for s in statements] == [{"namespace": "android_app", **app} for app in android]
    for statement in statements:
        assert "delegate_permission/common.get_login_creds" in statement["relation"]


def test_the_webauthn_document_lists_the_related_origins(client: TestClient) -> None:
    store.set_tenant(client, "/rp/related_origins", ["https://shop.example", "https://example.co.uk/"])

    origins = client.get("/.well-known/webauthn").json()["origins"]

    assert "https://shop.example" in origins
    assert "https://example.co.uk" in origins


def test_the_documents_follow_every_change(client: TestClient) -> None:
    store.set_tenant(client, "/native_apps/apple_app_ids", ["ABCDE12345.com.example.app"])
    assert client.get("/.well-known/apple-app-site-association").json()["webcredentials"]["apps"]

    store.set_tenant(client, "/native_apps/apple_app_ids", [])

    assert client.get("/.well-known/apple-app-site-association").json() == {"webcredentials": {"apps": []}}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (
            "/native_apps/android",
            [{"package_name": "com.example.app", "sha256_cert_fingerprints": ["AB:CD"]}],
        ),
        (
            "/native_apps/android",
            [{"package_name": "com.example.app", "sha256_cert_fingerprints": [FINGERPRINT.lower()]}],
        ),
        (
            "/native_apps/android",
            [{"package_name": "com.example.app", "sha256_cert_fingerprints": [FINGERPRINT.replace(":", "")]}],
        ),
        ("/native_apps/android", [{"package_name": "com.example.app", "sha256_cert_fingerprints": []}]),
        ("/native_apps/android", [{"package_name": "", "sha256_cert_fingerprints": [FINGERPRINT]}]),
        ("/rp/related_origins", ["http://shop.example"]),
        ("/rp/related_origins", ["https://shop.example/path"]),
        ("/rp/related_origins", ["shop.example"]),
        ("/native_apps/apple_app_ids", ["com.example.app"]),
        ("/native_apps/apple_app_ids", ["abcde12345.com.example.app"]),
        ("/native_apps/apple_app_ids", ["ABCDE1234.com.example.app"]),
    ],
    ids=[
        "short-fingerprint",
        "lowercase-fingerprint",
        "fingerprint-without-colons",
        "no-fingerprints",
        "no-package-name",
        "http-related-origin",
        "related-origin-with-path",
        "related-origin-without-scheme",
        "app-id-without-team",
        "lowercase-team-id",
        "nine-character-team-id",
    ],
)
def test_invalid_app_and_origin_settings_are_refused(client: TestClient, path: str, value: Any) -> None:
    before = (
        client.get("/.well-known/apple-app-site-association").json(),
        client.get("/.well-known/assetlinks.json").json(),
        client.get("/.well-known/webauthn").json(),
    )

    with pytest.raises(ConfigError) as caught:
        store.set_tenant(client, path, value)

    assert caught.value.code == "invalid_config"
    assert path.split("/")[-1] in caught.value.description
    after = (
        client.get("/.well-known/apple-app-site-association").json(),
        client.get("/.well-known/assetlinks.json").json(),
        client.get("/.well-known/webauthn").json(),
    )
    assert after == before
