"""Forms that end at a client (consent) may post there: browsers apply form-action to the redirect."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.support import browser, oidc
from tests.support.soft_authenticator import SoftAuthenticator


def _form_action(response_csp: str) -> str:
    directive = next(d.strip() for d in response_csp.split(";") if d.strip().startswith("form-action"))
    return directive


def test_the_consent_page_allows_posting_towards_the_clients_origin(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    browser.signup_with_passkey(client, authenticator, "csp@example.com")
    registered = oidc.register(client, first_party=False)
    location = oidc.authorize(client, registered, oidc.Pkce.new()).headers["location"]
    assert location.startswith("/oauth2/consent/")

    page = client.get(location)

    assert _form_action(page.headers["content-security-policy"]) == "form-action 'self' https://app.example"


def test_other_pages_keep_form_action_to_self(client: TestClient) -> None:
    page = client.get("/login")
    assert _form_action(page.headers["content-security-policy"]) == "form-action 'self'"
