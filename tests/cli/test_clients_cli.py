"""`keyturn clients create|list|show|delete` and `keyturn keys rotate` against the test database:
in-process through typer's CliRunner (tests/support/cli.py), and one as an operator runs it,
`python -m keyturn ...` in a subprocess.

The `client` fixture's app shares that database and data directory (so the same key-encryption
key), which lets a test use what the CLI registered at the real token endpoint.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, KeySetSerialization
from starlette.testclient import TestClient

from keyturn.app import create_app
from keyturn.domain.oidc import Client
from keyturn.oidc.clients import build_client
from keyturn.settings import Settings
from keyturn.store.sql.store import open_database
from tests.conftest import BASE_URL
from tests.support import oidc, store
from tests.support.cli import Keyturn

API = "https://api.example/"


@pytest.fixture
def keyturn(clean_database: str, tmp_path: Path) -> Keyturn:
    return Keyturn(tmp_path, clean_database)


def stored_clients(database_url: str) -> list[Client]:
    """What the database holds, read directly (faster than another `clients list`)."""

    async def read() -> list[Client]:
        db = await open_database(database_url, migrate=False)
        try:
            async with db.read() as tx:
                return await tx.list_clients()
        finally:
            await db.close()

    return asyncio.run(read())


def create(keyturn: Keyturn, *args: str) -> dict[str, Any]:
    created: dict[str, Any] = keyturn.json("clients", "create", "--json", *args)
    return created


# --- clients create -----------------------------------------------------------------------------


def test_create_prints_the_client_id_and_secret_as_json(keyturn: Keyturn) -> None:
    created = create(keyturn, "--name", "Web app", "--redirect-uri", "https://a.example/cb")

    assert set(created) == {"client_id", "client_secret"}
    assert isinstance(created["client_id"], str) and created["client_id"]
    assert isinstance(created["client_secret"], str) and len(created["client_secret"]) >= 43
    shown = keyturn.json("clients", "show", "--", created["client_id"])
    assert shown["name"] == "Web app"
    assert shown["redirect_uris"] == ["https://a.example/cb"]
    assert shown["public"] is False
    assert shown["token_endpoint_auth_method"] == "client_secret_basic"
    assert shown["grant_types"] == ["authorization_code", "refresh_token"]


def test_python_m_keyturn_creates_shows_and_refuses_as_the_entry_point(keyturn: Keyturn) -> None:
    """The real `python -m keyturn` process: its output, its exit codes, its error stream."""
    made = keyturn.process(
        "clients", "create", "--json", "--name", "Web app", "--redirect-uri", "https://a.example/cb"
    )
    assert made.returncode == 0, made.stderr
    client_id = json.loads(made.stdout)["client_id"]

    shown = keyturn.process("clients", "show", "--", client_id)
    refused = keyturn.process("clients", "create", "--name", "Bad", "--redirect-uri", "http://a.example/cb")

    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["name"] == "Web app"
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr.startswith("error: ")
    assert "must be https, http on a loopback address" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_create_without_json_shows_the_secret_once_in_text(keyturn: Keyturn) -> None:
    out = keyturn.ok("clients", "create", "--name", "Web app", "--redirect-uri", "https://a.example/cb")

    assert re.search(r"^client_id:\s+\S+$", out, re.M)
    assert re.search(r"^client_secret:\s+\S+.*shown once", out, re.M)


def test_create_a_public_client_has_no_secret(keyturn: Keyturn) -> None:
    created = create(
        keyturn,
        "--name",
        "SPA",
        "--public",
        "--redirect-uri",
        "https://a.example/cb",
        "--redirect-uri",
        "com.example.app:/callback",
    )

    assert created["client_secret"] is None
    shown = keyturn.json("clients", "show", "--", created["client_id"])
    assert shown["public"] is True
    assert shown["token_endpoint_auth_method"] == "none"
    assert shown["redirect_uris"] == ["https://a.example/cb", "com.example.app:/callback"]


def test_create_a_client_credentials_client_that_works_at_the_token_endpoint(
    keyturn: Keyturn, client: TestClient
) -> None:
    created = create(
        keyturn,
        "--name",
        "Worker",
        "--grant",
        "client_credentials",
        "--scope",
        "read:users",
        "--audience",
        API,
    )
    shown = keyturn.json("clients", "show", "--", created["client_id"])

    response = client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "read:users", "audience": API},
        auth=(created["client_id"], created["client_secret"]),
    )

    assert shown["grant_types"] == ["client_credentials"]
    assert shown["scopes"] == ["read:users"]
    assert API in shown["audiences"]  # (read:users also grants the management API's audience)
    assert shown["redirect_uris"] == []
    assert response.status_code == 200, response.text
    claims = jwt.decode(
        response.json()["access_token"],
        KeySet.import_key_set(cast(KeySetSerialization, oidc.jwks(client))),
        algorithms=["ES256"],
    ).claims
    assert (claims["sub"], claims["aud"], claims["scope"]) == (created["client_id"], API, "read:users")


def test_create_a_private_key_jwt_client_from_a_jwks_file(keyturn: Keyturn, tmp_path: Path) -> None:
    key = ECKey.generate_key("P-256", {"alg": "ES256"}, auto_kid=True)
    jwks_file = tmp_path / "client-jwks.json"
    jwks_file.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))

    created = create(
        keyturn,
        "--name",
        "Backend",
        "--grant",
        "client_credentials",
        "--auth-method",
        "private_key_jwt",
        "--jwks",
        str(jwks_file),
    )

    assert created["client_secret"] is None
    assert (
        keyturn.json("clients", "show", "--", created["client_id"])["token_endpoint_auth_method"]
        == "private_key_jwt"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--redirect-uri", "http://a.example/cb"], "redirect URI"),
        (["--redirect-uri", "https://a.example/cb#frag"], "fragment"),
        (["--redirect-uri", "com.example.app:/cb"], "private-use"),
        (
            ["--post-logout-redirect-uri", "http://a.example/bye", "--redirect-uri", "https://a.example/cb"],
            "http",
        ),
        ([], "redirect URI"),
        (["--public", "--grant", "client_credentials"], "client_credentials"),
        (["--grant", "password", "--redirect-uri", "https://a.example/cb"], "password"),
        (["--auth-method", "private_key_jwt", "--redirect-uri", "https://a.example/cb"], "jwks"),
        (
            ["--auth-method", "client_secret_jwt", "--redirect-uri", "https://a.example/cb"],
            "client_secret_jwt",
        ),
        (["--id-token-alg", "HS256", "--redirect-uri", "https://a.example/cb"], "ES256"),
    ],
    ids=[
        "http-redirect",
        "fragment",
        "private-scheme-for-confidential",
        "http-post-logout",
        "code-without-redirect",
        "public-client-credentials",
        "unknown-grant",
        "private-key-jwt-without-jwks",
        "unknown-auth-method",
        "hmac-id-token-alg",
    ],
)
def test_a_bad_registration_fails_clearly_and_stores_nothing(
    keyturn: Keyturn, clean_database: str, args: list[str], message: str
) -> None:
    code, out, err = keyturn("clients", "create", "--name", "Bad", "--json", *args)

    assert code == 1, out
    assert out == ""
    assert err.startswith("error: ")
    assert message in err
    assert "Traceback" not in err
    assert stored_clients(clean_database) == []


def test_a_bad_redirect_uri_leaves_the_client_list_empty(keyturn: Keyturn) -> None:
    code, _, err = keyturn("clients", "create", "--name", "Bad", "--redirect-uri", "http://a.example/cb")

    assert code == 1
    assert "must be https, http on a loopback address" in err
    assert keyturn.json("clients", "list") == []


def test_a_bad_jwks_file_fails_clearly(keyturn: Keyturn, clean_database: str, tmp_path: Path) -> None:
    jwks_file = tmp_path / "bad.json"
    jwks_file.write_text("{not json")

    code, _, err = keyturn(
        "clients",
        "create",
        "--name",
        "Bad",
        "--auth-method",
        "private_key_jwt",
        "--jwks",
        str(jwks_file),
        "--grant",
        "client_credentials",
    )

    assert code == 1
    assert "not JSON" in err
    assert stored_clients(clean_database) == []


def test_a_scope_option_may_hold_several_scopes(keyturn: Keyturn) -> None:
    """`--scope "read:users delete:users"` is two scopes, split on whitespace, as in OAuth."""
    created = create(
        keyturn,
        "--name",
        "Worker",
        "--grant",
        "client_credentials",
        "--scope",
        "read:users  delete:users",
        "--scope",
        "read:logs read:users",
    )

    shown = keyturn.json("clients", "show", "--", created["client_id"])
    assert shown["scopes"] == ["read:users", "delete:users", "read:logs"]


# --- list, show, delete -----------------------------------------------------------------------


def test_list_shows_every_client_and_never_a_secret(keyturn: Keyturn, client: TestClient) -> None:
    web = create(keyturn, "--name", "Web", "--redirect-uri", "https://a.example/cb")
    spa = create(keyturn, "--name", "SPA", "--public", "--redirect-uri", "https://b.example/cb")

    out = keyturn.ok("clients", "list")

    listed = json.loads(out)
    assert [c["client_id"] for c in listed] == [web["client_id"], spa["client_id"]]
    assert [c["name"] for c in listed] == ["Web", "SPA"]
    stored = store.read(client, lambda tx: tx.get_client(web["client_id"]))
    assert stored is not None and stored.secret_hash
    assert web["client_secret"] not in out
    assert stored.secret_hash not in out
    for entry in listed:
        assert not {"client_secret", "secret", "secret_hash", "jwks"} & set(entry)


def test_show_never_prints_a_secret(keyturn: Keyturn) -> None:
    created = create(keyturn, "--name", "Web", "--redirect-uri", "https://a.example/cb")

    out = keyturn.ok("clients", "show", "--", created["client_id"])

    assert created["client_secret"] not in out
    assert not {"client_secret", "secret", "secret_hash"} & set(json.loads(out))
    assert json.loads(out)["client_id"] == created["client_id"]


def test_show_an_unknown_client_fails(keyturn: Keyturn) -> None:
    code, out, err = keyturn("clients", "show", "no-such-client")

    assert code == 1
    assert out == ""
    assert "no client 'no-such-client'" in err


def test_delete_removes_the_client(keyturn: Keyturn) -> None:
    kept = create(keyturn, "--name", "Kept", "--redirect-uri", "https://a.example/cb")
    gone = create(keyturn, "--name", "Gone", "--redirect-uri", "https://a.example/cb")

    out = keyturn.ok("clients", "delete", "--", gone["client_id"])
    code, _, err = keyturn("clients", "show", "--", gone["client_id"])
    again, _, again_err = keyturn("clients", "delete", "--", gone["client_id"])

    assert gone["client_id"] in out
    assert code == 1 and "no client" in err
    assert again == 1 and "no client" in again_err
    assert [c["client_id"] for c in keyturn.json("clients", "list")] == [kept["client_id"]]


def test_a_deleted_client_can_no_longer_get_tokens(keyturn: Keyturn, client: TestClient) -> None:
    created = create(keyturn, "--name", "Worker", "--grant", "client_credentials", "--audience", API)
    auth = (created["client_id"], created["client_secret"])
    form = {"grant_type": "client_credentials", "audience": API}
    token = client.post("/oauth2/token", data=form, auth=auth).json()["access_token"]

    keyturn.ok("clients", "delete", "--", created["client_id"])

    refused = client.post("/oauth2/token", data=form, auth=auth)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    other = oidc.register(client, grant_types=["client_credentials"], redirect_uris=[])
    assert other.secret is not None
    introspection = client.post(
        "/oauth2/introspect", data={"token": token}, auth=(other.client.client_id, other.secret)
    )
    assert introspection.json() == {"active": False}


def test_create_and_delete_are_logged_as_sapi_by_the_cli(keyturn: Keyturn, client: TestClient) -> None:
    """Operator changes from the CLI are in the log as the management API's are, naming "cli";
    a refused one (a bad registration, an unknown client) logs no change."""
    created = create(keyturn, "--name", "Web", "--redirect-uri", "https://a.example/cb")
    keyturn.ok("clients", "delete", "--", created["client_id"])
    assert keyturn("clients", "delete", "--", created["client_id"])[0] == 1
    assert keyturn("clients", "create", "--name", "Bad", "--redirect-uri", "http://a.example/cb")[0] == 1

    changes = store.events_of(client, "sapi")

    assert [e.details for e in changes] == [
        {"operation": "create_client", "actor": "cli", "registered_client_id": created["client_id"]},
        {"operation": "delete_client", "actor": "cli", "registered_client_id": created["client_id"]},
    ]
    assert {(e.client_id, e.user_id, e.user_agent) for e in changes} == {(None, None, "keyturn-cli")}
    assert created["client_secret"] not in json.dumps([e.details for e in changes])
    assert store.events_of(client) == changes  # nothing else was logged


# --- keys rotate ------------------------------------------------------------------------------


def test_keys_rotate_prints_two_new_kids(keyturn: Keyturn) -> None:
    out = keyturn.ok("keys", "rotate")

    found = re.findall(r"^new (ES256|RS256) key (\S+)$", out, re.M)
    assert sorted(alg for alg, _ in found) == ["ES256", "RS256"]
    assert len({kid for _, kid in found}) == 2


def test_keys_rotate_makes_new_kids_every_time_and_the_jwks_lists_them(
    keyturn: Keyturn, client: TestClient, settings: Settings
) -> None:
    before = {key["kid"] for key in oidc.jwks(client)["keys"]}

    first = re.findall(r"^new \S+ key (\S+)$", keyturn.ok("keys", "rotate"), re.M)
    second = re.findall(r"^new \S+ key (\S+)$", keyturn.ok("keys", "rotate"), re.M)

    assert len(first) == len(second) == 2
    assert not set(first) & set(second)
    assert not before & set(first + second)
    stored = store.read(client, lambda tx: tx.list_signing_keys())
    assert {key.kid for key in stored} == before | set(first) | set(second)
    assert {key.kid for key in stored if key.retired_at is None} == set(second)
    # A worker started now (real clock, fresh key cache) publishes them all: none has expired yet.
    with TestClient(create_app(settings), base_url=BASE_URL) as worker:
        published = {key["kid"] for key in oidc.jwks(worker)["keys"]}
    assert published == before | set(first) | set(second)


def test_every_client_id_handed_out_can_be_typed_as_an_argument(keyturn: Keyturn, client: TestClient) -> None:
    """Client ids are token_urlsafe, so about one in 64 starts with "-": the CLI then reads
    `keyturn clients show -Xy...` as an unknown option (exit 2) unless the operator knows to
    write `--` first. Ids must not start with "-" (or the commands must accept them)."""
    ids = [
        build_client(
            name="probe",
            redirect_uris=["https://a.example/cb"],
            public=False,
            first_party=False,
            grant_types=["authorization_code"],
            post_logout_redirect_uris=[],
            auth_method=None,
            jwks=None,
            scopes=[],
            audiences=[],
            id_token_alg="ES256",
            now=datetime.now(UTC),
        )
        for _ in range(1000)
    ]
    dashed = [new for new in ids if new.client.client_id.startswith("-")]
    if not dashed:
        return
    store.write(client, lambda tx: tx.create_client(dashed[0].client))

    code, _, err = keyturn("clients", "show", dashed[0].client.client_id)

    assert code == 0, f"{len(dashed)} of 1000 client ids start with '-'; `clients show` says: {err}"


# --- per-client passkey policy (issue 12) --------------------------------------------------------


def test_passkey_types_are_set_at_creation_and_changed_by_update(
    keyturn: Keyturn, clean_database: str
) -> None:
    uri = "https://a.example/cb"
    created = create(keyturn, "--name", "Bank", "--redirect-uri", uri, "--passkey-types", "device_bound")
    shown = keyturn.json("clients", "show", "--", created["client_id"])
    assert shown["allowed_credential_types"] == "device_bound"

    updated = keyturn.json("clients", "update", "--passkey-types", "synced", "--", created["client_id"])
    assert updated["allowed_credential_types"] == "synced"
    [stored] = stored_clients(clean_database)
    assert stored.allowed_credential_types == "synced"
    assert stored.redirect_uris == ("https://a.example/cb",)  # nothing else moved


def test_a_client_is_created_accepting_any_passkey_by_default(keyturn: Keyturn) -> None:
    created = create(keyturn, "--name", "Web app", "--redirect-uri", "https://a.example/cb")
    assert keyturn.json("clients", "show", "--", created["client_id"])["allowed_credential_types"] == "any"


def test_unknown_passkey_types_are_refused_and_change_nothing(keyturn: Keyturn, clean_database: str) -> None:
    uri = "https://a.example/cb"
    code, out, err = keyturn(
        "clients", "create", "--name", "Bad", "--redirect-uri", uri, "--passkey-types", "usb"
    )
    assert code == 1, out
    assert "passkey types must be one of any, device_bound, synced" in err
    assert stored_clients(clean_database) == []

    created = create(keyturn, "--name", "Web app", "--redirect-uri", "https://a.example/cb")
    code, _, err = keyturn("clients", "update", "--passkey-types", "usb", "--", created["client_id"])
    assert code == 1
    assert "passkey types must be one of" in err
    assert stored_clients(clean_database)[0].allowed_credential_types == "any"


def test_updating_an_unknown_client_fails_clearly(keyturn: Keyturn) -> None:
    code, _, err = keyturn("clients", "update", "--passkey-types", "synced", "--", "nope")
    assert code == 1
    assert err.startswith("error: ")
    assert "Traceback" not in err


def test_create_with_an_mfa_policy_and_a_tenant_mfa_policy(keyturn: Keyturn) -> None:
    created = create(keyturn, "--name", "Bank", "--redirect-uri", "https://a.example/cb", "--mfa", "required")
    assert keyturn.json("clients", "show", "--", created["client_id"])["mfa"] == "required"

    code, _, err = keyturn(
        "clients", "create", "--name", "X", "--redirect-uri", "https://a.example/cb", "--mfa", "often"
    )
    assert code == 1 and "mfa must be one of never, optional, required" in err

    keyturn.ok("config", "patch", "--replace", "/mfa/policy=required")
    assert keyturn.json("config", "get", "/mfa") == {"policy": "required", "passkey_satisfies": True}
