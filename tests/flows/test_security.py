"""Sessions, cookies, CSRF, same-origin checks, security headers, redirects and flow expiry.

Every refusal is checked twice: the answer is a clear 4xx, and the database holds exactly
the rows it held before the request. Every refused request is then sent again the right
way and must succeed, so a test cannot pass because the request was broken anyway.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from starlette.testclient import TestClient

from keyturn.app import create_app
from keyturn.clock import FrozenClock
from keyturn.domain.tenant import TenantSettings
from keyturn.http.security import BINDING_COOKIE, SESSION_COOKIE
from keyturn.ids import hash_token
from keyturn.settings import Settings
from tests.conftest import BASE_URL
from tests.support import browser, store
from tests.support.browser import storage
from tests.support.soft_authenticator import SoftAuthenticator

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
EVIL = "https://evil.example"


def set_cookie_header(response: Any, name: str) -> str:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return str(header)
    raise AssertionError(f"no Set-Cookie for {name}: {response.headers.get_list('set-cookie')}")


def cookie_attributes(header: str) -> dict[str, str]:
    attributes = {}
    for part in header.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        attributes[key.lower()] = value.lower()
    return attributes


def session_token(client: TestClient) -> str:
    token = client.cookies.get(SESSION_COOKIE)
    assert token, "not signed in"
    return token


def account_csrf(client: TestClient) -> str:
    csrf = browser.open_page(client, "/account").csrf
    assert csrf
    return csrf


# --- sessions and cookies -------------------------------------------------------------------


def test_session_cookie_is_httponly_lax_and_not_secure_on_http_localhost(client: TestClient) -> None:
    response = browser.signup_with_password(client, EMAIL, PASSWORD)
    assert response.status_code == 200, response.text

    attributes = cookie_attributes(set_cookie_header(response, SESSION_COOKIE))
    assert "httponly" in attributes
    assert attributes["samesite"] == "lax"
    assert attributes["path"] == "/"
    assert "secure" not in attributes
    assert int(attributes["max-age"]) == Settings().session_lifespan_seconds


def test_cookies_are_secure_when_the_public_url_is_https(clean_database: str, tmp_path: Path) -> None:
    public = "https://id.example.com"
    settings = Settings(
        database_url=clean_database,
        data_dir=tmp_path,
        public_url=public,
        tenant=TenantSettings.model_validate({"rp": {"id": "id.example.com", "origins": [public]}}),
    )
    with TestClient(create_app(settings), base_url=public, headers={"origin": public}) as https_client:
        page = https_client.get("/signup")
        signup = browser.signup_with_password(https_client, EMAIL, PASSWORD)

    assert signup.status_code == 200, signup.text
    for response, name in ((page, BINDING_COOKIE), (signup, SESSION_COOKIE)):
        attributes = cookie_attributes(set_cookie_header(response, name))
        assert "secure" in attributes, name
        assert "httponly" in attributes, name
        assert attributes["samesite"] == "lax", name


def test_the_database_keeps_only_a_hash_of_the_session_token(client: TestClient) -> None:
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    token = session_token(client)

    rows = storage(client)

    assert len(rows["sessions"]) == 1
    everything = repr(rows)
    assert token not in everything
    assert hash_token(token) in everything


def test_the_session_records_how_and_when_the_user_signed_in(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator
) -> None:
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    signup_token = session_token(client)
    browser.sign_out(client)
    clock.advance(hours=1)
    assert browser.login_with_passkey(client, authenticator).status_code == 200
    login_token = session_token(client)

    def session(token: str) -> Any:
        return store.find_session(client, token, now=clock.now())

    assert session(signup_token) is None, "signed out"
    current = session(login_token)
    assert current is not None
    assert [(e.method, e.at) for e in current.authenticated] == [("passkey", clock.now())]
    assert current.amr == ["phr"]
    assert current.auth_time == clock.now()
    assert current.expires_at == clock.now() + timedelta(seconds=Settings().session_lifespan_seconds)


def test_sign_out_deletes_the_session_so_the_old_cookie_stops_working(client: TestClient) -> None:
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    token = session_token(client)
    csrf = account_csrf(client)

    response = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert cookie_attributes(set_cookie_header(response, SESSION_COOKIE))["max-age"] == "0"
    assert storage(client)["sessions"] == []
    # A copy of the old cookie (say, stolen before sign-out) no longer signs anyone in.
    client.cookies.set(SESSION_COOKIE, token)
    page = client.get("/account", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")


@pytest.mark.parametrize("csrf", [None, "", "wrong-token"])
def test_sign_out_needs_the_csrf_token(client: TestClient, csrf: str | None) -> None:
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    account_csrf(client)
    before = storage(client)

    response = client.post("/logout", data={} if csrf is None else {"csrf": csrf}, follow_redirects=False)

    assert response.status_code == 403, response.text
    assert response.json()["error"] == "csrf_failed"
    assert storage(client) == before
    assert client.get("/account", follow_redirects=False).status_code == 200


def test_an_expired_session_sends_account_to_login(client: TestClient, clock: FrozenClock) -> None:
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    lifespan = Settings().session_lifespan_seconds

    clock.advance(seconds=lifespan - 1)
    assert client.get("/account", follow_redirects=False).status_code == 200

    clock.advance(seconds=1)
    response = client.get("/account", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?return_to=/account"
    login = client.get("/login", follow_redirects=False)
    assert login.status_code == 200, "an expired session is not signed in"


# --- CSRF and cross-site requests on every state-changing endpoint ------------------------

Via = Literal["form", "header"]


@dataclass(frozen=True)
class Call:
    """One state-changing request, ready to send with or without its CSRF token."""

    path: str
    csrf: str  # the right token
    via: Via
    body: dict[str, Any]


def send(client: TestClient, call: Call, *, csrf: str | None, headers: dict[str, str] | None = None) -> Any:
    extra = dict(headers or {})
    if call.via == "form":
        data = dict(call.body) if csrf is None else {**call.body, "csrf": csrf}
        return client.post(call.path, data=data, headers=extra, follow_redirects=False)
    if csrf is not None:
        extra["x-csrf-token"] = csrf
    return client.post(call.path, json=call.body, headers=extra, follow_redirects=False)


def _signed_out_with_account(client: TestClient) -> None:
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    browser.sign_out(client)


def _signed_in_with_passkey_and_password(client: TestClient, authenticator: SoftAuthenticator) -> str:
    """Ada has a passkey and a password, so removing either one is allowed."""
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    csrf = account_csrf(client)
    response = client.post(
        "/account/password", data={"csrf": csrf, "new_password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return csrf


def _passkey_id(client: TestClient) -> str:
    return store.passkeys_of(client, store.user_of(client, EMAIL).id)[0].id


def _login(client: TestClient, _: SoftAuthenticator, suffix: str, body: dict[str, Any]) -> Call:
    _signed_out_with_account(client)
    flow = browser.open_page(client, "/login")
    return Call(f"/login/flows/{flow.flow_id}{suffix}", flow.csrf, "header", body)


def _signup(client: TestClient, _: SoftAuthenticator, suffix: str, body: dict[str, Any]) -> Call:
    flow = browser.open_page(client, "/signup")
    return Call(f"/signup/flows/{flow.flow_id}{suffix}", flow.csrf, "header", body)


def _account_form(path: str, body: dict[str, Any]) -> Callable[[TestClient, SoftAuthenticator], Call]:
    def build(client: TestClient, authenticator: SoftAuthenticator) -> Call:
        csrf = _signed_in_with_passkey_and_password(client, authenticator)
        return Call(path.format(passkey_id=_passkey_id(client)), csrf, "form", body)

    return build


def _add_passkey_options(client: TestClient, authenticator: SoftAuthenticator) -> Call:
    csrf = _signed_in_with_passkey_and_password(client, authenticator)
    return Call("/account/passkeys/options", csrf, "header", {})


def _add_passkey(client: TestClient, authenticator: SoftAuthenticator) -> Call:
    csrf = _signed_in_with_passkey_and_password(client, authenticator)
    response = client.post("/account/passkeys/options", headers={"x-csrf-token": csrf})
    assert response.status_code == 200, response.text
    started = response.json()
    credential = SoftAuthenticator().create(started["options"], origin=BASE_URL)
    return Call(
        "/account/passkeys",
        started["csrf"],
        "header",
        {"flow_id": started["flow_id"], "credential": credential},
    )


PASSWORD_LOGIN = {"method": "password", "email": EMAIL, "password": PASSWORD}
ENDPOINTS: dict[str, Callable[[TestClient, SoftAuthenticator], Call]] = {
    "login passkey options": lambda c, a: _login(c, a, "/passkey/options", {}),
    "login identify": lambda c, a: _login(c, a, "/identify", {"email": EMAIL}),
    "login submit": lambda c, a: _login(c, a, "", PASSWORD_LOGIN),
    "signup passkey options": lambda c, a: _signup(c, a, "/passkey/options", {"email": "bo@example.com"}),
    "signup submit": lambda c, a: _signup(
        c, a, "", {"method": "password", "email": "bo@example.com", "password": PASSWORD}
    ),
    "add passkey options": _add_passkey_options,
    "add passkey": _add_passkey,
    "rename passkey": _account_form("/account/passkeys/{passkey_id}/rename", {"name": "Work laptop"}),
    "remove passkey": _account_form("/account/passkeys/{passkey_id}/delete", {}),
    "change password": _account_form(
        "/account/password", {"current_password": PASSWORD, "new_password": "a new password"}
    ),
    "remove password": _account_form("/account/password/delete", {}),
    "change email": _account_form("/account/email", {"email": "ada@new.example"}),
    "sign out": _account_form("/logout", {}),
}

ISSUE_ONLY_A_CHALLENGE = frozenset(
    {"login passkey options", "login identify", "signup passkey options", "add passkey options"}
)

ATTACKS: dict[str, tuple[dict[str, str], Callable[[Call], str | None], str]] = {
    # name: (headers, the token sent, the error expected)
    "missing csrf": ({}, lambda call: None, "csrf_failed"),
    "empty csrf": ({}, lambda call: "", "csrf_failed"),
    "wrong csrf": ({}, lambda call: call.csrf[:-4] + "AAAA", "csrf_failed"),
    "evil origin": ({"origin": EVIL}, lambda call: call.csrf, "cross_site_request"),
    "null origin": ({"origin": "null"}, lambda call: call.csrf, "cross_site_request"),
    "cross-site fetch": ({"sec-fetch-site": "cross-site"}, lambda call: call.csrf, "cross_site_request"),
}


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_state_changing_endpoints_refuse_csrf_and_cross_site_requests(
    client: TestClient, authenticator: SoftAuthenticator, endpoint: str
) -> None:
    call = ENDPOINTS[endpoint](client, authenticator)
    before = storage(client)

    for attack, (headers, token, error) in ATTACKS.items():
        response = send(client, call, csrf=token(call), headers=headers)
        assert response.status_code == 403, (attack, response.text)
        assert response.json()["error"] == error, attack
        assert storage(client) == before, f"{attack} changed the database"

    # The same request, sent the right way, goes through: it changes something, or (the
    # options calls, whose challenge is sealed into its own bytes) issues a challenge.
    response = send(client, call, csrf=call.csrf)
    assert response.status_code in (200, 303), response.text
    if endpoint in ISSUE_ONLY_A_CHALLENGE:
        assert "challenge" in response.text
    else:
        assert storage(client) != before


# --- security headers --------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/login", "/signup", "/account", "/", "/health/live"])
def test_security_headers_are_on_every_page(client: TestClient, path: str) -> None:
    if path == "/account":
        assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200

    response = client.get(path, follow_redirects=False)

    assert response.status_code in (200, 303)
    csp = response.headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["script-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] in ("same-origin", "no-referrer", "strict-origin")
    assert response.headers["cache-control"] == "no-store"


def test_error_answers_carry_the_security_headers_too(client: TestClient) -> None:
    response = client.post("/login/flows/no-such-flow", json={})
    assert response.status_code == 410
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


def test_static_files_may_be_cached(client: TestClient) -> None:
    response = client.get("/static/keyturn.js")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("cache-control", "")
    assert response.headers["x-content-type-options"] == "nosniff"


_SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.I)


@pytest.mark.parametrize("path", ["/login", "/signup", "/account"])
def test_pages_need_no_inline_script_or_style_so_the_csp_can_forbid_them(
    client: TestClient, path: str
) -> None:
    if path == "/account":
        assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    html = client.get(path).text

    for attributes in _SCRIPT_TAG.findall(html):
        assert "src=" in attributes or 'type="application/json"' in attributes, attributes
    assert not re.search(r"\sstyle\s*=", html, re.I)
    assert "<style" not in html.lower()
    assert not re.search(r"\son[a-z]+\s*=", html, re.I), "inline event handler"


# --- return_to: never an open redirect ---------------------------------------------------


def _password_login_from(client: TestClient, login_path: str) -> Any:
    flow = browser.open_page(client, login_path)
    return client.post(f"/login/flows/{flow.flow_id}", json=PASSWORD_LOGIN, headers=flow.headers)


@pytest.mark.parametrize(
    "return_to",
    [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/%09/evil.example",  # a tab: URL parsers drop it, leaving //evil.example
        "/%0a/evil.example",  # a newline: dropped the same way
    ],
)
def test_return_to_other_sites_is_ignored(client: TestClient, return_to: str) -> None:
    _signed_out_with_account(client)

    response = _password_login_from(client, f"/login?return_to={return_to}")

    assert response.status_code == 200, response.text
    assert response.json() == {"redirect_to": "/account"}
    # Already signed in: /login redirects at once, and still only on this site.
    again = client.get(f"/login?return_to={return_to}", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"] == "/account"


def test_return_to_a_path_on_this_site_is_honoured(client: TestClient) -> None:
    _signed_out_with_account(client)

    response = _password_login_from(client, "/login?return_to=/account%3Fnotice%3Dx")

    assert response.status_code == 200, response.text
    assert response.json() == {"redirect_to": "/account?notice=x"}


# --- flows: expiry, kind, browser binding --------------------------------------------------


@pytest.fixture
def flow_lifespan() -> int:
    return Settings().flow_lifespan_seconds


def test_a_login_flow_expires_after_its_lifespan(
    client: TestClient, clock: FrozenClock, flow_lifespan: int
) -> None:
    _signed_out_with_account(client)
    fresh = browser.open_page(client, "/login")
    stale = browser.open_page(client, "/login")
    clock.advance(seconds=flow_lifespan - 1)
    ok = client.post(f"/login/flows/{fresh.flow_id}", json=PASSWORD_LOGIN, headers=fresh.headers)
    assert ok.status_code == 200, "a flow works until its lifespan ends"
    browser.sign_out(client)
    clock.advance(seconds=1)
    before = storage(client)

    response = client.post(f"/login/flows/{stale.flow_id}", json=PASSWORD_LOGIN, headers=stale.headers)

    assert response.status_code == 410, response.text
    assert response.json()["error"] == "flow_expired"
    assert SESSION_COOKIE not in response.cookies
    assert storage(client) == before


def test_a_signup_flow_expires_after_its_lifespan(
    client: TestClient, clock: FrozenClock, flow_lifespan: int
) -> None:
    flow = browser.open_page(client, "/signup")
    clock.advance(seconds=flow_lifespan + 1)
    before = storage(client)

    response = client.post(
        f"/signup/flows/{flow.flow_id}",
        json={"method": "password", "email": EMAIL, "password": PASSWORD},
        headers=flow.headers,
    )

    assert response.status_code == 410, response.text
    assert response.json()["error"] == "flow_expired"
    assert storage(client) == before


def test_a_login_flow_cannot_be_used_to_sign_up(client: TestClient) -> None:
    login = browser.open_page(client, "/login")
    before = storage(client)

    for path in (f"/signup/flows/{login.flow_id}", f"/signup/flows/{login.flow_id}/passkey/options"):
        response = client.post(
            path,
            json={"method": "password", "email": EMAIL, "password": PASSWORD},
            headers=login.headers,
        )
        assert response.status_code == 410, response.text
        assert response.json()["error"] == "flow_expired"
    assert storage(client) == before


def test_a_signup_flow_cannot_be_used_to_sign_in(client: TestClient) -> None:
    _signed_out_with_account(client)
    signup = browser.open_page(client, "/signup")
    before = storage(client)

    response = client.post(f"/login/flows/{signup.flow_id}", json=PASSWORD_LOGIN, headers=signup.headers)

    assert response.status_code == 410, response.text
    assert storage(client) == before


def test_a_flow_only_works_in_the_browser_that_opened_it(client: TestClient) -> None:
    _signed_out_with_account(client)
    flow = browser.open_page(client, "/login")
    before = storage(client)

    opener = client.cookies[BINDING_COOKIE]
    for other in ("another-browser-binding-token-0123456789", None):
        client.cookies.clear()
        if other is not None:
            client.cookies.set(BINDING_COOKIE, other)
        response = client.post(f"/login/flows/{flow.flow_id}", json=PASSWORD_LOGIN, headers=flow.headers)
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "flow_browser_mismatch"
        assert storage(client) == before

    client.cookies.clear()
    client.cookies.set(BINDING_COOKIE, opener)
    response = client.post(f"/login/flows/{flow.flow_id}", json=PASSWORD_LOGIN, headers=flow.headers)
    assert response.status_code == 200, response.text
