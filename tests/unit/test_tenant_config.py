"""Tenant settings: what validation accepts, and JSON-Pointer patches that change all or nothing."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import ValidationError

from keyturn.clock import FrozenClock
from keyturn.domain.events import Event, EventType
from keyturn.domain.identity import Passkey, User
from keyturn.domain.tenant import TenantSettings
from keyturn.errors import ConfigError, Conflict
from keyturn.operations.audit import CLI
from keyturn.operations.tenant_config import (
    PatchOperation,
    apply_patch,
    parse_assignment,
    patch_tenant,
    read_path,
)
from keyturn.runtime import Runtime
from keyturn.settings import Settings
from keyturn.wiring import command_context, open_runtime

T = TypeVar("T")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def tenant(**sections: Any) -> TenantSettings:
    return TenantSettings.model_validate(sections)


def error_text(exc: ValidationError) -> str:
    return "; ".join(f"{'/'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


# --- validation -----------------------------------------------------------------------------


def test_the_defaults_are_a_working_localhost_tenant() -> None:
    settings = TenantSettings()

    assert settings.rp.id == "localhost"
    assert settings.rp.origins == ["http://localhost:8000"]
    assert settings.authentication_methods.passkey.enabled
    assert settings.authentication_methods.password.enabled
    assert settings.passkey_options.challenge_ui == "both"
    assert settings.passkey_options.user_verification == "required"
    assert settings.login.reveal_account_existence is False


@pytest.mark.parametrize(
    ("challenge_ui", "autofill", "button"),
    [("both", True, True), ("autofill", True, False), ("button", False, True)],
)
def test_challenge_ui_values(challenge_ui: str, autofill: bool, button: bool) -> None:
    options = tenant(passkey_options={"challenge_ui": challenge_ui}).passkey_options

    assert (options.offers_autofill, options.offers_button) == (autofill, button)


@pytest.mark.parametrize("challenge_ui", ["modal", "", "BOTH", None])
def test_challenge_ui_refuses_other_values(challenge_ui: object) -> None:
    with pytest.raises(ValidationError) as caught:
        tenant(passkey_options={"challenge_ui": challenge_ui})

    assert "challenge_ui" in error_text(caught.value)


@pytest.mark.parametrize("limit", [1, 20, 100])
def test_max_passkeys_per_user_within_1_to_100(limit: int) -> None:
    assert (
        tenant(passkey_options={"max_passkeys_per_user": limit}).passkey_options.max_passkeys_per_user
        == limit
    )


@pytest.mark.parametrize("limit", [0, -1, 101, 1000, "many"])
def test_max_passkeys_per_user_outside_1_to_100_is_refused(limit: object) -> None:
    with pytest.raises(ValidationError) as caught:
        tenant(passkey_options={"max_passkeys_per_user": limit})

    assert "max_passkeys_per_user" in error_text(caught.value)


@pytest.mark.parametrize("value", ["required", "preferred"])
def test_user_verification_values(value: str) -> None:
    assert tenant(passkey_options={"user_verification": value}).passkey_options.user_verification == value


@pytest.mark.parametrize("value", ["discouraged", "Required", ""])
def test_user_verification_refuses_other_values(value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        tenant(passkey_options={"user_verification": value})

    assert "user_verification" in error_text(caught.value)


@pytest.mark.parametrize(("password", "passkey"), [(True, True), (True, False), (False, True)])
def test_any_one_method_may_be_turned_off(password: bool, passkey: bool) -> None:
    methods = {"password": {"enabled": password}, "passkey": {"enabled": passkey}}

    assert tenant(authentication_methods=methods).authentication_methods.passkey.enabled is passkey


def test_turning_off_both_methods_is_refused() -> None:
    methods = {"password": {"enabled": False}, "passkey": {"enabled": False}}

    with pytest.raises(ValidationError) as caught:
        tenant(authentication_methods=methods)

    assert "at least one of password and passkey" in error_text(caught.value)


def test_unknown_keys_are_refused_not_ignored() -> None:
    with pytest.raises(ValidationError) as caught:
        tenant(passkey_options={"challenge_iu": "button"})

    assert "challenge_iu" in error_text(caught.value)


@pytest.mark.parametrize(
    ("rp_id", "origins"),
    [
        ("localhost", ["http://localhost:8000"]),
        ("localhost", ["http://localhost"]),
        ("example.com", ["https://example.com"]),
        ("example.com", ["https://id.example.com", "https://example.com:8443"]),
        ("id.example.com", ["https://id.example.com/"]),
        ("xn--bcher-kva.example", ["https://xn--bcher-kva.example"]),
    ],
)
def test_a_domain_rp_id_with_origins_inside_it(rp_id: str, origins: list[str]) -> None:
    rp = tenant(rp={"id": rp_id, "origins": origins}).rp

    assert rp.id == rp_id
    assert rp.origins == [origin.rstrip("/") for origin in origins]


@pytest.mark.parametrize(
    "rp_id",
    [
        "",
        "Example.com",
        "https://example.com",
        "example.com/login",
        "example.com:443",
        "-example.com",
        "example..com",
        "exa mple.com",
        "*.example.com",
        "a" * 64 + ".com",
    ],
)
def test_an_rp_id_that_is_not_a_domain_name_is_refused(rp_id: str) -> None:
    with pytest.raises(ValidationError) as caught:
        tenant(rp={"id": rp_id, "origins": ["https://example.com"]})

    assert "rp/id" in error_text(caught.value)


@pytest.mark.parametrize(
    ("rp_id", "origin"), [("127.0.0.1", "http://127.0.0.1:8000"), ("10.0.0.7", "https://10.0.0.7")]
)
def test_an_ip_address_is_not_an_rp_id(rp_id: str, origin: str) -> None:
    """WebAuthn (L3 §5.1.3, §5.1.4) needs the origin's effective domain to be a *valid domain*,
    which excludes IP addresses: browsers refuse every ceremony for such an RP ID.

    Regression (fixed earlier): `RelyingParty._valid_domain` refuses an address of dotted digits.
    """
    with pytest.raises(ValidationError) as caught:
        tenant(rp={"id": rp_id, "origins": [origin]})

    assert "rp/id" in error_text(caught.value)


@pytest.mark.parametrize(
    ("rp_id", "origins", "why"),
    [
        ("example.com", [], "at least one origin"),
        ("example.com", ["http://example.com"], "https"),
        ("example.com", ["http://id.example.com:8080"], "https"),
        ("example.com", ["ftp://example.com"], "not an origin"),
        ("example.com", ["example.com"], "not an origin"),
        ("example.com", ["https://example.com/login"], "must be an origin"),
        ("example.com", ["https://example.com?next=/"], "must be an origin"),
        ("example.com", ["https://other.example"], "is not 'example.com' or one of its subdomains"),
        ("example.com", ["https://notexample.com"], "is not 'example.com' or one of its subdomains"),
        ("id.example.com", ["https://example.com"], "is not 'id.example.com' or one of its subdomains"),
        ("localhost", ["https://id.example.com"], "is not 'localhost' or one of its subdomains"),
    ],
)
def test_origins_must_be_https_or_localhost_http_and_within_the_rp_id(
    rp_id: str, origins: list[str], why: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        tenant(rp={"id": rp_id, "origins": origins})

    text = error_text(caught.value)
    assert text.startswith("rp")
    assert why in text


# --- reading and patching (no database) -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "/passkey_options/challenge_ui=button",
            PatchOperation("replace", "/passkey_options/challenge_ui", "button"),
        ),
        (
            "/passkey_options/max_passkeys_per_user=5",
            PatchOperation("replace", "/passkey_options/max_passkeys_per_user", 5),
        ),
        (
            "/login/reveal_account_existence=true",
            PatchOperation("replace", "/login/reveal_account_existence", True),
        ),
        (
            '/rp/origins=["https://a.example"]',
            PatchOperation("replace", "/rp/origins", ["https://a.example"]),
        ),
        ("/rp/display_name=a=b", PatchOperation("replace", "/rp/display_name", "a=b")),
    ],
)
def test_parse_assignment_reads_json_values_else_strings(text: str, expected: PatchOperation) -> None:
    assert parse_assignment("replace", text) == expected


def test_parse_assignment_needs_a_value_except_for_remove() -> None:
    assert parse_assignment("remove", "/rp/display_name") == PatchOperation("remove", "/rp/display_name")
    with pytest.raises(ConfigError) as caught:
        parse_assignment("replace", "/passkey_options/challenge_ui")
    assert caught.value.code == "invalid_patch"
    assert "/passkey_options/challenge_ui" in caught.value.description


def test_read_path() -> None:
    settings = TenantSettings()

    assert read_path(settings, "/rp/id") == "localhost"
    assert read_path(settings, "/passkey_options") == settings.passkey_options.model_dump(mode="json")
    assert read_path(settings, None) == read_path(settings, "/") == settings.model_dump(mode="json")
    with pytest.raises(ConfigError) as caught:
        read_path(settings, "/rp/nope")
    assert caught.value.code == "unknown_setting"
    assert "/rp/nope" in caught.value.description


def test_apply_patch_returns_new_settings_and_leaves_the_current_ones_alone() -> None:
    current = TenantSettings()

    updated = apply_patch(
        current,
        [
            PatchOperation("replace", "/passkey_options/challenge_ui", "button"),
            PatchOperation("replace", "/passkey_options/max_passkeys_per_user", 3),
        ],
    )

    assert updated.passkey_options.challenge_ui == "button"
    assert updated.passkey_options.max_passkeys_per_user == 3
    assert current == TenantSettings()


@pytest.mark.parametrize(
    ("operation", "code", "named"),
    [
        (
            PatchOperation("replace", "/passkey_options/max_passkeys_per_user", 0),
            "invalid_config",
            "/passkey_options/max_passkeys_per_user",
        ),
        (
            PatchOperation("replace", "/passkey_options/challenge_ui", "modal"),
            "invalid_config",
            "/passkey_options/challenge_ui",
        ),
        (
            PatchOperation("add", "/passkey_options/colour", "blue"),
            "invalid_config",
            "/passkey_options/colour",
        ),
        (PatchOperation("replace", "/rp/id", "Example.com"), "invalid_config", "/rp/id"),
        (PatchOperation("replace", "/rp/origins", ["http://example.com"]), "invalid_config", "/rp/origins"),
        (
            PatchOperation("replace", "/authentication_methods/passkey/enabled", "maybe"),
            "invalid_config",
            "/authentication_methods/passkey/enabled",
        ),
        (PatchOperation("replace", "/passkey_options/nope", 1), "invalid_patch", "nope"),
        (PatchOperation("remove", "/rp/nope"), "invalid_patch", "nope"),
    ],
)
def test_apply_patch_refuses_with_the_path_named(operation: PatchOperation, code: str, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        apply_patch(TenantSettings(), [operation])

    assert caught.value.code == code
    assert named in caught.value.description


def test_a_patch_that_turns_off_both_methods_is_refused_as_a_whole() -> None:
    with pytest.raises(ConfigError) as caught:
        apply_patch(
            TenantSettings(),
            [
                PatchOperation("replace", "/authentication_methods/password/enabled", False),
                PatchOperation("replace", "/authentication_methods/passkey/enabled", False),
            ],
        )

    assert "at least one of password and passkey" in caught.value.description


def test_removing_a_setting_restores_its_default() -> None:
    current = tenant(passkey_options={"challenge_ui": "button"})

    updated = apply_patch(current, [PatchOperation("remove", "/passkey_options/challenge_ui")])

    assert updated.passkey_options.challenge_ui == "both"


# --- patch_tenant against the configured database ------------------------------------------


def with_runtime(database_url: str, tmp_path: Path, work: Callable[[Runtime], Awaitable[T]]) -> T:
    async def run() -> T:
        settings = Settings(database_url=database_url, data_dir=tmp_path)
        rt = await open_runtime(settings, clock=FrozenClock(NOW))
        try:
            return await work(rt)
        finally:
            await rt.close()

    return asyncio.run(run())


async def patch(rt: Runtime, operations: list[PatchOperation], *, force: bool = False) -> TenantSettings:
    """One `keyturn config patch`: its own Context, stored when it ends."""
    async with command_context(rt) as ctx:
        return await patch_tenant(ctx, operations, actor=CLI, force=force)


async def stored_tenant(rt: Runtime) -> TenantSettings:
    """The settings in the database, and what the next request or command sees."""
    async with rt.db.read() as tx:
        stored = await tx.load_tenant()
    assert stored is not None
    async with command_context(rt) as ctx:
        assert ctx.tenant == stored
    return stored


async def sapi_events(rt: Runtime) -> list[Event]:
    async with rt.db.read() as tx:
        found, _ = await tx.query_events(types=(EventType.SUCCESS_API_OPERATION.value,), newest_first=False)
    return found


async def add_user_with_passkey(rt: Runtime, email: str) -> None:
    user = User(
        id=f"user-{email}",
        email=email,
        user_handle=secrets.token_bytes(64),
        password_hash=None,
        created_at=NOW,
        updated_at=NOW,
    )
    passkey = Passkey(
        id=f"passkey-{email}",
        user_id=user.id,
        credential_id=secrets.token_bytes(32),
        public_key=b"\xa5",
        sign_count=0,
        aaguid="00000000-0000-0000-0000-000000000000",
        transports=("internal",),
        backup_eligible=True,
        backup_state=True,
        user_handle=user.user_handle,
        rp_id="localhost",
        name="Passkey",
        created_at=NOW,
        last_used_at=None,
        user_agent="test",
    )
    async with rt.db.write() as tx:
        await tx.create_user(user, passkey=passkey)


def test_patch_tenant_saves_a_valid_patch(clean_database: str, tmp_path: Path) -> None:
    async def work(rt: Runtime) -> tuple[TenantSettings, TenantSettings, list[Event]]:
        updated = await patch(rt, [PatchOperation("replace", "/passkey_options/challenge_ui", "button")])
        return updated, await stored_tenant(rt), await sapi_events(rt)

    updated, stored, recorded = with_runtime(clean_database, tmp_path, work)

    assert updated.passkey_options.challenge_ui == "button"
    assert stored == updated
    [event] = recorded  # the operator's change is on record, with who made it
    assert event.details["operation"] == "patch_settings"
    assert event.details["actor"] == "cli"
    assert event.details["paths"] == ["/passkey_options/challenge_ui"]


def test_patch_tenant_saves_nothing_when_the_patch_is_bad(clean_database: str, tmp_path: Path) -> None:
    async def work(rt: Runtime) -> tuple[TenantSettings, TenantSettings, list[Event]]:
        before = await stored_tenant(rt)
        with pytest.raises(ConfigError):
            await patch(
                rt,
                [
                    PatchOperation("replace", "/passkey_options/challenge_ui", "button"),
                    PatchOperation("replace", "/passkey_options/max_passkeys_per_user", 101),
                ],
            )
        return before, await stored_tenant(rt), await sapi_events(rt)

    before, after, recorded = with_runtime(clean_database, tmp_path, work)

    assert after == before
    assert after.passkey_options.challenge_ui == "both"
    assert recorded == []


NEW_RP = [
    PatchOperation("replace", "/rp/id", "id.example.com"),
    PatchOperation("replace", "/rp/origins", ["https://id.example.com"]),
]


def test_an_rp_id_change_that_would_orphan_passkeys_is_refused_unless_forced(
    clean_database: str, tmp_path: Path
) -> None:
    async def work(rt: Runtime) -> tuple[str, TenantSettings, TenantSettings]:
        await add_user_with_passkey(rt, "ada@example.com")
        await add_user_with_passkey(rt, "bob@example.com")
        with pytest.raises(Conflict) as caught:
            await patch(rt, NEW_RP)
        refused = await stored_tenant(rt)
        assert await sapi_events(rt) == []
        forced = await patch(rt, NEW_RP, force=True)
        assert await stored_tenant(rt) == forced
        return caught.value.description, refused, forced

    message, refused, forced = with_runtime(clean_database, tmp_path, work)

    assert "would stop 2 passkeys from working" in message
    assert "'localhost'" in message and "'id.example.com'" in message
    assert "bound to the domain" in message
    assert "--force" in message
    assert refused.rp.id == "localhost"
    assert forced.rp.id == "id.example.com"


def test_an_rp_id_change_without_passkeys_needs_no_force(clean_database: str, tmp_path: Path) -> None:
    async def work(rt: Runtime) -> tuple[TenantSettings, TenantSettings]:
        return await patch(rt, NEW_RP), await stored_tenant(rt)

    updated, stored = with_runtime(clean_database, tmp_path, work)

    assert updated.rp.id == "id.example.com"
    assert stored == updated
