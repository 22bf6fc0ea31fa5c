"""Recovery's Set a password meets the breach check too: refused, nothing stored, the
recovery goes on (the emailed link through a real SMTP server on loopback)."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from keyturn.settings import Settings
from tests.conftest import BASE_URL
from tests.defences.test_breached import LEAKED, use_range_api
from tests.flows.test_recovery import (
    NEW_PASSWORD,
    RECOVERY,
    ask,
    code_and_link,
    finish,
    mail_to,
    new_browser,
    post_link,
)
from tests.support import browser, store
from tests.support.defences import RangeApi
from tests.support.smtp import SmtpServer
from tests.support.soft_authenticator import SoftAuthenticator

EMAIL = "ada@example.com"


@pytest.fixture
def settings(clean_database: str, tmp_path: Path, smtp: SmtpServer) -> Settings:
    return Settings(
        database_url=clean_database, data_dir=tmp_path, public_url=BASE_URL, email=smtp.email_settings()
    )


def test_recovery_refuses_a_breached_new_password_and_goes_on(
    client: TestClient, smtp: SmtpServer, authenticator: SoftAuthenticator, range_api: RangeApi
) -> None:
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    new_browser(client)
    range_api.breach(LEAKED)
    use_range_api(client, range_api)
    ask(client, EMAIL)
    _, token = code_and_link(mail_to(smtp, EMAIL, RECOVERY))
    assert post_link(client, token).status_code == 303
    before = browser.storage(client)

    refused = finish(client, {"method": "password", "password": LEAKED})

    assert (refused.status_code, refused.json()["error"]) == (400, "password_breached")
    assert browser.storage(client) == before
    assert store.user_of(client, EMAIL).password_hash is None
    user_id = store.user_of(client, EMAIL).id
    [leak] = store.events_of(client, "reset_pwd_leak")
    assert leak.user_id == user_id
    [failed] = store.events_of(client, "fcp")
    assert failed.details == {"error": "password_breached", "enrollment": "recovery"}

    assert finish(client, {"method": "password", "password": NEW_PASSWORD}).status_code == 200
    assert store.user_of(client, EMAIL).password_hash is not None
