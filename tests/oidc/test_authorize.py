"""The authorization endpoint over HTTP (OIDC Core §3.1.2, RFC 6749 §4.1, RFC 7636, RFC 8252,
RFC 9207): which requests get an error page, which an error redirect, and which a code.

Users sign in with the software authenticator's real keys; ID tokens are verified with joserfc
against the published JWKS.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import pytest
from httpx2 import Response
from joserfc import jwt
from joserfc.jwk import KeySet, KeySetSerialization
from joserfc.jwt import JWTClaimsRegistry
from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from keyturn.oidc.clients import NewClient
from tests.support import browser, oidc, store
from tests.support.oidc import REDIRECT_URI, Pkce
from tests.support.soft_authenticator import SoftAuthenticator

ISSUER = "http://localhost:8000"
EMAIL = "ada@example.com"
RESUME = re.compile(r"^/oauth2/authorize/resume/[^/?#]+$")


# --- local helpers -------------------------------------------------------------------


def sign_up(client: TestClient, authenticator: SoftAuthenticator, email: str = EMAIL) -> None:
    response = browser.signup_with_passkey(client, authenticator, email)
    assert response.status_code == 200, response.text


def parked_at(url: str, page: str = "/login") -> tuple[str, str]:
    """The sign-in page `url` continues a parked request: (its id, the path that resumes it).

    That page carries only the request's id (no return_to, no force): everything else, the
    login_hint included, comes from the parked request itself."""
    parts = urlsplit(url)
    assert parts.path == page, url
    query = query_of(url)
    assert set(query) == {"authorization_request"}, query
    request_id = query["authorization_request"]
    resume = f"/oauth2/authorize/resume/{request_id}"
    assert RESUME.match(resume), resume
    return request_id, resume


def location(response: Response) -> str:
    assert response.status_code in (302, 303), response.text
    url: str = response.headers["location"]
    return url


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def assert_error_page(response: Response) -> None:
    """The request must not be redirected anywhere: a 400 HTML page, no Location header."""
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "Something is wrong with this link" in response.text


def assert_error_redirect(response: Response, error: str, *, state: str | None = "state-123") -> None:
    """An error sent back to the registered redirect URI, with state and iss (RFC 9207)."""
    url = location(response)
    assert url.startswith(REDIRECT_URI + "?"), url
    params = query_of(url)
    assert params["error"] == error, params
    assert "code" not in params
    assert params["iss"] == ISSUER
    if state is None:
        assert "state" not in params
    else:
        assert params["state"] == state


def assert_code_redirect(response: Response, redirect_uri: str = REDIRECT_URI) -> str:
    url = location(response)
    assert url.startswith(redirect_uri + "?"), url
    params = query_of(url)
    assert "error" not in params, params
    assert params["iss"] == ISSUER
    assert params["state"] == "state-123"
    return params["code"]


def authorize_items(client: TestClient, items: list[tuple[str, str]]) -> Response:
    """GET /oauth2/authorize with exactly these (possibly repeated) parameters."""
    return client.get("/oauth2/authorize", params=tuple(items), follow_redirects=False)


def base_items(registered: NewClient, pkce: Pkce) -> list[tuple[str, str]]:
    return [
        ("client_id", registered.client.client_id),
        ("redirect_uri", REDIRECT_URI),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("state", "state-123"),
        ("nonce", "nonce-456"),
        ("code_challenge", pkce.challenge),
        ("code_challenge_method", "S256"),
    ]


def passkey_login_at(client: TestClient, authenticator: SoftAuthenticator, login_url: str) -> str:
    """Sign in with the passkey on the login page at `login_url`; returns where the page goes next."""
    flow = browser.open_page(client, login_url)
    options = client.post(f"/login/flows/{flow.flow_id}/passkey/options", headers=flow.headers)
    assert options.status_code == 200, options.text
    credential = authenticator.get(options.json(), origin=browser.ORIGIN)
    response = browser.submit_passkey_login(client, flow, credential)
    assert response.status_code == 200, response.text
    redirect_to: str = response.json()["redirect_to"]
    return redirect_to


def id_token_claims(
    client: TestClient, clock: FrozenClock, registered: NewClient, code: str
) -> dict[str, Any]:
    response = oidc.exchange(client, registered, code, None)
    assert response.status_code == 200, response.text
    key_set = KeySet.import_key_set(cast(KeySetSerialization, oidc.jwks(client)))
    token = jwt.decode(response.json()["id_token"], key_set, algorithms=["ES256", "RS256"])
    JWTClaimsRegistry(
        now=int(clock.now().timestamp()),
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": registered.client.client_id},
        auth_time={"essential": True},
    ).validate(token.claims)
    return dict(token.claims)


def timestamp(when: datetime) -> int:
    return int(when.timestamp())


@contextmanager
def another_browser(client: TestClient) -> Iterator[TestClient]:
    """A second browser on the same app: its own cookie jar, the first client's event loop."""
    other = TestClient(client.app, base_url=ISSUER, headers={"origin": ISSUER})
    other.portal = client.portal  # share the running app (and its database pool)
    try:
        yield other
    finally:
        other.portal = None
        other.close()


@pytest.fixture
def app(client: TestClient) -> NewClient:
    """A first-party confidential client."""
    return oidc.register(client)


@pytest.fixture
def public_app(client: TestClient) -> NewClient:
    return oidc.register(client, public=True, name="Native app")


@pytest.fixture
def signed_in(client: TestClient, authenticator: SoftAuthenticator) -> None:
    sign_up(client, authenticator)


# --- response_type ---------------------------------------------------------------------


@pytest.mark.parametrize("response_type", ["token", "id_token", "code id_token", "code token", ""])
def test_only_response_type_code_is_supported(
    client: TestClient, app: NewClient, signed_in: None, response_type: str
) -> None:
    response = oidc.authorize(client, app, Pkce.new(), response_type=response_type)
    assert_error_redirect(response, "unsupported_response_type")


def test_response_type_code_issues_a_code_for_a_signed_in_user(
    client: TestClient, app: NewClient, signed_in: None
) -> None:
    assert_code_redirect(oidc.authorize(client, app, Pkce.new()))


# --- client and redirect URI: error page, never a redirect ------------------------------


def test_unknown_client_id_gets_an_error_page_not_a_redirect(client: TestClient, app: NewClient) -> None:
    items = [(k, "no-such-client" if k == "client_id" else v) for k, v in base_items(app, Pkce.new())]
    assert_error_page(authorize_items(client, items))


def test_missing_client_id_gets_an_error_page(client: TestClient, app: NewClient) -> None:
    items = [(k, v) for k, v in base_items(app, Pkce.new()) if k != "client_id"]
    assert_error_page(authorize_items(client, items))


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        "https://app.example/callbac",  # a prefix
        "https://app.example/callback/evil",  # a suffix
        "https://app.example/callbackx",
        "https://APP.example/callback",  # different case
        "https://app.example/Callback",
        "https://app.example/callback?next=https://evil.example",  # extra query
        "https://app.example/callback/",  # trailing slash
        "http://app.example/callback",  # other scheme
        "https://app.example:8443/callback",  # other port
        "https://app.example/callback#frag",
    ],
)
def test_unregistered_redirect_uri_gets_an_error_page(
    client: TestClient, app: NewClient, signed_in: None, redirect_uri: str
) -> None:
    response = oidc.authorize(client, app, Pkce.new(), redirect_uri=redirect_uri)
    assert_error_page(response)
    assert "evil" not in response.headers.get("location", "")


def test_missing_redirect_uri_gets_an_error_page(client: TestClient, app: NewClient, signed_in: None) -> None:
    items = [(k, v) for k, v in base_items(app, Pkce.new()) if k != "redirect_uri"]
    assert_error_page(authorize_items(client, items))


def test_unregistered_redirect_uri_wins_over_every_other_error(client: TestClient, app: NewClient) -> None:
    """Even a request that is wrong in other ways must not redirect to an unknown address."""
    response = oidc.authorize(
        client, app, None, redirect_uri="https://evil.example/cb", response_type="token", scope="nope"
    )
    assert_error_page(response)


# --- RFC 8252 native apps: loopback ports and private-use schemes ------------------------


@pytest.fixture
def loopback_app(client: TestClient) -> NewClient:
    return oidc.register(client, public=True, redirect_uris=["http://127.0.0.1/callback"])


def test_loopback_redirect_accepts_any_port(
    client: TestClient, loopback_app: NewClient, signed_in: None
) -> None:
    redirect_uri = "http://127.0.0.1:53124/callback"
    pkce = Pkce.new()
    response = oidc.authorize(client, loopback_app, pkce, redirect_uri=redirect_uri)
    code = assert_code_redirect(response, redirect_uri)
    exchanged = oidc.exchange(client, loopback_app, code, pkce, redirect_uri=redirect_uri)
    assert exchanged.status_code == 200, exchanged.text


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:53124/other",  # another path
        "http://127.0.0.1:53124/callback/",
        "http://127.0.0.2:53124/callback",  # another host
        "http://localhost:53124/callback",  # a loopback name, but not the registered one
        "https://127.0.0.1:53124/callback",  # another scheme
        "http://127.0.0.1:53124/callback?x=1",
    ],
)
def test_loopback_redirect_must_keep_path_host_and_scheme(
    client: TestClient, loopback_app: NewClient, signed_in: None, redirect_uri: str
) -> None:
    assert_error_page(oidc.authorize(client, loopback_app, Pkce.new(), redirect_uri=redirect_uri))


def test_private_use_scheme_redirect_works_for_a_public_client(client: TestClient, signed_in: None) -> None:
    redirect_uri = "com.example.app:/callback"
    native = oidc.register(client, public=True, redirect_uris=[redirect_uri])
    pkce = Pkce.new()
    code = assert_code_redirect(oidc.authorize(client, native, pkce, redirect_uri=redirect_uri), redirect_uri)
    exchanged = oidc.exchange(client, native, code, pkce, redirect_uri=redirect_uri)
    assert exchanged.status_code == 200, exchanged.text
    assert "id_token" in exchanged.json()


def test_private_use_scheme_must_match_exactly(client: TestClient, signed_in: None) -> None:
    native = oidc.register(client, public=True, redirect_uris=["com.example.app:/callback"])
    response = oidc.authorize(client, native, Pkce.new(), redirect_uri="com.example.evil:/callback")
    assert_error_page(response)


# --- repeated parameters (RFC 6749 §3.1) ------------------------------------------------


@pytest.mark.parametrize("name", ["scope", "state", "response_type", "code_challenge", "nonce"])
def test_a_repeated_parameter_is_an_invalid_request_redirect(
    client: TestClient, app: NewClient, signed_in: None, name: str
) -> None:
    items = base_items(app, Pkce.new())
    items.append((name, dict(items)[name]))  # the same value twice still counts
    response = authorize_items(client, items)
    url = location(response)
    assert url.startswith(REDIRECT_URI + "?")
    params = query_of(url)
    assert params["error"] == "invalid_request"
    assert "code" not in params
    assert params["iss"] == ISSUER


@pytest.mark.parametrize("name", ["client_id", "redirect_uri"])
def test_a_repeated_client_id_or_redirect_uri_gets_an_error_page(
    client: TestClient, app: NewClient, signed_in: None, name: str
) -> None:
    items = base_items(app, Pkce.new())
    items.append((name, dict(items)[name]))
    assert_error_page(authorize_items(client, items))


# --- state and iss (RFC 9207) ---------------------------------------------------------------


def test_state_comes_back_unchanged_with_iss_on_success(
    client: TestClient, app: NewClient, signed_in: None
) -> None:
    state = "a b&c=d/é?+%20#x"
    params = query_of(location(oidc.authorize(client, app, Pkce.new(), state=state)))
    assert params["state"] == state
    assert params["iss"] == ISSUER
    assert params["code"]


def test_state_comes_back_unchanged_with_iss_on_error(client: TestClient, app: NewClient) -> None:
    state = "a b&c=d/é?+%20#x"
    params = query_of(location(oidc.authorize(client, app, Pkce.new(), state=state, scope="profile")))
    assert params["error"] == "invalid_scope"
    assert params["state"] == state
    assert params["iss"] == ISSUER


def test_no_state_sent_means_no_state_returned(client: TestClient, app: NewClient, signed_in: None) -> None:
    items = [(k, v) for k, v in base_items(app, Pkce.new()) if k != "state"]
    params = query_of(location(authorize_items(client, items)))
    assert "state" not in params
    assert params["code"]


def test_the_redirect_uris_own_query_is_kept(client: TestClient, signed_in: None) -> None:
    redirect_uri = "https://app.example/callback?tenant=acme"
    registered = oidc.register(client, redirect_uris=[redirect_uri])
    url = location(oidc.authorize(client, registered, Pkce.new(), redirect_uri=redirect_uri))
    params = query_of(url)
    assert params["tenant"] == "acme"
    assert params["code"]


# --- PKCE (RFC 7636) -----------------------------------------------------------------------


def test_public_client_without_code_challenge_is_refused(
    client: TestClient, public_app: NewClient, signed_in: None
) -> None:
    assert_error_redirect(oidc.authorize(client, public_app, None), "invalid_request")


def test_code_challenge_method_plain_is_refused(
    client: TestClient, public_app: NewClient, signed_in: None
) -> None:
    pkce = Pkce.new()
    response = oidc.authorize(
        client, public_app, None, code_challenge=pkce.verifier[:43], code_challenge_method="plain"
    )
    assert_error_redirect(response, "invalid_request")


def test_code_challenge_without_method_is_refused(
    client: TestClient, public_app: NewClient, signed_in: None
) -> None:
    """RFC 7636 §4.3: a missing method means `plain`, which this server does not accept."""
    response = oidc.authorize(client, public_app, None, code_challenge=Pkce.new().challenge)
    assert_error_redirect(response, "invalid_request")


def test_code_challenge_method_plain_is_refused_for_confidential_clients_too(
    client: TestClient, app: NewClient, signed_in: None
) -> None:
    response = oidc.authorize(
        client, app, None, code_challenge=Pkce.new().challenge, code_challenge_method="plain"
    )
    assert_error_redirect(response, "invalid_request")


def test_malformed_code_challenge_is_refused(
    client: TestClient, public_app: NewClient, signed_in: None
) -> None:
    response = oidc.authorize(client, public_app, None, code_challenge="short", code_challenge_method="S256")
    assert_error_redirect(response, "invalid_request")


def test_confidential_client_may_skip_pkce(client: TestClient, app: NewClient, signed_in: None) -> None:
    code = assert_code_redirect(oidc.authorize(client, app, None))
    exchanged = oidc.exchange(client, app, code, None)
    assert exchanged.status_code == 200, exchanged.text


def test_public_client_with_s256_gets_a_code(
    client: TestClient, public_app: NewClient, signed_in: None
) -> None:
    pkce = Pkce.new()
    code = assert_code_redirect(oidc.authorize(client, public_app, pkce))
    assert oidc.exchange(client, public_app, code, pkce).status_code == 200


# --- scope -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["email", "profile email", "", "offline_access"])
def test_scope_without_openid_is_invalid_scope(
    client: TestClient, app: NewClient, signed_in: None, scope: str
) -> None:
    assert_error_redirect(oidc.authorize(client, app, Pkce.new(), scope=scope), "invalid_scope")


@pytest.mark.parametrize("scope", ["openid admin", "openid email billing", "openid OPENID"])
def test_unknown_scope_is_invalid_scope(
    client: TestClient, app: NewClient, signed_in: None, scope: str
) -> None:
    assert_error_redirect(oidc.authorize(client, app, Pkce.new(), scope=scope), "invalid_scope")


def test_offline_access_is_ignored_when_the_client_may_not_refresh(
    client: TestClient, signed_in: None
) -> None:
    no_refresh = oidc.register(client, grant_types=["authorization_code"])
    pkce = Pkce.new()
    response = oidc.authorize(client, no_refresh, pkce, scope="openid email offline_access")
    code = assert_code_redirect(response)
    tokens = oidc.exchange(client, no_refresh, code, pkce)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert "refresh_token" not in body
    assert body["scope"].split() == ["openid", "email"]


def test_offline_access_gives_a_refresh_token_when_the_client_may_refresh(
    client: TestClient, app: NewClient, signed_in: None
) -> None:
    pkce = Pkce.new()
    code = assert_code_redirect(oidc.authorize(client, app, pkce, scope="openid email offline_access"))
    body = oidc.exchange(client, app, code, pkce).json()
    assert body["refresh_token"]
    assert "offline_access" in body["scope"].split()


# --- prompt -----------------------------------------------------------------------------------


def test_prompt_none_without_a_session_is_login_required(client: TestClient, app: NewClient) -> None:
    response = oidc.authorize(client, app, Pkce.new(), prompt="none")
    assert_error_redirect(response, "login_required")


def test_prompt_none_with_a_session_and_a_first_party_client_gives_a_code(
    client: TestClient, app: NewClient, signed_in: None
) -> None:
    assert_code_redirect(oidc.authorize(client, app, Pkce.new(), prompt="none"))


def test_prompt_none_when_consent_is_needed_is_consent_required(client: TestClient, signed_in: None) -> None:
    third_party = oidc.register(client, first_party=False, name="Photo Printer")
    response = oidc.authorize(client, third_party, Pkce.new(), prompt="none")
    assert_error_redirect(response, "consent_required")


def test_prompt_none_with_other_values_is_invalid_request(
    client: TestClient, app: NewClient, signed_in: None
) -> None:
    response = oidc.authorize(client, app, Pkce.new(), prompt="none login")
    assert_error_redirect(response, "invalid_request")


def test_prompt_login_forces_a_new_sign_in_and_the_id_token_carries_its_time(
    client: TestClient, app: NewClient, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    sign_up(client, authenticator)
    first_sign_in = clock.now()
    clock.advance(seconds=30)

    login_url = location(oidc.authorize(client, app, None, prompt="login"))
    _, resume = parked_at(login_url)

    clock.advance(seconds=45)
    second_sign_in = clock.now()
    assert passkey_login_at(client, authenticator, login_url) == resume

    code = assert_code_redirect(client.get(resume, follow_redirects=False))
    claims = id_token_claims(client, clock, app, code)
    assert claims["auth_time"] == timestamp(second_sign_in)
    assert claims["auth_time"] != timestamp(first_sign_in)
    assert claims["amr"] == ["phr"]


def test_prompt_login_cannot_be_skipped_by_resuming_without_signing_in(
    client: TestClient, app: NewClient, signed_in: None, clock: FrozenClock
) -> None:
    clock.advance(seconds=30)
    login_url = location(oidc.authorize(client, app, None, prompt="login"))
    request_id, resume = parked_at(login_url)
    clock.advance(seconds=5)
    again = location(client.get(resume, follow_redirects=False))
    assert parked_at(again) == (request_id, resume)


def test_max_age_exceeded_forces_a_new_sign_in(
    client: TestClient, app: NewClient, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    sign_up(client, authenticator)
    clock.advance(seconds=61)
    login_url = location(oidc.authorize(client, app, None, max_age="60"))
    _, resume = parked_at(login_url)

    clock.advance(seconds=2)
    fresh = clock.now()
    assert passkey_login_at(client, authenticator, login_url) == resume
    code = assert_code_redirect(client.get(resume, follow_redirects=False))
    assert id_token_claims(client, clock, app, code)["auth_time"] == timestamp(fresh)


def test_max_age_with_a_fresh_session_gives_a_code_at_once(
    client: TestClient, app: NewClient, signed_in: None, clock: FrozenClock
) -> None:
    signed_up = clock.now()
    clock.advance(seconds=59)
    code = assert_code_redirect(oidc.authorize(client, app, None, max_age="60"))
    assert id_token_claims(client, clock, app, code)["auth_time"] == timestamp(signed_up)


def test_max_age_exceeded_with_prompt_none_is_login_required(
    client: TestClient, app: NewClient, signed_in: None, clock: FrozenClock
) -> None:
    clock.advance(seconds=61)
    assert_error_redirect(oidc.authorize(client, app, None, max_age="60", prompt="none"), "login_required")


@pytest.mark.parametrize("max_age", ["-1", "soon", "1.5"])
def test_malformed_max_age_is_invalid_request(
    client: TestClient, app: NewClient, signed_in: None, max_age: str
) -> None:
    assert_error_redirect(oidc.authorize(client, app, None, max_age=max_age), "invalid_request")


def test_prompt_create_sends_the_browser_to_signup_and_back(client: TestClient, app: NewClient) -> None:
    signup_url = location(oidc.authorize(client, app, None, prompt="create"))
    _, resume = parked_at(signup_url, "/signup")

    newcomer = SoftAuthenticator()
    flow = browser.open_page(client, signup_url)
    options = client.post(
        f"/signup/flows/{flow.flow_id}/passkey/options",
        json={"email": "new@example.com"},
        headers=flow.headers,
    )
    assert options.status_code == 200, options.text
    credential = newcomer.create(options.json(), origin=browser.ORIGIN)
    created = client.post(
        f"/signup/flows/{flow.flow_id}",
        json={"method": "passkey", "credential": credential},
        headers=flow.headers,
    )
    assert created.status_code == 200, created.text
    assert created.json()["redirect_to"] == resume
    assert_code_redirect(client.get(resume, follow_redirects=False))


def email_input(page: Response) -> str:
    assert page.status_code == 200, page.text
    found = re.search(r'<input id="email"[^>]*>', page.text)
    assert found, page.text
    return found.group(0)


def test_login_hint_reaches_the_login_page_and_prefills_the_email(
    client: TestClient, app: NewClient, clock: FrozenClock
) -> None:
    """The hint travels with the parked request, not in the login page's URL."""
    login_url = location(oidc.authorize(client, app, None, login_hint="a@b.c"))
    request_id, _ = parked_at(login_url)
    parked = store.read(client, lambda tx: tx.get_authorization_request(request_id, now=clock.now()))
    assert parked is not None
    assert parked.login_hint == "a@b.c"
    assert 'value="a@b.c"' in email_input(client.get(login_url))


def test_a_login_page_ignores_another_browsers_authorization_request(
    client: TestClient, app: NewClient
) -> None:
    """An authorization_request that is unknown or belongs to another browser is ignored."""
    login_url = location(oidc.authorize(client, app, None, login_hint="a@b.c"))
    with another_browser(client) as other:
        assert 'value="a@b.c"' not in email_input(other.get(login_url))
        assert 'value="a@b.c"' not in email_input(other.get("/login?authorization_request=no-such-request"))
    assert 'value="a@b.c"' in email_input(client.get(login_url))  # the browser that asked still sees it


def test_ui_locales_is_accepted_and_ignored(client: TestClient, app: NewClient, signed_in: None) -> None:
    assert_code_redirect(oidc.authorize(client, app, Pkce.new(), ui_locales="fr-CA fr en"))


# --- request objects (OIDC Core §6) -----------------------------------------------------------


def test_request_object_is_not_supported(client: TestClient, app: NewClient, signed_in: None) -> None:
    response = oidc.authorize(client, app, Pkce.new(), request="eyJhbGciOiJub25lIn0.e30.")
    assert_error_redirect(response, "request_not_supported")


def test_request_uri_is_not_supported(client: TestClient, app: NewClient, signed_in: None) -> None:
    response = oidc.authorize(client, app, Pkce.new(), request_uri="https://app.example/request.jwt")
    assert_error_redirect(response, "request_uri_not_supported")


# --- sessions and parked requests ------------------------------------------------------------


def test_an_existing_session_is_reused_without_any_page(
    client: TestClient, app: NewClient, signed_in: None, clock: FrozenClock
) -> None:
    clock.advance(seconds=120)
    pkce = Pkce.new()
    response = oidc.authorize(client, app, pkce)
    assert response.status_code == 303
    code = assert_code_redirect(response)
    assert oidc.exchange(client, app, code, pkce).status_code == 200


def test_without_a_session_the_request_is_parked_and_resumed_after_sign_in(
    client: TestClient, app: NewClient, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    sign_up(client, authenticator)
    browser.sign_out(client)

    login_url = location(oidc.authorize(client, app, None))
    request_id, resume = parked_at(login_url)
    parked = store.read(client, lambda tx: tx.get_authorization_request(request_id, now=clock.now()))
    assert parked is not None
    assert parked.client_id == app.client.client_id
    assert parked.state == "state-123"

    assert passkey_login_at(client, authenticator, login_url) == resume
    assert_code_redirect(client.get(resume, follow_redirects=False))
    gone = store.read(client, lambda tx: tx.get_authorization_request(request_id, now=clock.now()))
    assert gone is None
    assert_error_page(client.get(resume, follow_redirects=False))  # a parked request resumes once


def test_a_parked_request_cannot_be_resumed_from_another_browser(
    client: TestClient, app: NewClient, authenticator: SoftAuthenticator
) -> None:
    login_url = location(oidc.authorize(client, app, None))
    _, resume = parked_at(login_url)
    with another_browser(client) as attacker:
        sign_up(attacker, SoftAuthenticator(), "mallory@example.com")
        response = attacker.get(resume, follow_redirects=False)
        assert_error_page(response)
    # The browser that asked can still finish.
    sign_up(client, authenticator)
    assert_code_redirect(client.get(resume, follow_redirects=False))


# --- audience (RFC 8707) ----------------------------------------------------------------------


def test_an_audience_not_registered_for_the_client_is_invalid_target(
    client: TestClient, signed_in: None
) -> None:
    registered = oidc.register(client, audiences=["https://api.example"])
    response = oidc.authorize(client, registered, None, audience="https://other-api.example")
    assert_error_redirect(response, "invalid_target")
    response = oidc.authorize(client, registered, None, resource="https://other-api.example")
    assert_error_redirect(response, "invalid_target")


def test_a_registered_audience_gives_a_code(client: TestClient, signed_in: None) -> None:
    registered = oidc.register(client, audiences=["https://api.example"])
    code = assert_code_redirect(oidc.authorize(client, registered, None, audience="https://api.example"))
    tokens = oidc.exchange(client, registered, code, None)
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["access_token"].count(".") == 2  # an RFC 9068 JWT for that API
