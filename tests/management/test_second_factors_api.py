"""/api/v2/users/{id}/authentication-methods lists a user's second factors with Auth0's types
(`totp`, `recovery-code`), never a secret, and deletes them: the next sign-in cannot use them."""

from __future__ import annotations

from urllib.parse import quote

from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from tests.flows.test_second_factors import EMAIL, add_app, generate_codes, signed_up
from tests.management.conftest import Api, assert_error
from tests.support import browser, store
from tests.support.browser import storage

BASE = "/users/{user_id}/authentication-methods"


def path(user_id: str, method_id: str | None = None) -> str:
    base = BASE.format(user_id=user_id)
    return base if method_id is None else f"{base}/{quote(method_id, safe='')}"


def test_second_factors_are_listed_with_auth0s_types_and_no_secret(
    client: TestClient, api: Api, clock: FrozenClock
) -> None:
    user = signed_up(client)
    secret = add_app(client, clock)
    codes = generate_codes(client)

    listed = api.ok(api.get(path(user.id)))

    assert [m["type"] for m in listed] == ["password", "totp", "recovery-code"]
    totp, recovery = listed[1], listed[2]
    assert totp["id"].startswith("totp|")
    assert totp["usage"] == ["secondary"] and totp["identity_user_id"] == user.id
    assert recovery["id"] == f"recovery-code|{user.id}"
    text = repr(listed)
    assert secret not in text and all(code not in text for code in codes)
    assert api.ok(api.get(path(user.id, totp["id"]))) == totp


def test_deleting_the_app_through_the_api_removes_it_at_once(
    client: TestClient, api: Api, clock: FrozenClock
) -> None:
    user = signed_up(client)
    add_app(client, clock)
    generate_codes(client)
    listed = api.ok(api.get(path(user.id)))
    totp_id = next(m["id"] for m in listed if m["type"] == "totp")

    assert api.delete(path(user.id, totp_id)).status_code == 204
    assert api.delete(path(user.id, f"recovery-code|{user.id}")).status_code == 204

    assert storage(client)["totp_credentials"] == [] and storage(client)["recovery_codes"] == []
    assert [m["type"] for m in api.ok(api.get(path(user.id)))] == ["password"]
    assert_error(api.delete(path(user.id, totp_id)), 404)
    store.set_tenant(client, "/mfa/policy", "optional")
    browser.sign_out(client)
    after = browser.login_with_password(client, EMAIL, "correct horse battery staple")
    assert after.json()["redirect_to"] == "/account", "no second factor is asked for any more"


def test_an_unknown_second_factor_id_is_not_found_and_deletes_nothing(
    client: TestClient, api: Api, clock: FrozenClock
) -> None:
    user = signed_up(client)
    add_app(client, clock)

    assert_error(api.delete(path(user.id, "totp|no-such-app")), 404)
    assert_error(
        api.patch(
            path(user.id, next(m["id"] for m in api.ok(api.get(path(user.id))) if m["type"] == "totp")),
            json={"name": "x"},
        ),
        404,
    )

    assert len(storage(client)["totp_credentials"]) == 1
