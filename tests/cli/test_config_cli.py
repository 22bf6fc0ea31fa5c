"""`keyturn config get | patch` against the configured database, as an operator runs them.

Most cases go through typer's CliRunner (same code, no process start-up); two run the real
`python -m keyturn` in a subprocess so the entry point and its exit codes are covered too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from keyturn.cli.main import app
from tests.support import browser, store
from tests.support.soft_authenticator import SoftAuthenticator


@pytest.fixture
def cli_env(clean_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """KEYTURN_* for the CLI: the test database, a scratch data dir, nothing else."""
    for name in list(os.environ):
        if name.upper().startswith("KEYTURN_"):
            monkeypatch.delenv(name)
    return {"KEYTURN_DATA_DIR": str(tmp_path / "data"), "KEYTURN_DATABASE_URL": clean_database}


class Keyturn:
    """Runs `keyturn ARGS` in-process and returns (exit code, stdout, stderr)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.runner = CliRunner()

    def __call__(self, *args: str) -> tuple[int, str, str]:
        result = self.runner.invoke(app, list(args), env=self.env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout, result.stderr

    def get(self, path: str | None = None) -> Any:
        code, out, err = self("config", "get", *([path] if path else []))
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def keyturn(cli_env: dict[str, str]) -> Keyturn:
    return Keyturn(cli_env)


def test_config_get_prints_the_tenant_settings_as_json(keyturn: Keyturn) -> None:
    settings = keyturn.get()

    assert settings["rp"]["id"] == "localhost"
    assert settings["rp"]["origins"] == ["http://localhost:8000"]
    assert settings["rp"]["display_name"] == "Keyturn"
    assert settings["passkey_options"]["challenge_ui"] == "both"
    assert settings["authentication_methods"] == {"password": {"enabled": True}, "passkey": {"enabled": True}}


def test_config_get_a_json_pointer(keyturn: Keyturn) -> None:
    assert keyturn.get("/rp/id") == "localhost"
    assert keyturn.get("/passkey_options/max_passkeys_per_user") == 20
    assert keyturn.get("/authentication_methods/passkey") == {"enabled": True}


def test_config_get_an_unknown_path_fails_clearly(keyturn: Keyturn) -> None:
    code, out, err = keyturn("config", "get", "/rp/nope")

    assert code == 1
    assert out == ""
    assert "no setting at /rp/nope" in err


def test_config_patch_replace_persists(keyturn: Keyturn) -> None:
    code, out, err = keyturn("config", "patch", "--replace", "/passkey_options/challenge_ui=button")

    assert code == 0, err
    assert json.loads(out)["passkey_options"]["challenge_ui"] == "button"
    assert keyturn.get("/passkey_options/challenge_ui") == "button"


def test_config_patch_applies_several_operations_together(keyturn: Keyturn) -> None:
    code, _, err = keyturn(
        "config",
        "patch",
        "--replace",
        "/passkey_options/max_passkeys_per_user=5",
        "--replace",
        "/passkey_options/user_verification=preferred",
        "--replace",
        "/rp/display_name=Example Inc.",
        "--replace",
        "/authentication_methods/password/enabled=false",
    )

    assert code == 0, err
    assert keyturn.get("/passkey_options/max_passkeys_per_user") == 5
    assert keyturn.get("/passkey_options/user_verification") == "preferred"
    assert keyturn.get("/rp/display_name") == "Example Inc."
    assert keyturn.get("/authentication_methods/password/enabled") is False

    code, _, err = keyturn("config", "patch", "--remove", "/passkey_options/max_passkeys_per_user")
    assert code == 0, err
    assert keyturn.get("/passkey_options/max_passkeys_per_user") == 20, "removed means default"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--replace", "/passkey_options/max_passkeys_per_user=0"], "/passkey_options/max_passkeys_per_user"),
        (
            ["--replace", "/passkey_options/max_passkeys_per_user=101"],
            "/passkey_options/max_passkeys_per_user",
        ),
        (["--replace", "/passkey_options/challenge_ui=modal"], "/passkey_options/challenge_ui"),
        (
            ["--replace", "/passkey_options/user_verification=discouraged"],
            "/passkey_options/user_verification",
        ),
        (["--add", "/passkey_options/colour=blue"], "/passkey_options/colour"),
        (["--replace", "/rp/id=Not A Domain"], "/rp/id"),
        (["--replace", '/rp/origins=["http://example.com"]'], "/rp/origins"),
        (["--replace", "/passkey_options/challenge_ui"], "/passkey_options/challenge_ui"),
        (["--replace", "/no_such_section=1"], "no_such_section"),
        (["--remove", "/rp/nope"], "nope"),
        (
            [
                "--replace",
                "/authentication_methods/password/enabled=false",
                "--replace",
                "/authentication_methods/passkey/enabled=false",
            ],
            "at least one of password and passkey",
        ),
        (
            # A good operation next to a bad one: neither is saved.
            [
                "--replace",
                "/passkey_options/challenge_ui=button",
                "--replace",
                "/login/reveal_account_existence=7",
            ],
            "/login/reveal_account_existence",
        ),
    ],
)
def test_a_bad_patch_fails_naming_the_path_and_changes_nothing(
    keyturn: Keyturn, args: list[str], named: str
) -> None:
    before = keyturn.get()

    code, out, err = keyturn("config", "patch", *args)

    assert code == 1
    assert out == ""
    assert err.startswith("error: ")
    assert named in err
    assert "Traceback" not in err
    assert keyturn.get() == before


def test_a_patch_with_no_operations_is_refused(keyturn: Keyturn) -> None:
    code, _, err = keyturn("config", "patch")

    assert code == 1
    assert "nothing to patch" in err


def test_config_patch_is_logged_as_sapi_by_the_cli_and_a_bad_one_is_not(
    keyturn: Keyturn, client: TestClient
) -> None:
    code, _, err = keyturn(
        "config",
        "patch",
        "--replace",
        "/rp/display_name=Acme",
        "--replace",
        "/passkey_options/challenge_ui=button",
    )
    assert code == 0, err

    (change,) = store.events_of(client, "sapi")
    assert change.details == {
        "operation": "patch_settings",
        "actor": "cli",
        "paths": ["/passkey_options/challenge_ui", "/rp/display_name"],
    }
    assert (change.client_id, change.user_id, change.user_agent) == (None, None, "keyturn-cli")

    code, _, _ = keyturn("config", "patch", "--replace", "/passkey_options/max_passkeys_per_user=0")

    assert code == 1
    assert store.events_of(client) == [change]  # a refused patch changed nothing, logged nothing


NEW_RP_ID = [
    "--replace",
    "/rp/id=id.example.com",
    "--replace",
    '/rp/origins=["https://id.example.com"]',
]


def test_changing_rp_id_while_passkeys_exist_is_refused_unless_forced(
    client: TestClient, keyturn: Keyturn
) -> None:
    for email in ("ada@example.com", "bob@example.com"):
        response = browser.signup_with_passkey(client, SoftAuthenticator(), email)
        assert response.status_code == 200, response.text
        browser.sign_out(client)
    assert browser.signup_with_password(client, "cy@example.com", "a password").status_code == 200
    before = keyturn.get()

    code, out, err = keyturn("config", "patch", *NEW_RP_ID)

    assert code == 1
    assert out == ""
    message = " ".join(err.split())
    assert "'localhost' to 'id.example.com'" in message
    assert "would stop 2 passkeys from working" in message
    assert "each passkey is bound to the domain it was created for" in message
    assert "--force" in message
    assert keyturn.get() == before

    code, out, err = keyturn("config", "patch", "--force", *NEW_RP_ID)

    assert code == 0, err
    assert keyturn.get("/rp/id") == "id.example.com"
    assert keyturn.get("/rp/origins") == ["https://id.example.com"]
    # The running app reads the same row: its next ceremony is for the new RP ID.
    options = client.post("/account/passkeys/options", headers={"x-csrf-token": _csrf(client)})
    assert options.status_code == 200, options.text
    assert options.json()["options"]["rp"]["id"] == "id.example.com"


def _csrf(client: TestClient) -> str:
    return browser.open_page(client, "/account").csrf


def test_changing_rp_id_without_passkeys_needs_no_force(keyturn: Keyturn) -> None:
    code, _, err = keyturn("config", "patch", *NEW_RP_ID)

    assert code == 0, err
    assert keyturn.get("/rp/id") == "id.example.com"


# --- the real entry point ------------------------------------------------------------------


def run_keyturn(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keyturn", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_python_m_keyturn_config_get_and_patch(cli_env: dict[str, str]) -> None:
    got = run_keyturn(cli_env, "config", "get", "/rp/id")
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout) == "localhost"

    patched = run_keyturn(cli_env, "config", "patch", "--replace", "/passkey_options/challenge_ui=autofill")
    assert patched.returncode == 0, patched.stderr

    got = run_keyturn(cli_env, "config", "get", "/passkey_options/challenge_ui")
    assert json.loads(got.stdout) == "autofill"


def test_python_m_keyturn_exits_1_on_a_bad_patch(cli_env: dict[str, str]) -> None:
    before = run_keyturn(cli_env, "config", "get").stdout

    result = run_keyturn(cli_env, "config", "patch", "--replace", "/passkey_options/max_passkeys_per_user=0")

    assert result.returncode == 1
    assert result.stdout == ""
    assert "/passkey_options/max_passkeys_per_user" in result.stderr
    assert "Traceback" not in result.stderr
    assert run_keyturn(cli_env, "config", "get").stdout == before


def test_aaguid_lists_are_shown_with_their_providers_names_beside_the_json(keyturn: Keyturn) -> None:
    code, out, err = keyturn(
        "config",
        "patch",
        "--add",
        "/passkey_options/aaguid_denylist="
        '["fbfc3007-154e-4ecc-8c0b-6e020557d7bd", "11111111-2222-3333-4444-555555555555"]',
    )

    assert code == 0, err
    assert json.loads(out)["passkey_options"]["aaguid_denylist"][0] == "11111111-2222-3333-4444-555555555555"
    assert "aaguid_denylist: fbfc3007-154e-4ecc-8c0b-6e020557d7bd Apple Passwords" in err
    assert "aaguid_denylist: 11111111-2222-3333-4444-555555555555 (not in the AAGUID list)" in err
    code, out, err = keyturn("config", "get", "/passkey_options/aaguid_denylist")
    assert code == 0 and len(json.loads(out)) == 2
    assert "fbfc3007-154e-4ecc-8c0b-6e020557d7bd Apple Passwords" in err


def test_config_patch_overrides_a_text_in_one_language(keyturn: Keyturn, client: TestClient) -> None:
    """Auth0's custom text: `/ui/texts/<locale>/<text or message id>`, read by the next request."""
    code, _, err = keyturn(
        "config", "patch", "--add", "/ui/texts/de/Sign in with a passkey=Weiter mit Passkey"
    )
    assert code == 0, err
    assert keyturn.get("/ui/texts/de") == {"Sign in with a passkey": "Weiter mit Passkey"}
    assert "Weiter mit Passkey" in client.get("/login?ui_locales=de").text
    assert "Sign in with a passkey" in client.get("/login?ui_locales=en").text

    code, _, err = keyturn("config", "patch", "--add", "/ui/texts/xx/Sign in=?")
    assert code == 1
    assert "'xx' not found" in err
    assert keyturn.get("/ui/texts/de") == {"Sign in with a passkey": "Weiter mit Passkey"}
