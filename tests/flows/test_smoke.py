"""The main journeys over HTTP with a software authenticator producing real bytes."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.support import browser
from tests.support.soft_authenticator import SoftAuthenticator


def test_passkey_signup_then_sign_in(client: TestClient, authenticator: SoftAuthenticator) -> None:
    response = browser.signup_with_passkey(client, authenticator, "ada@example.com")
    assert response.status_code == 200, response.text
    assert response.json() == {"redirect_to": "/account"}
    browser.sign_out(client)
    response = browser.login_with_passkey(client, authenticator)
    assert response.status_code == 200, response.text
    page = client.get("/account")
    assert "ada@example.com" in page.text
