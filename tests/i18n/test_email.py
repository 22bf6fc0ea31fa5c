"""Emails in the language of the request that causes them, through a real SMTP server."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from keyturn.settings import Settings
from tests.conftest import BASE_URL
from tests.support import browser
from tests.support.smtp import SmtpServer

_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


@pytest.fixture
def settings(clean_database: str, tmp_path: Path, smtp: SmtpServer) -> Settings:
    return Settings(
        database_url=clean_database, data_dir=tmp_path, public_url=BASE_URL, email=smtp.email_settings()
    )


def ask_recovery(client: TestClient, email: str, **headers: str) -> None:
    page = client.get("/recovery", headers=headers)
    assert page.status_code == 200
    fields = {name: html.unescape(value) for name, value in _HIDDEN.findall(page.text)}
    sent = client.post("/recovery", data={**fields, "email": email}, headers=headers)
    assert sent.status_code == 200, sent.text


def test_a_recovery_email_in_german(client: TestClient, smtp: SmtpServer) -> None:
    assert browser.signup_with_password(client, "ada@example.com", "correct horse battery").status_code == 200
    browser.sign_out(client)
    ask_recovery(client, "ada@example.com", **{"accept-language": "de-DE,de;q=0.9"})
    message = smtp.inbox.wait_for_matching("Ihr Keyturn-Wiederherstellungscode: ", to="ada@example.com")[0]
    assert re.search(r"Ihr Code lautet: \d{6}", message.text), message.text
    assert "Der Code und der Link gelten einmal, 15 Minuten lang." in message.text
    assert "Someone" not in message.text
    assert message.html is not None and "Konto wiederherstellen</a>" in message.html


def test_an_email_for_an_unknown_address_in_japanese(client: TestClient, smtp: SmtpServer) -> None:
    ask_recovery(client, "nobody@example.com", **{"accept-language": "ja"})
    message = smtp.inbox.wait_for_matching("Keyturn の復旧リクエストについて", to="nobody@example.com")[0]
    assert "このアドレスのアカウントはありません" in message.text
    assert f"{BASE_URL}/signup" in message.text


def test_without_a_preference_the_tenant_default_writes_the_email(
    client: TestClient, smtp: SmtpServer
) -> None:
    from tests.support import store

    store.set_tenant(client, "/ui/default_locale", "es")
    ask_recovery(client, "nobody@example.com")
    message = smtp.inbox.wait_for_matching(
        "Sobre tu solicitud de recuperación de Keyturn", to="nobody@example.com"
    )[0]
    assert "Si no lo has pedido tú, ignora este mensaje." in message.text
