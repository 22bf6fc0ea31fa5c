"""Process settings: a YAML or TOML file, KEYTURN_* environment over it, and clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from keyturn.settings import Settings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No KEYTURN_* variable of the machine or CI leaks in; relative paths land in tmp_path."""
    for name in list(os.environ):
        if name.upper().startswith("KEYTURN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


YAML = """\
environment: development
host: 127.0.0.2
port: 8100
public_url: https://id.example.com
session_lifespan_seconds: 3600
tenant:
  rp:
    id: example.com
    origins: [https://id.example.com, https://example.com]
    display_name: Example
  passkey_options:
    challenge_ui: button
"""

TOML = """\
host = "127.0.0.2"
port = 8100
public_url = "https://id.example.com"
session_lifespan_seconds = 3600

[tenant.rp]
id = "example.com"
origins = ["https://id.example.com", "https://example.com"]
display_name = "Example"

[tenant.passkey_options]
challenge_ui = "button"
"""


@pytest.mark.parametrize(
    ("name", "text"), [("keyturn.yaml", YAML), ("keyturn.yml", YAML), ("keyturn.toml", TOML)]
)
def test_load_settings_from_a_yaml_or_toml_file(tmp_path: Path, name: str, text: str) -> None:
    settings = load_settings(write(tmp_path / name, text))

    assert settings.host == "127.0.0.2"
    assert settings.port == 8100
    assert settings.public_url == "https://id.example.com"
    assert settings.session_lifespan_seconds == 3600
    assert settings.secure_cookies is True
    tenant = settings.default_tenant()
    assert tenant.rp.id == "example.com"
    assert tenant.rp.origins == ["https://id.example.com", "https://example.com"]
    assert tenant.rp.display_name == "Example"
    assert tenant.passkey_options.challenge_ui == "button"


def test_the_config_file_can_come_from_keyturn_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYTURN_CONFIG", str(write(tmp_path / "k.toml", "port = 8200\n")))

    assert load_settings().port == 8200


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path / "empty.yaml", ""))

    assert settings.port == 8000
    assert settings.base_url == "http://localhost:8000"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path / "keyturn.yaml", YAML)
    monkeypatch.setenv("KEYTURN_PORT", "9100")
    monkeypatch.setenv("KEYTURN_PUBLIC_URL", "https://login.example.com")
    monkeypatch.setenv("KEYTURN_DATA_DIR", str(tmp_path / "state"))

    settings = load_settings(config)

    assert settings.port == 9100
    assert settings.public_url == "https://login.example.com"
    assert settings.data_dir == tmp_path / "state"
    assert settings.host == "127.0.0.2", "keys the environment does not set still come from the file"


def test_explicit_overrides_win_over_environment_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYTURN_PORT", "9100")

    assert load_settings(write(tmp_path / "k.toml", "port = 8100\n"), port=9200).port == 9200


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("port = 70000\n", "port"),
        ("port = 0\n", "port"),
        ('port = "eighty"\n', "port"),
        ('environment = "staging"\n', "environment"),
        ("session_lifespan_seconds = 5\n", "session_lifespan_seconds"),
        ("challenge_ttl_seconds = 3600\n", "challenge_ttl_seconds"),
        ("prot = 8000\n", "prot"),  # a typo is an error, not silently ignored
        ('[tenant.rp]\nid = "Example.COM"\n', "tenant.rp.id"),
        ("[tenant.passkey_options]\nmax_passkeys_per_user = 0\n", "max_passkeys_per_user"),
    ],
)
def test_a_bad_value_in_the_file_stops_with_a_message_naming_the_key(
    tmp_path: Path, text: str, key: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(write(tmp_path / "bad.toml", text))

    assert key in str(caught.value)
    assert "set by environment" not in str(caught.value)


def test_a_bad_value_in_the_environment_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYTURN_PORT", "70000")

    with pytest.raises(SettingsError) as caught:
        load_settings()

    assert "port" in str(caught.value)
    assert "environment" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "text"),
    [("bad.toml", "port = \n"), ("bad.yaml", "port: [8000\n"), ("list.yaml", "- 1\n- 2\n")],
)
def test_an_unreadable_config_file_is_a_settings_error(tmp_path: Path, name: str, text: str) -> None:
    path = write(tmp_path / name, text)

    with pytest.raises(SettingsError) as caught:
        load_settings(path)

    assert str(path) in str(caught.value)


def test_a_missing_config_file_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path / "nope.yaml")

    assert "nope.yaml" in str(caught.value)


@pytest.mark.parametrize("public_url", [None, "http://id.example.com", "http://localhost:8000"])
def test_production_refuses_a_public_url_that_is_not_https(tmp_path: Path, public_url: str | None) -> None:
    text = 'environment = "production"\n' + (f'public_url = "{public_url}"\n' if public_url else "")

    with pytest.raises(SettingsError) as caught:
        load_settings(write(tmp_path / "prod.toml", text))

    assert "public_url" in str(caught.value)
    assert "https" in str(caught.value)


def test_production_accepts_an_https_public_url(tmp_path: Path) -> None:
    text = 'environment = "production"\npublic_url = "https://id.example.com"\n'

    settings = load_settings(write(tmp_path / "prod.toml", text))

    assert settings.environment == "production"
    assert settings.secure_cookies is True


def test_the_default_database_is_sqlite_under_data_dir(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path / "state").resolved_database_url == (
        f"sqlite+aiosqlite:///{tmp_path.resolve() / 'state' / 'keyturn.db'}"
    )
    # A relative data_dir is resolved once, against the directory Keyturn started in.
    assert (
        Settings().resolved_database_url
        == f"sqlite+aiosqlite:///{tmp_path.resolve() / '.keyturn' / 'keyturn.db'}"
    )


def test_a_configured_database_url_is_used_as_given() -> None:
    url = "postgresql+asyncpg://keyturn@db.internal/keyturn"
    assert Settings(database_url=url).resolved_database_url == url


@pytest.mark.parametrize(
    ("public_url", "port", "rp_id", "origin"),
    [
        (None, 8000, "localhost", "http://localhost:8000"),
        (None, 9000, "localhost", "http://localhost:9000"),
        ("https://id.example.com", 8000, "id.example.com", "https://id.example.com"),
        ("https://id.example.com/", 8000, "id.example.com", "https://id.example.com"),
        ("https://id.example.com:8443", 8000, "id.example.com", "https://id.example.com:8443"),
    ],
)
def test_the_default_tenant_comes_from_the_public_url(
    public_url: str | None, port: int, rp_id: str, origin: str
) -> None:
    settings = Settings(public_url=public_url, port=port)

    tenant = settings.default_tenant()

    assert settings.base_url == origin
    assert tenant.rp.id == rp_id
    assert tenant.rp.origins == [origin]
    assert tenant.authentication_methods.passkey.enabled
    assert tenant.authentication_methods.password.enabled


def test_cookies_are_secure_exactly_when_the_public_url_is_https() -> None:
    assert Settings().secure_cookies is False
    assert Settings(public_url="http://localhost:8000").secure_cookies is False
    assert Settings(public_url="https://id.example.com").secure_cookies is True
