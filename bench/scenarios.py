"""The operations the benchmark times, each as a browser or an OAuth client makes it.

- `signin`: GET /login, POST /login/flows/{id}/passkey/options, the authenticator signs,
  POST /login/flows/{id}, GET /account (what keyturn.js does for the passkey button, then
  the page it lands on). Each starts from a fresh cookie jar except the flow-binding
  cookie, which a browser keeps.
- `oidc`: an OpenID Connect code flow with PKCE for a first-party public client, signing in
  with a passkey on the way: GET /oauth2/authorize, GET /login?authorization_request=...,
  options, sign, POST the assertion, GET /oauth2/authorize/resume/... (303 to the client's
  redirect_uri with ?code=, not followed), POST /oauth2/token with the code and verifier.
- `client_credentials`: POST /oauth2/token with HTTP Basic client authentication.
- `recovery` (in-process only): GET /recovery, then POST /recovery with an address, known and
  unknown in turn, each from a fresh browser: the two must cost the same.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from bench.client import Browser, Response
from keyturn.http.security import BINDING_COOKIE, SESSION_COOKIE
from tests.support.soft_authenticator import SoftAuthenticator

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
PAGE_DATA = re.compile(r'<script type="application/json" id="kt-page">(.*?)</script>', re.S)
REDIRECT_URI = "http://127.0.0.1:9/cb"  # never followed
REDIRECTS = (302, 303)
# The benchmark's clients all come from 127.0.0.1 and sign in faster than any person: the rate
# limits stay on (each limited request still makes its counter hit, which is what is measured)
# but so high that they never refuse. `keyturn config patch --replace` assignments.
UNREFUSING_RATE_LIMITS = (
    "/attack_protection/rate_limits/passkey_options/per_ip=10000000/minute",
    "/attack_protection/rate_limits/token/per_client=10000000/minute",
    "/attack_protection/suspicious_ip/max_signups=100000",
)


class StepFailed(Exception):
    """One HTTP step did not answer as a browser or client expects."""


def _expect(response: Response, what: str, *statuses: int) -> Response:
    if response.status not in (statuses or (200,)):
        raise StepFailed(f"{what}: {response.status} {response.text[:160]}")
    return response


@dataclass(frozen=True)
class OidcClient:
    client_id: str
    secret: str | None


@dataclass
class Person:
    """One concurrent client: a browser with its own passkey and account."""

    browser: Browser
    authenticator: SoftAuthenticator
    email: str

    @classmethod
    def new(cls, port: int, index: int) -> Person:
        # counter_step=1: every assertion carries a higher sign count, as a hardware key's would.
        return cls(Browser(port), SoftAuthenticator(counter_step=1), f"bench-{index}@example.com")


async def _open_page(browser: Browser, target: str) -> tuple[str, str]:
    """GET a login or sign-up page: (the flow's base path, its CSRF token) from `kt-page`."""
    response = _expect(await browser.get(target), f"GET {urlsplit(target).path}")
    match = PAGE_DATA.search(response.text)
    if match is None:
        raise StepFailed(f"GET {urlsplit(target).path}: no kt-page data")
    data = json.loads(match.group(1))
    return f"{urlsplit(target).path}/flows/{data['flow_id']}", str(data["csrf"])


async def sign_up(person: Person) -> None:
    """Create the person's account with a passkey, as the sign-up page's script does."""
    b = person.browser
    flow, csrf = await _open_page(b, "/signup")
    options = _expect(
        await b.post_json(f"{flow}/passkey/options", {"email": person.email}, csrf=csrf), "signup options"
    ).json()
    credential = person.authenticator.create(options, origin=b.origin)
    submitted = await b.post_json(flow, {"method": "passkey", "credential": credential}, csrf=csrf)
    _expect(submitted, "POST /signup/flows/{id}")


async def passkey_sign_in(person: Person, page: str = "/login") -> str:
    """The passkey button on a login page: options, sign, submit; returns `redirect_to`."""
    b = person.browser
    flow, csrf = await _open_page(b, page)
    options = _expect(await b.post_json(f"{flow}/passkey/options", {}, csrf=csrf), "login options").json()
    credential = person.authenticator.get(options, origin=b.origin)
    submitted = await b.post_json(flow, {"method": "passkey", "credential": credential}, csrf=csrf)
    answer = _expect(submitted, "POST /login/flows/{id}").json()
    if SESSION_COOKIE not in b.cookies:
        raise StepFailed("POST /login/flows/{id}: no session cookie")
    return str(answer["redirect_to"])


async def signin(person: Person) -> None:
    person.browser.keep_only(BINDING_COOKIE)
    landing = await passkey_sign_in(person)
    _expect(await person.browser.get(landing), f"GET {urlsplit(landing).path}")


async def signin_only(person: Person) -> None:
    """A sign-in without the page after it: what the memory phase repeats to make sessions."""
    person.browser.keep_only(BINDING_COOKIE)
    await passkey_sign_in(person)


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _location(response: Response, what: str) -> str:
    _expect(response, what, *REDIRECTS)
    location = response.header("location")
    if not location:
        raise StepFailed(f"{what}: {response.status} without Location")
    return location


async def oidc_code_flow(person: Person, client: OidcClient) -> None:
    b = person.browser
    b.keep_only(BINDING_COOKIE)
    verifier, challenge = _pkce()
    state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    query = {
        "client_id": client.client_id,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": "openid email",
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    login = _location(await b.get(f"/oauth2/authorize?{urlencode(query)}"), "GET /oauth2/authorize")
    if not b.path_of(login).startswith("/login?"):
        raise StepFailed(f"GET /oauth2/authorize: sent to {login[:120]}, not to /login")
    resume = await passkey_sign_in(person, b.path_of(login))
    back = _location(await b.get(resume), "GET /oauth2/authorize/resume/{id}")
    if not back.startswith(REDIRECT_URI):
        raise StepFailed(f"GET /oauth2/authorize/resume/{{id}}: sent to {back[:120]}")
    params = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
    if params.get("state") != state or "code" not in params:
        raise StepFailed(f"redirect_uri without code or with another state: {back[:160]}")
    form = {
        "grant_type": "authorization_code",
        "code": params["code"],
        "redirect_uri": REDIRECT_URI,
        "client_id": client.client_id,
        "code_verifier": verifier,
    }
    tokens = _expect(await b.post_form("/oauth2/token", form), "POST /oauth2/token (code)").json()
    if "id_token" not in tokens or "access_token" not in tokens:
        raise StepFailed(f"POST /oauth2/token (code): no tokens in {sorted(tokens)}")


async def client_credentials_grant(person: Person, client: OidcClient) -> None:
    assert client.secret is not None
    form = {"grant_type": "client_credentials", "scope": "read:users"}
    answer = await person.browser.post_form("/oauth2/token", form, basic=(client.client_id, client.secret))
    if "access_token" not in _expect(answer, "POST /oauth2/token (client_credentials)").json():
        raise StepFailed("POST /oauth2/token (client_credentials): no access_token")


async def health(person: Person) -> None:
    """GET /health/live: a request that touches no database, the web stack's own cost (/health on
    a Keyturn from before issue 8, which had no /health/live)."""
    answer = await person.browser.get("/health/live")
    if answer.status == 404:
        answer = await person.browser.get("/health")
    _expect(answer, "GET /health/live")


async def recovery_request(person: Person, email: str) -> None:
    """ "Can't sign in?": the page, then the address sent; the "check your inbox" answer."""
    b = person.browser
    b.cookies.clear()
    page = _expect(await b.get("/recovery"), "GET /recovery")
    fields = dict(HIDDEN.findall(page.text)) | {"email": email}
    answer = await b.request(
        "POST",
        "/recovery",
        body=urlencode(fields).encode(),
        content_type="application/x-www-form-urlencoded",
        headers=[("Origin", b.origin), ("Accept", "text/html")],
    )
    if "Check your inbox" not in _expect(answer, "POST /recovery").text:
        raise StepFailed(f"POST /recovery: no 'Check your inbox' in {answer.text[:160]}")


Operation = Callable[[Person], Awaitable[None]]


def operation(scenario: str, clients: dict[str, OidcClient]) -> Operation:
    if scenario == "signin":
        return signin
    if scenario == "oidc":
        public = clients["oidc"]
        return lambda person: oidc_code_flow(person, public)
    if scenario == "client_credentials":
        confidential = clients["client_credentials"]
        return lambda person: client_credentials_grant(person, confidential)
    raise ValueError(scenario)


def describe(scenario: str) -> str:
    return {
        "signin": "GET /login, options, sign, POST assertion, GET /account",
        "oidc": "authorize, /login, options, sign, POST assertion, resume, token",
        "client_credentials": "POST /oauth2/token, Basic auth",
        "recovery": "GET /recovery, POST /recovery (known and unknown addresses in turn)",
        "throttles": "the signin scenario with the throttles (rate limits, suspicious IP) on and off",
    }[scenario]


def parse_cli_json(output: str) -> dict[str, Any]:
    """The last JSON line a `keyturn ... --json` command printed."""
    for line in reversed(output.strip().splitlines()):
        if line.startswith("{"):
            found: dict[str, Any] = json.loads(line)
            return found
    raise StepFailed(f"no JSON in: {output[-300:]}")
