"""An operator's change through /api/v2 is told to the user like their own: a password set,
changed or removed, a passkey removed, the email moved (the old address is told). Each
kind can be turned off, and then nothing is queued."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from keyturn.settings import Settings
from tests.conftest import BASE_URL
from tests.management.conftest import PASSWORD, Api
from tests.support import browser, store
from tests.support.smtp import SmtpServer
from tests.support.soft_authenticator import SoftAuthenticator

EMAIL = "ada@example.com"
NEW_EMAIL = "ada@lovelace.example"
NOTICE = "Security notice about your Keyturn account"


@pytest.fixture
def settings(clean_database: str, tmp_path: Path, smtp: SmtpServer) -> Settings:
    return Settings(
        database_url=clean_database, data_dir=tmp_path, public_url=BASE_URL, email=smtp.email_settings()
    )


def notices(smtp: SmtpServer, count: int) -> list[str]:
    """The first lines of the first `count` security notices to Ada, in arrival order."""
    return [m.text.splitlines()[0] for m in smtp.inbox.wait_for_matching(NOTICE, to=EMAIL, count=count)]


def ada(client: TestClient, api: Api) -> str:
    assert browser.signup_with_passkey(client, SoftAuthenticator(), EMAIL).status_code == 200
    client.cookies.clear()
    user_id: str = store.user_of(client, EMAIL).id
    return user_id


def test_password_changes_by_an_operator_are_told(client: TestClient, api: Api, smtp: SmtpServer) -> None:
    user_id = ada(client, api)

    api.ok(api.patch(f"/users/{user_id}", json={"password": PASSWORD}))
    assert notices(smtp, 1) == ["A password was set on your account."]
    api.ok(api.patch(f"/users/{user_id}", json={"password": PASSWORD + "!"}))
    assert notices(smtp, 2)[1] == "The password of your account was changed."
    methods = api.ok(api.get(f"/users/{user_id}/authentication-methods"))
    (password,) = [m for m in methods if m["type"] == "password"]
    assert api.delete(f"/users/{user_id}/authentication-methods/{password['id']}").status_code == 204
    assert notices(smtp, 3)[2] == "The password of your account was removed."


def test_a_passkey_removed_by_an_operator_is_told_by_name(
    client: TestClient, api: Api, smtp: SmtpServer
) -> None:
    user_id = ada(client, api)
    (passkey,) = [m for m in api.ok(api.get(f"/users/{user_id}/authentication-methods"))]
    api.ok(
        api.patch(f"/users/{user_id}/authentication-methods/{passkey['id']}", json={"name": "Work laptop"})
    )

    assert api.delete(f"/users/{user_id}/authentication-methods/{passkey['id']}").status_code == 204

    assert notices(smtp, 1) == ["A passkey (Work laptop) was removed from your account."]


def test_an_email_moved_by_an_operator_is_told_to_the_old_address(
    client: TestClient, api: Api, smtp: SmtpServer
) -> None:
    user_id = ada(client, api)

    api.ok(api.patch(f"/users/{user_id}", json={"email": NEW_EMAIL}))

    [told] = smtp.inbox.wait_for_matching("The email of your Keyturn account was changed", to=EMAIL)
    assert NEW_EMAIL in told.text


def test_a_kind_turned_off_is_not_queued(client: TestClient, api: Api) -> None:
    user_id = ada(client, api)
    store.set_tenant(client, "/notifications/password_set", False)

    api.ok(api.patch(f"/users/{user_id}", json={"password": PASSWORD}))
    api.ok(api.patch(f"/users/{user_id}", json={"name": "Ada"}))  # no security change at all

    assert "security_notice" not in store.queued_templates(client)
    api.ok(api.patch(f"/users/{user_id}", json={"password": PASSWORD + "!"}))  # "changed" is on
    assert store.queued_templates(client).count("security_notice") == 1
