"""The unblock link, end to end: queued with the block, delivered over real SMTP on loopback,
followed in the browser (a GET shows a button, only the POST unblocks), then the password works."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from keyturn.app import create_app
from keyturn.clock import FrozenClock
from keyturn.settings import Settings
from tests.conftest import BASE_URL
from tests.protection.conftest import PEER
from tests.protection.test_brute_force import EMAIL, PASSWORD, WRONG, link_in
from tests.support import browser
from tests.support.smtp import Received, SmtpServer


@pytest.fixture
def mailing_client(
    clean_database: str, tmp_path: Path, clock: FrozenClock, smtp: SmtpServer
) -> Iterator[TestClient]:
    email = smtp.email_settings()
    settings = Settings(database_url=clean_database, data_dir=tmp_path, public_url=BASE_URL, email=email)
    app = create_app(settings, clock=clock)
    with TestClient(app, base_url=BASE_URL, headers={"origin": BASE_URL}, client=PEER) as client:
        yield client


def unblock_message(smtp: SmtpServer) -> Received:
    """The unblock email (the sign-up's verification message is sent beside it, in either order)."""
    (received,) = smtp.inbox.wait_for_matching("Your Keyturn account was blocked")
    return received


def test_the_emailed_link_unblocks(mailing_client: TestClient, smtp: SmtpServer) -> None:
    client = mailing_client
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    browser.sign_out(client)
    for _ in range(10):
        browser.login_with_password(client, EMAIL, WRONG)
    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 429

    received = unblock_message(smtp)
    assert received.to == [EMAIL]
    assert "blocked" in received.subject and "198.51.100.7" in received.text
    path = link_in(received.text)

    page = client.get(path, headers={"accept": "text/html"})
    assert page.status_code == 200 and EMAIL in page.text
    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 429  # a GET changes nothing

    token = path.split("token=", 1)[1]
    done = client.post("/unblock", data={"token": token})
    assert done.status_code == 200 and "Unblocked" in done.text
    assert browser.storage(client)["user_blocks"] == []
    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 200

    again = client.post("/unblock", data={"token": token})  # the link works once
    assert again.status_code == 400 and again.json()["error"] == "unblock_link_invalid"


def test_the_link_is_refused_from_another_site(mailing_client: TestClient, smtp: SmtpServer) -> None:
    client = mailing_client
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    browser.sign_out(client)
    for _ in range(10):
        browser.login_with_password(client, EMAIL, WRONG)
    received = unblock_message(smtp)
    token = link_in(received.text).split("token=", 1)[1]
    response = client.post("/unblock", data={"token": token}, headers={"origin": "https://evil.example"})
    assert response.status_code == 403
    assert len(browser.storage(client)["user_blocks"]) == 1
