"""Operators see and remove brute-force blocks: Auth0's /api/v2/user-blocks and `keyturn blocks`."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from tests.cli.test_config_cli import Keyturn, cli_env  # noqa: F401 - the CLI's fixture
from tests.management.conftest import Api, assert_error
from tests.protection.test_brute_force import EMAIL, PASSWORD, WRONG
from tests.support import browser, store

UNKNOWN = "nobody@example.com"


def _block(client: TestClient, email: str) -> None:
    for _ in range(10):
        browser.login_with_password(client, email, WRONG)
    assert browser.login_with_password(client, email, WRONG).status_code == 429


def _blocked_world(client: TestClient, api: Api) -> str:
    user = api.create_user(EMAIL, password=PASSWORD, connection="Username-Password-Authentication")
    api.token()  # minted before the snapshots some tests take
    _block(client, EMAIL)
    _block(client, UNKNOWN)
    return str(user["user_id"])


def test_get_and_delete_by_user_id(client: TestClient, api: Api) -> None:
    user_id = _blocked_world(client, api)
    expected = {
        "blocked_for": [
            {"identifier": EMAIL, "ip": "testclient", "connection": "Username-Password-Authentication"}
        ]
    }
    assert api.ok(api.get(f"/user-blocks/{user_id}")) == expected
    assert api.ok(api.get("/user-blocks", params={"identifier": "Ada@Example.com"})) == expected
    assert api.delete(f"/user-blocks/{user_id}").status_code == 204
    assert api.ok(api.get(f"/user-blocks/{user_id}")) == {"blocked_for": []}
    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 200
    (event,) = [e for e in store.events_of(client, "sapi") if e.details["operation"] == "remove_user_blocks"]
    assert event.user_id == user_id and event.details["removed"] == 1


def test_get_and_delete_by_identifier_also_for_unknown_ones(client: TestClient, api: Api) -> None:
    _blocked_world(client, api)
    body = api.ok(api.get("/user-blocks", params={"identifier": UNKNOWN}))
    assert [b["identifier"] for b in body["blocked_for"]] == [UNKNOWN]
    assert api.delete("/user-blocks", params={"identifier": UNKNOWN}).status_code == 204
    assert api.ok(api.get("/user-blocks", params={"identifier": UNKNOWN})) == {"blocked_for": []}
    assert browser.login_with_password(client, UNKNOWN, WRONG).status_code == 401  # counting afresh
    assert len(api.ok(api.get("/user-blocks", params={"identifier": EMAIL}))["blocked_for"]) == 1


def test_brute_force_enablement_flag(client: TestClient, api: Api) -> None:
    user_id = _blocked_world(client, api)
    store.set_tenant(client, "/attack_protection/brute_force/enabled", False)
    flag = {"consider_brute_force_enablement": "true"}
    assert api.ok(api.get(f"/user-blocks/{user_id}", params=flag)) == {"blocked_for": []}
    assert len(api.ok(api.get(f"/user-blocks/{user_id}"))["blocked_for"]) == 1


def test_refusals(client: TestClient, api: Api) -> None:
    _blocked_world(client, api)
    api.token(("read:users",))
    api.token(("update:users",))
    before = browser.storage(client)
    assert_error(api.get("/user-blocks/no-such-user"), 404, "inexistent_user")
    assert_error(api.delete("/user-blocks/no-such-user"), 404, "inexistent_user")
    assert_error(api.delete("/user-blocks"), 400)  # identifier is required
    assert_error(api.delete("/user-blocks", params={"identifier": EMAIL}, scopes=("read:users",)), 403)
    assert_error(api.get("/user-blocks", params={"identifier": EMAIL}, scopes=("update:users",)), 403)
    assert browser.storage(client) == before


def test_cli_lists_and_removes(client: TestClient, api: Api, cli_env: dict[str, str]) -> None:  # noqa: F811
    # The CLI runs on the real clock, the app on a frozen one in the past: blocks without an end.
    store.set_tenant(client, "/attack_protection/brute_force/block_minutes", 0)
    user_id = _blocked_world(client, api)
    keyturn = Keyturn(cli_env)
    code, out, err = keyturn("blocks", "list", "--user-id", user_id)
    assert code == 0, err
    assert [b["identifier"] for b in json.loads(out)["blocked_for"]] == [EMAIL]
    code, out, err = keyturn("blocks", "remove", "--identifier", UNKNOWN)
    assert (code, out.strip()) == (0, "removed 1 block"), err
    assert api.ok(api.get("/user-blocks", params={"identifier": UNKNOWN})) == {"blocked_for": []}
    code, _, err = keyturn("blocks", "list")
    assert code == 1 and "exactly one of --user-id and --identifier" in err
    code, _, err = keyturn("blocks", "remove", "--user-id", "no-such-user")
    assert code == 1 and "The user does not exist." in err
