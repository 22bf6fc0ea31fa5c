"""Breached passwords (Credential Guard) against a loopback Pwned Passwords range API and a
small offline file: refused at sign-up and as a new password with nothing stored, flagged or
blocked at sign-in, never applied to passkeys; only 5 hex digits of the SHA-1 leave Keyturn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from keyturn.defences.breached import _in_file
from keyturn.http.context import SESSION_COOKIE
from tests.flows.test_account import post_form, shown_error
from tests.flows.test_reauth import confirm, confirm_step
from tests.management.conftest import Api, assert_error
from tests.support import browser, store
from tests.support.defences import RangeApi, sha1
from tests.support.server import free_port
from tests.support.soft_authenticator import SoftAuthenticator

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
LEAKED = "password1234"
BREACHED_API = "/attack-protection/breached-password-detection"


def use_range_api(client: TestClient, range_api: RangeApi, **extra: Any) -> None:
    value = {"mode": "range_api", "range_url": range_api.url, "timeout_seconds": 0.5, **extra}
    store.set_tenant(client, "/password_policy/breached", value)


def use_file(client: TestClient, path: Path, **extra: Any) -> None:
    store.set_tenant(client, "/password_policy/breached", {"mode": "file", "file": str(path), **extra})


def _error(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]


def test_a_breached_password_is_refused_at_sign_up_and_only_the_prefix_leaves(
    client: TestClient, range_api: RangeApi
) -> None:
    range_api.breach(LEAKED, 42)
    use_range_api(client, range_api)
    browser.open_page(client, "/signup")
    before = browser.storage(client)

    response = browser.signup_with_password(client, EMAIL, LEAKED)

    assert _error(response) == (400, "password_breached")
    assert "data breach" in response.json()["error_description"]
    assert SESSION_COOKIE not in response.cookies
    assert browser.storage(client) == before
    assert store.find_user(client, EMAIL) is None
    (path,) = range_api.state.paths
    assert path == f"/range/{sha1(LEAKED)[:5]}"  # five hex digits, nothing more
    assert range_api.state.headers[0]["add-padding"] == "true"
    (leak,) = store.events_of(client, "signup_pwd_leak")
    assert leak.user_name == EMAIL and leak.details == {"mode": "range_api"}


def test_a_password_not_listed_or_listed_with_count_zero_signs_up(
    client: TestClient, range_api: RangeApi
) -> None:
    range_api.breach(PASSWORD, 0)  # a padding-style line for this very suffix is no breach
    use_range_api(client, range_api)
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    browser.sign_out(client)
    assert (
        browser.signup_with_password(client, "grace@example.com", "another fine passphrase").status_code
        == 200
    )
    assert store.events_of(client, "signup_pwd_leak") == []
    assert all(len(p.rsplit("/", 1)[-1]) == 5 for p in range_api.state.paths)


def test_a_range_api_that_is_down_fails_open_by_default_or_closed_when_asked(
    client: TestClient, range_api: RangeApi
) -> None:
    range_api.breach(LEAKED)
    range_api.state.down = True
    use_range_api(client, range_api)
    assert browser.signup_with_password(client, EMAIL, LEAKED).status_code == 200  # as Auth0: fail open
    browser.sign_out(client)

    use_range_api(client, range_api, on_unavailable="refuse")
    before = browser.storage(client)
    refused = browser.signup_with_password(client, "grace@example.com", "another fine passphrase")
    assert _error(refused) == (503, "breach_check_unavailable")
    assert browser.storage(client) == before

    store.set_tenant(client, "/password_policy/breached/range_url", f"http://127.0.0.1:{free_port()}/range/")
    unreachable = browser.signup_with_password(client, "grace@example.com", "another fine passphrase")
    assert _error(unreachable) == (503, "breach_check_unavailable")


def test_sign_in_with_a_breached_password_is_blocked_by_default_and_a_passkey_is_not_checked(
    client: TestClient, range_api: RangeApi, authenticator: SoftAuthenticator
) -> None:
    assert browser.signup_with_password(client, EMAIL, LEAKED).status_code == 200
    user = store.user_of(client, EMAIL)
    browser.sign_out(client)
    range_api.breach(LEAKED)
    use_range_api(client, range_api)
    browser.open_page(client, "/login")
    before = browser.storage(client)

    blocked = browser.login_with_password(client, EMAIL, LEAKED)
    assert browser.storage(client) == before  # no session, no rehash, nothing
    assert _error(blocked) == (403, "password_breached")
    assert "Can't sign in?" in blocked.json()["error_description"]
    assert SESSION_COOKIE not in blocked.cookies
    (leak,) = store.events_of(client, "pwd_leak")
    assert (leak.user_id, leak.details) == (user.id, {"mode": "range_api", "action": "blocked"})
    asked = len(range_api.state.paths)
    assert _error(browser.login_with_password(client, EMAIL, "a wrong password")) == (
        401,
        "invalid_credentials",
    )
    assert len(range_api.state.paths) == asked  # only a right password is looked up: no oracle

    passkey_user = "grace@example.com"
    assert browser.signup_with_passkey(client, authenticator, passkey_user).status_code == 200
    browser.sign_out(client)
    assert browser.login_with_passkey(client, authenticator).status_code == 200
    assert len(range_api.state.paths) == asked  # passkeys never meet it


def test_sign_in_flag_records_and_signs_in_allow_does_not_ask(
    client: TestClient, range_api: RangeApi
) -> None:
    assert browser.signup_with_password(client, EMAIL, LEAKED).status_code == 200
    browser.sign_out(client)
    range_api.breach(LEAKED)
    use_range_api(client, range_api, on_sign_in="flag")
    assert browser.login_with_password(client, EMAIL, LEAKED).status_code == 200
    (leak,) = store.events_of(client, "pwd_leak")
    assert leak.details["action"] == "flagged"
    browser.sign_out(client)

    use_range_api(client, range_api, on_sign_in="allow")
    asked = len(range_api.state.paths)
    assert browser.login_with_password(client, EMAIL, LEAKED).status_code == 200
    assert len(range_api.state.paths) == asked

    range_api.state.down = True  # sign-in always fails open
    use_range_api(client, range_api, on_sign_in="block")
    browser.sign_out(client)
    assert browser.login_with_password(client, EMAIL, LEAKED).status_code == 200


def test_a_breached_new_password_is_refused_on_the_account_page(
    client: TestClient, range_api: RangeApi
) -> None:
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    original = store.user_of(client, EMAIL).password_hash
    range_api.breach(LEAKED)
    use_range_api(client, range_api)
    before = browser.storage(client)

    response = post_form(client, "/account/password", current_password=PASSWORD, new_password=LEAKED)

    assert response.status_code == 400, response.text
    assert "data breach" in shown_error(response)
    assert browser.storage(client) == before
    assert store.user_of(client, EMAIL).password_hash == original
    (leak,) = store.events_of(client, "reset_pwd_leak")
    assert leak.user_id == store.user_of(client, EMAIL).id


def _hashes_file(path: Path, passwords: dict[str, int], *, filler: int = 500) -> Path:
    """A sorted `HASH:COUNT` file as the HIBP downloader writes, with other hashes around."""
    lines = {sha1(password): count for password, count in passwords.items()}
    lines |= {sha1(f"filler {i}"): i + 1 for i in range(filler)}
    path.write_text("".join(f"{h}:{n}\r\n" for h, n in sorted(lines.items())))
    return path


def test_the_offline_file_refuses_listed_passwords(client: TestClient, tmp_path: Path) -> None:
    use_file(client, _hashes_file(tmp_path / "pwned.txt", {LEAKED: 7, PASSWORD: 0}))
    refused = browser.signup_with_password(client, EMAIL, LEAKED)
    assert _error(refused) == (400, "password_breached")
    assert store.find_user(client, EMAIL) is None
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200  # count 0
    (leak,) = store.events_of(client, "signup_pwd_leak")
    assert leak.details == {"mode": "file"}


def test_the_file_search_finds_every_listed_hash_and_nothing_else(tmp_path: Path) -> None:
    listed = {f"listed {i}": i % 3 + 1 for i in range(300)}
    counted = _hashes_file(tmp_path / "counted.txt", listed, filler=0)
    bare = tmp_path / "bare.txt"  # bare hashes, lower case, no trailing newline
    bare.write_text("\n".join(sorted(sha1(p).lower() for p in listed)))
    for path in (counted, bare):
        assert all(_in_file(str(path), sha1(p)) for p in listed)
        assert not any(_in_file(str(path), sha1(f"absent {i}")) for i in range(300))
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert not _in_file(str(empty), sha1(LEAKED))


def test_a_missing_file_fails_open_and_is_refused_when_asked(client: TestClient, tmp_path: Path) -> None:
    use_file(client, tmp_path / "not-there.txt")
    assert browser.signup_with_password(client, EMAIL, LEAKED).status_code == 200
    browser.sign_out(client)
    use_file(client, tmp_path / "not-there.txt", on_unavailable="refuse")
    assert _error(browser.signup_with_password(client, "grace@example.com", LEAKED)) == (
        503,
        "breach_check_unavailable",
    )


def test_the_management_api_speaks_auth0s_shape(client: TestClient, api: Api, range_api: RangeApi) -> None:
    assert api.ok(api.get(BREACHED_API)) == {
        "enabled": False,
        "shields": ["block"],
        "admin_notification_frequency": [],
        "method": "standard",
        "stage": {
            "pre-user-registration": {"shields": ["block"]},
            "pre-change-password": {"shields": ["block"]},
        },
    }
    store.set_tenant(client, "/password_policy/breached/range_url", range_api.url)
    body = api.ok(api.patch(BREACHED_API, json={"enabled": True, "shields": []}))
    assert (body["enabled"], body["shields"]) == (True, [])
    policy = store.in_context(client, _policy)
    assert (policy["mode"], policy["on_sign_in"], policy["range_url"]) == ("range_api", "flag", range_api.url)
    assert "update_breached" in [e.details["operation"] for e in store.events_of(client, "sapi")]

    bad_bodies: list[dict[str, Any]] = [
        {"shields": ["user_notification"]},
        {"method": "enhanced"},
        {"admin_notification_frequency": ["daily"]},
        {"stage": {"pre-user-registration": {"shields": []}}},
        {"enabled": "yes"},
        {"unknown": 1},
    ]
    for bad in bad_bodies:
        assert_error(api.patch(BREACHED_API, json=bad), 400, "invalid_body")
    assert store.in_context(client, _policy) == policy
    assert api.ok(api.patch(BREACHED_API, json={"enabled": False}))["enabled"] is False
    assert store.in_context(client, _policy)["mode"] == "off"


async def _policy(ctx: Any) -> Any:
    return ctx.tenant.model_dump(mode="json")["password_policy"]["breached"]


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


def test_confirm_its_you_only_flags_so_the_breached_password_can_be_changed(
    client: TestClient, range_api: RangeApi, clock: FrozenClock
) -> None:
    assert browser.signup_with_password(client, EMAIL, LEAKED).status_code == 200
    range_api.breach(LEAKED)
    use_range_api(client, range_api)  # on_sign_in: block
    clock.advance(seconds=901)  # past privileged_session_max_age: the change asks again
    asked = post_form(client, "/account/password", current_password=LEAKED, new_password=PASSWORD)
    step = confirm_step(asked)

    confirmed = confirm(client, step, method="password", password=LEAKED)

    assert confirmed.status_code == 200, confirmed.text
    (leak,) = store.events_of(client, "pwd_leak")
    assert leak.details["action"] == "flagged"
    resubmit = confirmed.json()["resubmit"]
    done = client.post(resubmit["action"], data=resubmit["fields"], follow_redirects=False)
    assert done.status_code == 303, done.text
    browser.sign_out(client)
    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 200
