"""`keyturn config patch` of the identity schema, refused while existing users would fail it,
and `keyturn users validate`, which lists them."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from tests.cli import test_config_cli
from tests.cli.test_config_cli import Keyturn
from tests.support import browser, store

cli_env = test_config_cli.cli_env  # the CLI's fixtures: KEYTURN_* for the test database, a runner
keyturn = test_config_cli.keyturn

NAME = '{"type": "string", "minLength": 1, "title": "Name"}'


def sign_up(client: TestClient, email: str) -> str:
    assert browser.signup_with_password(client, email, "a good long password").status_code == 200
    browser.sign_out(client)
    return store.user_of(client, email).id


def test_a_schema_change_that_breaks_users_is_refused_unless_forced(
    client: TestClient, keyturn: Keyturn
) -> None:
    ada, bob = sign_up(client, "ada@example.com"), sign_up(client, "bob@example.com")
    code, _, err = keyturn("config", "patch", "--add", f"/identity_schema/properties/name={NAME}")
    assert code == 0, err  # an optional trait breaks no one
    before = keyturn.get()

    code, out, err = keyturn("config", "patch", "--add", "/identity_schema/required/-=name")

    assert code == 1
    assert out == ""
    message = " ".join(err.split())
    assert "would make 2 users invalid" in message
    assert "trait 'name' first: This field is required." in message
    assert "keyturn users validate" in message and "--force" in message
    assert keyturn.get() == before

    code, out, err = keyturn("users", "validate")
    assert code == 0, err
    assert "0 invalid users" in err

    code, out, err = keyturn("config", "patch", "--force", "--add", "/identity_schema/required/-=name")
    assert code == 0, err
    assert keyturn.get("/identity_schema/required") == ["email", "name"]

    code, out, err = keyturn("users", "validate", "--json")
    assert code == 1
    listed = [json.loads(line) for line in out.splitlines()]
    assert sorted(row["user_id"] for row in listed) == sorted([ada, bob])
    assert all(row["errors"] == {"name": "This field is required."} for row in listed)
    assert "2 invalid users" in err


def test_users_validate_names_each_failing_user_and_trait(client: TestClient, keyturn: Keyturn) -> None:
    sign_up(client, "ada@example.com")
    code, _, err = keyturn(
        "config",
        "patch",
        "--force",
        "--add",
        f"/identity_schema/properties/name={NAME}",
        "--add",
        "/identity_schema/required/-=name",
    )
    assert code == 0, err

    code, out, err = keyturn("users", "validate")

    assert code == 1
    assert "ada@example.com" in out
    assert "name: This field is required." in out
    assert "1 invalid user" in err
