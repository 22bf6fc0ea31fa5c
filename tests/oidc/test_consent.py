"""Consent for third-party clients: the page, Allow and Deny, what is remembered, CSRF, and
first-party clients that never ask."""

from __future__ import annotations

import re
from typing import cast
from urllib.parse import parse_qs, urlsplit

import pytest
from httpx2 import Response
from sqlalchemy import func, select
from starlette.testclient import TestClient

from keyturn.domain.identity import User
from keyturn.oidc.clients import NewClient
from keyturn.runtime import Runtime
from keyturn.store.sql.database import SqlDatabase
from keyturn.store.sql.tables import authorization_codes
from tests.support import browser, oidc, store
from tests.support.oidc import REDIRECT_URI, Pkce
from tests.support.soft_authenticator import SoftAuthenticator

ISSUER = "http://localhost:8000"
EMAIL = "ada@example.com"
CONSENT = re.compile(r"^/oauth2/consent/[^/?#]+$")
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


# --- local helpers -------------------------------------------------------------------


def sign_up(client: TestClient, authenticator: SoftAuthenticator, email: str = EMAIL) -> User:
    response = browser.signup_with_passkey(client, authenticator, email)
    assert response.status_code == 200, response.text
    return store.user_of(client, email)


def location(response: Response) -> str:
    assert response.status_code in (302, 303), response.text
    url: str = response.headers["location"]
    return url


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def consent_path(response: Response) -> str:
    """The authorization went to the consent page (and not to the client)."""
    path = location(response)
    assert CONSENT.match(path), path
    return path


def assert_code(response: Response) -> str:
    url = location(response)
    assert url.startswith(REDIRECT_URI + "?"), url
    params = query_of(url)
    assert params["state"] == "state-123"
    assert params["iss"] == ISSUER
    return params["code"]


def scopes_on(page: Response) -> list[str]:
    return re.findall(r'<li data-scope="([^"]+)"', page.text)


def granted(client: TestClient, user: User, registered: NewClient) -> tuple[str, ...]:
    return store.read(client, lambda tx: tx.get_consent(user.id, registered.client.client_id))


def code_count(client: TestClient) -> int:
    async def count(rt: Runtime) -> int:
        async with cast(SqlDatabase, rt.db).engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(authorization_codes)) or 0)

    return browser.call(client, count)


def allow(client: TestClient, path: str) -> str:
    return assert_code(oidc.consent(client, path))


@pytest.fixture
def third_party(client: TestClient) -> NewClient:
    return oidc.register(client, first_party=False, name="Photo Printer")


@pytest.fixture
def ada(client: TestClient, authenticator: SoftAuthenticator) -> User:
    return sign_up(client, authenticator)


# --- the page --------------------------------------------------------------------------------


def test_a_third_party_client_gets_the_consent_page(
    client: TestClient, third_party: NewClient, ada: User
) -> None:
    path = consent_path(oidc.authorize(client, third_party, Pkce.new(), scope="openid email offline_access"))
    page = client.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Photo Printer" in page.text
    assert scopes_on(page) == ["openid", "email", "offline_access"]
    assert "See your email address" in page.text
    assert EMAIL in page.text
    assert CSRF_FIELD.search(page.text)
    assert code_count(client) == 0  # nothing issued before the user decides


def test_the_page_lists_only_the_requested_scopes(
    client: TestClient, third_party: NewClient, ada: User
) -> None:
    page = client.get(consent_path(oidc.authorize(client, third_party, Pkce.new(), scope="openid profile")))
    assert scopes_on(page) == ["openid", "profile"]
    assert "email" not in scopes_on(page)


def test_the_client_name_is_escaped_on_the_page(client: TestClient, ada: User) -> None:
    sneaky = oidc.register(client, first_party=False, name='<script>alert("x")</script>')
    page = client.get(consent_path(oidc.authorize(client, sneaky, Pkce.new())))
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;" in page.text


def test_the_consent_page_needs_a_session(
    client: TestClient, third_party: NewClient, authenticator: SoftAuthenticator
) -> None:
    sign_up(client, authenticator)
    path = consent_path(oidc.authorize(client, third_party, Pkce.new()))
    browser.sign_out(client)
    page = client.get(path)
    assert page.status_code == 400
    assert "location" not in page.headers


# --- Allow ---------------------------------------------------------------------------------


def test_allow_gives_a_code_that_exchanges(client: TestClient, third_party: NewClient, ada: User) -> None:
    pkce = Pkce.new()
    path = consent_path(oidc.authorize(client, third_party, pkce))
    code = allow(client, path)
    response = oidc.exchange(client, third_party, code, pkce)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "openid email"
    assert granted(client, ada, third_party) == ("openid", "email")
    assert code_count(client) == 1


def test_a_consent_is_used_once(client: TestClient, third_party: NewClient, ada: User) -> None:
    path = consent_path(oidc.authorize(client, third_party, Pkce.new()))
    allow(client, path)
    again = client.post(path, data={"csrf": "anything"}, follow_redirects=False)
    assert again.status_code == 400
    assert "location" not in again.headers
    assert code_count(client) == 1


def test_a_consent_is_remembered(client: TestClient, third_party: NewClient, ada: User) -> None:
    allow(client, consent_path(oidc.authorize(client, third_party, Pkce.new())))
    assert_code(oidc.authorize(client, third_party, Pkce.new()))


def test_a_consent_covers_fewer_scopes(client: TestClient, third_party: NewClient, ada: User) -> None:
    allow(client, consent_path(oidc.authorize(client, third_party, Pkce.new(), scope="openid email profile")))
    assert_code(oidc.authorize(client, third_party, Pkce.new(), scope="openid email"))


def test_a_remembered_consent_answers_prompt_none(
    client: TestClient, third_party: NewClient, ada: User
) -> None:
    allow(client, consent_path(oidc.authorize(client, third_party, Pkce.new())))
    assert_code(oidc.authorize(client, third_party, Pkce.new(), prompt="none"))


def test_more_scopes_ask_again(client: TestClient, third_party: NewClient, ada: User) -> None:
    allow(client, consent_path(oidc.authorize(client, third_party, Pkce.new(), scope="openid email")))
    path = consent_path(oidc.authorize(client, third_party, Pkce.new(), scope="openid email profile"))
    assert scopes_on(client.get(path)) == ["openid", "email", "profile"]
    allow(client, path)
    assert set(granted(client, ada, third_party)) == {"openid", "email", "profile"}


def test_consenting_to_new_scopes_keeps_the_earlier_ones(
    client: TestClient, third_party: NewClient, ada: User
) -> None:
    """Consent is remembered per user and client: a second, different grant adds to the first."""
    allow(client, consent_path(oidc.authorize(client, third_party, Pkce.new(), scope="openid email")))
    allow(client, consent_path(oidc.authorize(client, third_party, Pkce.new(), scope="openid profile")))
    assert set(granted(client, ada, third_party)) == {"openid", "email", "profile"}
    assert_code(oidc.authorize(client, third_party, Pkce.new(), scope="openid email"))


def test_prompt_consent_always_asks(client: TestClient, third_party: NewClient, ada: User) -> None:
    allow(client, consent_path(oidc.authorize(client, third_party, Pkce.new())))
    path = consent_path(oidc.authorize(client, third_party, Pkce.new(), prompt="consent"))
    allow(client, path)
    consent_path(oidc.authorize(client, third_party, Pkce.new(), prompt="consent"))


def test_a_consent_belongs_to_one_user(
    client: TestClient, third_party: NewClient, authenticator: SoftAuthenticator
) -> None:
    sign_up(client, authenticator)
    allow(client, consent_path(oidc.authorize(client, third_party, Pkce.new())))
    browser.sign_out(client)
    sign_up(client, SoftAuthenticator(), "grace@example.com")
    consent_path(oidc.authorize(client, third_party, Pkce.new()))


def test_a_consent_belongs_to_one_client(client: TestClient, third_party: NewClient, ada: User) -> None:
    allow(client, consent_path(oidc.authorize(client, third_party, Pkce.new())))
    other = oidc.register(client, first_party=False, name="Other printer")
    consent_path(oidc.authorize(client, other, Pkce.new()))


# --- Deny ----------------------------------------------------------------------------------------


def test_deny_sends_access_denied_with_state(client: TestClient, third_party: NewClient, ada: User) -> None:
    path = consent_path(oidc.authorize(client, third_party, Pkce.new(), state="keep-me"))
    url = location(oidc.consent(client, path, decision="deny"))
    assert url.startswith(REDIRECT_URI + "?")
    params = query_of(url)
    assert params["error"] == "access_denied"
    assert params["state"] == "keep-me"
    assert params["iss"] == ISSUER
    assert "code" not in params
    assert code_count(client) == 0
    assert granted(client, ada, third_party) == ()
    assert client.get(path).status_code == 400  # the request is gone
    consent_path(oidc.authorize(client, third_party, Pkce.new()))  # and nothing was remembered


# --- CSRF -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", [{"decision": "allow"}, {"decision": "allow", "csrf": "wrong"}])
def test_consent_without_the_right_csrf_token_is_forbidden(
    client: TestClient, third_party: NewClient, ada: User, form: dict[str, str]
) -> None:
    path = consent_path(oidc.authorize(client, third_party, Pkce.new()))
    assert client.get(path).status_code == 200
    response = client.post(path, data=form, follow_redirects=False)
    assert response.status_code == 403, response.text
    assert "location" not in response.headers
    assert code_count(client) == 0
    assert granted(client, ada, third_party) == ()
    assert_code(oidc.consent(client, path))  # the real page still works


def test_consent_from_another_site_is_forbidden(
    client: TestClient, third_party: NewClient, ada: User
) -> None:
    path = consent_path(oidc.authorize(client, third_party, Pkce.new()))
    csrf = CSRF_FIELD.search(client.get(path).text)
    assert csrf
    response = client.post(
        path,
        data={"csrf": csrf.group(1), "decision": "allow"},
        headers={"origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert code_count(client) == 0


# --- first-party clients ----------------------------------------------------------------------------


@pytest.mark.parametrize("prompt", ["", "consent"])
def test_first_party_clients_never_see_consent(client: TestClient, ada: User, prompt: str) -> None:
    first_party = oidc.register(client, first_party=True)
    params = {"prompt": prompt} if prompt else {}
    assert_code(oidc.authorize(client, first_party, Pkce.new(), scope="openid email profile", **params))
    assert granted(client, ada, first_party) == ()
