"""Second factors (issue 12) over HTTP: an authenticator app and recovery codes on /account,
the second-factor step of a sign-in under each MFA policy, single use of every code, the
block after five wrong codes, and the `amr` a session (and its ID token) reports."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from httpx2 import Response
from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from keyturn.context import Context
from keyturn.domain.factors import Factors
from keyturn.domain.identity import User
from keyturn.http.security import SESSION_COOKIE
from keyturn.oidc.clients import NewClient
from keyturn.operations.clients import describe_client
from tests.hooks.conftest import Answer, HookServer, running_hook_server
from tests.hooks.test_post_login import add as add_hook_at
from tests.oidc.test_code_grant import decode_id_token, tokens
from tests.support import browser, oidc, store
from tests.support.browser import storage
from tests.support.oidc import Pkce
from tests.support.soft_authenticator import SoftAuthenticator

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
STEP = "/login/second-factor/"
_SECRET = re.compile(r'data-secret="([A-Z2-7]+)"')
_SETUP = re.compile(r'name="setup" value="([^"]+)"')
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_CODES = re.compile(r"<li><code>([a-z0-9-]+)</code></li>")


# --- helpers --------------------------------------------------------------------------


def signed_up(client: TestClient) -> User:
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    return store.user_of(client, EMAIL)


def session_csrf(client: TestClient) -> str:
    return browser.open_page(client, "/account").csrf


def factors_of(client: TestClient, user: User) -> Factors:
    return store.read(client, lambda tx: tx.get_factors(user.id))


def code_at(secret: str, clock: FrozenClock) -> str:
    return pyotp.TOTP(secret).at(clock.now())


def add_app(client: TestClient, clock: FrozenClock) -> str:
    """Add an authenticator app on /account; its secret, as the page showed it."""
    page = client.post("/account/totp/start", data={"csrf": session_csrf(client)})
    assert page.status_code == 200, page.text
    secret, setup = _SECRET.search(page.text), _SETUP.search(page.text)
    assert secret and setup
    assert "<svg" in page.text, "the QR code is drawn inline by the server"
    done = client.post(
        "/account/totp",
        data={"csrf": session_csrf(client), "setup": setup.group(1), "code": code_at(secret.group(1), clock)},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/account?notice=totp_added", done.text
    return secret.group(1)


def generate_codes(client: TestClient) -> list[str]:
    page = client.post("/account/recovery-codes", data={"csrf": session_csrf(client)})
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    return _CODES.findall(page.text)


def password_first_factor(client: TestClient) -> Response:
    """The password step of /login: JSON with where to go next."""
    response = browser.login_with_password(client, EMAIL, PASSWORD)
    assert response.status_code == 200, response.text
    return response


def to_second_factor(client: TestClient) -> str:
    """Sign in with the password and land on the second-factor step: its URL (no session yet)."""
    client.cookies.delete(SESSION_COOKIE)
    target = password_first_factor(client).json()["redirect_to"]
    assert target.startswith(STEP), target
    assert SESSION_COOKIE not in client.cookies, "no session before the second factor"
    return str(target)


def answer(client: TestClient, step_url: str, code: str, *, path: str = "") -> Response:
    page = client.get(step_url)
    assert page.status_code == 200, page.text
    csrf = _CSRF.search(page.text)
    assert csrf
    return client.post(step_url + path, data={"csrf": csrf.group(1), "code": code}, follow_redirects=False)


def session_amr(client: TestClient, clock: FrozenClock) -> list[str]:
    session = store.find_session(client, client.cookies[SESSION_COOKIE], now=clock.now())
    assert session is not None
    return session.amr


def sign_out(client: TestClient) -> None:
    browser.sign_out(client)
    client.cookies.delete(SESSION_COOKIE)


@pytest.fixture
def ada(client: TestClient) -> User:
    return signed_up(client)


# --- the authenticator app on /account ------------------------------------------------


def test_adding_an_app_stores_its_secret_sealed_and_logs_the_enrollment(
    client: TestClient, clock: FrozenClock, ada: User
) -> None:
    secret = add_app(client, clock)

    rows = storage(client)["totp_credentials"]
    assert len(rows) == 1
    assert secret.encode() not in repr(rows).encode(), "the secret is never stored in the clear"
    assert factors_of(client, ada).totp is not None
    enrolled = store.events_of(client, "gd_enrollment_complete", user_id=ada.id)
    assert [e.details["method"] for e in enrolled] == ["otp"]
    assert "Authenticator app" in client.get("/account").text


def test_a_wrong_first_code_adds_nothing_and_shows_the_same_secret_again(
    client: TestClient, clock: FrozenClock, ada: User
) -> None:
    page = client.post("/account/totp/start", data={"csrf": session_csrf(client)})
    secret, setup = _SECRET.search(page.text), _SETUP.search(page.text)
    assert secret and setup
    wrong = "000000" if code_at(secret.group(1), clock) != "000000" else "111111"

    again = client.post(
        "/account/totp", data={"csrf": session_csrf(client), "setup": setup.group(1), "code": wrong}
    )

    assert again.status_code == 400
    assert "That code is not right" in again.text
    assert f'data-secret="{secret.group(1)}"' in again.text
    assert storage(client)["totp_credentials"] == []


def test_a_tampered_setup_token_adds_nothing(client: TestClient, clock: FrozenClock, ada: User) -> None:
    page = client.post("/account/totp/start", data={"csrf": session_csrf(client)})
    secret, setup = _SECRET.search(page.text), _SETUP.search(page.text)
    assert secret and setup
    token = setup.group(1)
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]

    response = client.post(
        "/account/totp",
        data={"csrf": session_csrf(client), "setup": tampered, "code": code_at(secret.group(1), clock)},
    )

    assert response.status_code == 410
    assert storage(client)["totp_credentials"] == []


def test_a_second_app_is_refused_until_the_first_is_removed(
    client: TestClient, clock: FrozenClock, ada: User
) -> None:
    add_app(client, clock)
    page = client.post("/account/totp/start", data={"csrf": session_csrf(client)})
    secret, setup = _SECRET.search(page.text), _SETUP.search(page.text)
    assert secret and setup
    clock.advance(seconds=30)
    refused = client.post(
        "/account/totp",
        data={"csrf": session_csrf(client), "setup": setup.group(1), "code": code_at(secret.group(1), clock)},
    )
    assert refused.status_code == 409
    assert len(storage(client)["totp_credentials"]) == 1

    removed = client.post("/account/totp/delete", data={"csrf": session_csrf(client)}, follow_redirects=False)
    assert removed.status_code == 303
    assert storage(client)["totp_credentials"] == []
    assert [e.details["method"] for e in store.events_of(client, "gd_unenroll", user_id=ada.id)] == ["otp"]


def test_adding_or_removing_a_factor_after_the_privileged_window_asks_to_confirm_first(
    client: TestClient, clock: FrozenClock, ada: User
) -> None:
    add_app(client, clock)
    clock.advance(seconds=901)

    for path in ("/account/totp/start", "/account/totp/delete", "/account/recovery-codes"):
        response = client.post(path, data={"csrf": session_csrf(client)})
        assert response.status_code == 403, path
        assert browser.page_data(response)["mode"] == "confirm"
    assert len(storage(client)["totp_credentials"]) == 1
    assert storage(client)["recovery_codes"] == []


# --- recovery codes -------------------------------------------------------------------


def test_recovery_codes_are_ten_shown_once_and_stored_hashed(client: TestClient, ada: User) -> None:
    codes = generate_codes(client)

    assert len(codes) == 10 and len(set(codes)) == 10
    rows = storage(client)["recovery_codes"]
    assert len(rows) == 10
    stored = repr(rows)
    assert all(code not in stored and code.replace("-", "") not in stored for code in codes)
    page = client.get("/account").text
    assert all(code not in page for code in codes), "the codes are shown only when made"


def test_generating_recovery_codes_again_replaces_all_of_them(
    client: TestClient, clock: FrozenClock, ada: User
) -> None:
    add_app(client, clock)
    first = generate_codes(client)
    second = generate_codes(client)
    assert not set(first) & set(second)
    assert len(storage(client)["recovery_codes"]) == 10
    store.set_tenant(client, "/mfa/policy", "optional")
    sign_out(client)

    refused = answer(client, to_second_factor(client), first[0])
    assert refused.status_code == 401
    assert SESSION_COOKIE not in client.cookies


# --- the second-factor step -----------------------------------------------------------


def test_optional_policy_asks_an_enrolled_user_for_the_code_before_the_session(
    client: TestClient, clock: FrozenClock, ada: User
) -> None:
    secret = add_app(client, clock)
    store.set_tenant(client, "/mfa/policy", "optional")
    sign_out(client)
    clock.advance(seconds=60)

    step = to_second_factor(client)
    page = client.get(step)
    assert "Two-step verification" in page.text and 'name="code"' in page.text
    done = answer(client, step, code_at(secret, clock))

    assert done.status_code == 303 and done.headers["location"] == "/account"
    assert session_amr(client, clock) == ["pwd", "otp", "mfa"]
    signed_in = store.events_of(client, "s", user_id=ada.id)[-1]
    assert signed_in.details["prompts"][0]["performed_amr"] == ["pwd", "otp", "mfa"]
    assert [e.details["method"] for e in store.events_of(client, "gd_start_auth", user_id=ada.id)] == ["otp"]
    assert [e.details["method"] for e in store.events_of(client, "gd_auth_succeed", user_id=ada.id)] == [
        "otp"
    ]


def test_a_code_is_accepted_once(client: TestClient, clock: FrozenClock, ada: User) -> None:
    secret = add_app(client, clock)
    store.set_tenant(client, "/mfa/policy", "optional")
    sign_out(client)
    clock.advance(seconds=60)
    code = code_at(secret, clock)
    assert answer(client, to_second_factor(client), code).status_code == 303
    sign_out(client)

    replayed = answer(client, to_second_factor(client), code)

    assert replayed.status_code == 401
    assert "That code is not right" in replayed.text
    assert SESSION_COOKIE not in client.cookies
    failed = store.events_of(client, "gd_auth_failed", user_id=ada.id)
    assert failed[-1].details == {"method": "otp", "error": "code_used"}


def test_the_code_that_enrolled_the_app_does_not_sign_in(
    client: TestClient, clock: FrozenClock, ada: User
) -> None:
    secret = add_app(client, clock)
    store.set_tenant(client, "/mfa/policy", "optional")
    sign_out(client)

    assert answer(client, to_second_factor(client), code_at(secret, clock)).status_code == 401


def test_a_code_of_the_next_step_is_accepted_but_not_two_steps_away(
    client: TestClient, clock: FrozenClock, ada: User
) -> None:
    secret = add_app(client, clock)
    store.set_tenant(client, "/mfa/policy", "optional")
    sign_out(client)
    clock.advance(seconds=120)
    later = pyotp.TOTP(secret)

    too_far = later.at(clock.now(), counter_offset=2)
    assert answer(client, to_second_factor(client), too_far).status_code == 401
    next_step = later.at(clock.now(), counter_offset=1)
    assert answer(client, to_second_factor(client), next_step).status_code == 303


def test_five_wrong_codes_block_the_codes_even_a_right_one(
    client: TestClient, clock: FrozenClock, ada: User
) -> None:
    secret = add_app(client, clock)
    store.set_tenant(client, "/mfa/policy", "optional")
    sign_out(client)
    clock.advance(seconds=60)
    right = code_at(secret, clock)
    wrong = "123456" if right != "123456" else "654321"
    step = to_second_factor(client)

    for _ in range(5):
        assert answer(client, step, wrong).status_code == 401
    blocked = answer(client, step, right)

    assert blocked.status_code == 429
    assert "Too many wrong codes" in blocked.text
    assert SESSION_COOKIE not in client.cookies
    assert store.events_of(client, "gd_otp_rate_limit_exceed", user_id=ada.id)
    # A new sign-in does not reset the count: the block is the user's, not the page's.
    assert answer(client, to_second_factor(client), right).status_code == 429


def test_a_right_code_clears_the_wrong_ones_before_it(
    client: TestClient, clock: FrozenClock, ada: User
) -> None:
    secret = add_app(client, clock)
    store.set_tenant(client, "/mfa/policy", "optional")
    sign_out(client)
    clock.advance(seconds=60)
    step = to_second_factor(client)
    for _ in range(4):
        assert (
            answer(client, step, "000000" if code_at(secret, clock) != "000000" else "111111").status_code
            == 401
        )
    assert answer(client, step, code_at(secret, clock)).status_code == 303
    sign_out(client)
    clock.advance(seconds=30)

    step = to_second_factor(client)
    for _ in range(4):
        assert (
            answer(client, step, "000000" if code_at(secret, clock) != "000000" else "111111").status_code
            == 401
        )
    assert answer(client, step, code_at(secret, clock)).status_code == 303


def test_a_recovery_code_signs_in_once(client: TestClient, clock: FrozenClock, ada: User) -> None:
    add_app(client, clock)
    codes = generate_codes(client)
    store.set_tenant(client, "/mfa/policy", "optional")
    sign_out(client)

    done = answer(client, to_second_factor(client), codes[3].upper())

    assert done.status_code == 303
    assert session_amr(client, clock) == ["pwd", "otp", "mfa"]
    recovered = store.events_of(client, "gd_recovery_succeed", user_id=ada.id)
    assert recovered[-1].details == {"method": "recovery-code", "remaining": 9}
    assert len(storage(client)["recovery_codes"]) == 9
    sign_out(client)
    assert answer(client, to_second_factor(client), codes[3]).status_code == 401


def test_the_step_belongs_to_the_browser_that_began_it(
    client: TestClient, clock: FrozenClock, ada: User
) -> None:
    secret = add_app(client, clock)
    store.set_tenant(client, "/mfa/policy", "optional")
    sign_out(client)
    clock.advance(seconds=60)
    step = to_second_factor(client)
    page = client.get(step)
    csrf = _CSRF.search(page.text)
    assert csrf
    client.cookies.delete("keyturn_browser")

    response = client.post(
        step, data={"csrf": csrf.group(1), "code": code_at(secret, clock)}, follow_redirects=False
    )

    assert response.status_code == 403
    assert SESSION_COOKIE not in client.cookies


# --- the policy matrix ----------------------------------------------------------------


@pytest.mark.parametrize("policy", ["never", "optional", "required"])
def test_a_password_sign_in_without_a_second_factor(
    client: TestClient, clock: FrozenClock, ada: User, policy: str
) -> None:
    store.set_tenant(client, "/mfa/policy", policy)
    sign_out(client)

    target = password_first_factor(client).json()["redirect_to"]

    if policy == "required":
        assert target.startswith(STEP)
        assert SESSION_COOKIE not in client.cookies
        assert "Add an authenticator app" in client.get(target).text
    else:
        assert target == "/account"
        assert session_amr(client, clock) == ["pwd"]


@pytest.mark.parametrize("policy", ["never", "optional", "required"])
def test_a_password_sign_in_with_an_app(
    client: TestClient, clock: FrozenClock, ada: User, policy: str
) -> None:
    add_app(client, clock)
    store.set_tenant(client, "/mfa/policy", policy)
    sign_out(client)

    target = password_first_factor(client).json()["redirect_to"]

    assert target.startswith(STEP) == (policy != "never")


def test_required_policy_enrolls_an_app_at_the_next_sign_in_then_issues_the_session(
    client: TestClient, clock: FrozenClock, ada: User
) -> None:
    store.set_tenant(client, "/mfa/policy", "required")
    sign_out(client)
    step = to_second_factor(client)
    page = client.get(step)
    secret, setup, csrf = _SECRET.search(page.text), _SETUP.search(page.text), _CSRF.search(page.text)
    assert secret and setup and csrf

    wrong = client.post(
        step + "/enroll", data={"csrf": csrf.group(1), "setup": setup.group(1), "code": "12345x"}
    )
    assert wrong.status_code == 400 and storage(client)["totp_credentials"] == []
    done = client.post(
        step + "/enroll",
        data={"csrf": csrf.group(1), "setup": setup.group(1), "code": code_at(secret.group(1), clock)},
        follow_redirects=False,
    )

    assert done.status_code == 303, done.text
    assert session_amr(client, clock) == ["pwd", "otp", "mfa"]
    assert factors_of(client, ada).totp is not None


def passkey_user(client: TestClient, authenticator: SoftAuthenticator) -> User:
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    return store.user_of(client, EMAIL)


def test_required_policy_lets_a_user_verified_passkey_through_when_it_satisfies_mfa(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator
) -> None:
    passkey_user(client, authenticator)
    store.set_tenant(client, "/mfa/policy", "required")
    sign_out(client)

    response = browser.login_with_passkey(client, authenticator)

    assert response.status_code == 200 and response.json()["redirect_to"] == "/account"
    assert session_amr(client, clock) == ["phr", "mfa"]


def test_required_policy_asks_passkey_users_too_when_passkeys_do_not_satisfy_it(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator
) -> None:
    passkey_user(client, authenticator)
    store.set_tenant(client, "/mfa/policy", "required")
    store.set_tenant(client, "/mfa/passkey_satisfies", False)
    sign_out(client)

    response = browser.login_with_passkey(client, authenticator)

    assert response.json()["redirect_to"].startswith(STEP)
    assert SESSION_COOKIE not in client.cookies


def test_a_passkey_without_user_verification_never_satisfies_mfa(client: TestClient) -> None:
    store.set_tenant(client, "/passkey_options/user_verification", "preferred")
    authenticator = SoftAuthenticator(user_verified=False)
    passkey_user(client, authenticator)
    store.set_tenant(client, "/mfa/policy", "required")
    sign_out(client)

    response = browser.login_with_passkey(client, authenticator)

    assert response.status_code == 200, response.text
    assert response.json()["redirect_to"].startswith(STEP)


def test_with_no_policy_a_passkey_sign_in_is_phr_alone(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator
) -> None:
    passkey_user(client, authenticator)
    sign_out(client)
    assert browser.login_with_passkey(client, authenticator).status_code == 200
    assert session_amr(client, clock) == ["phr"]


# --- OIDC: a client that requires MFA, and the ID token's amr -------------------------


def test_a_client_requiring_mfa_gets_an_id_token_with_otp_and_mfa(
    client: TestClient, clock: FrozenClock, ada: User
) -> None:
    secret = add_app(client, clock)
    strict = oidc.register(client, mfa="required")
    relaxed = oidc.register(client, name="Relaxed app")
    sign_out(client)
    clock.advance(seconds=60)
    pkce = Pkce.new()

    login_url = oidc.authorize(client, strict, pkce).headers["location"]
    flow = browser.open_page(client, login_url)
    first = client.post(
        f"/login/flows/{flow.flow_id}",
        json={"method": "password", "email": EMAIL, "password": PASSWORD},
        headers=flow.headers,
    )
    step = first.json()["redirect_to"]
    assert step.startswith(STEP)
    resume = answer(client, step, code_at(secret, clock)).headers["location"]
    code = oidc.redirect_params(client.get(resume, follow_redirects=False))["code"]
    body = tokens(oidc.exchange(client, strict, code, pkce))
    claims = decode_id_token(client, clock, strict, body["id_token"])[1]

    assert claims["amr"] == ["pwd", "otp", "mfa"]
    described = store.in_context(client, lambda ctx: _describe(ctx, strict))
    assert described["mfa"] == "required" and relaxed.client.mfa is None


def test_a_session_without_two_factors_steps_up_for_a_client_requiring_mfa(
    client: TestClient, clock: FrozenClock, ada: User
) -> None:
    """Signed in with a password alone (a client without MFA), the browser then authorizes a
    client with `--mfa required`: a step-up to two factors, never a code for one."""
    secret = add_app(client, clock)
    strict = oidc.register(client, mfa="required")
    relaxed = oidc.register(client, name="Relaxed app")
    sign_out(client)
    clock.advance(seconds=60)

    pkce = Pkce.new()
    flow = browser.open_page(client, oidc.authorize(client, relaxed, pkce).headers["location"])
    signed_in = client.post(
        f"/login/flows/{flow.flow_id}",
        json={"method": "password", "email": EMAIL, "password": PASSWORD},
        headers=flow.headers,
    )
    assert not signed_in.json()["redirect_to"].startswith(STEP)  # no MFA for this client
    assert session_amr(client, clock) == ["pwd"]

    pkce = Pkce.new()
    asked = oidc.authorize(client, strict, pkce)
    assert asked.status_code in (302, 303)
    assert asked.headers["location"].startswith("/login?"), asked.headers["location"]
    assert "code=" not in asked.headers["location"]

    step_up = browser.open_page(client, asked.headers["location"])
    first = client.post(
        f"/login/flows/{step_up.flow_id}",
        json={"method": "password", "email": EMAIL, "password": PASSWORD},
        headers=step_up.headers,
    )
    step = first.json()["redirect_to"]
    assert step.startswith(STEP)
    resume = answer(client, step, code_at(secret, clock)).headers["location"]
    code = oidc.redirect_params(client.get(resume, follow_redirects=False))["code"]
    claims = decode_id_token(
        client, clock, strict, tokens(oidc.exchange(client, strict, code, pkce))["id_token"]
    )[1]
    assert claims["amr"] == ["pwd", "otp", "mfa"]


async def _describe(ctx: Context, registered: NewClient) -> dict[str, Any]:
    found = await ctx.rt.config.client(await ctx.read(), registered.client.client_id)
    assert found is not None
    return describe_client(found)


def test_a_client_with_mfa_never_overrides_the_tenants_policy(
    client: TestClient, clock: FrozenClock, ada: User
) -> None:
    add_app(client, clock)
    store.set_tenant(client, "/mfa/policy", "required")
    lenient = oidc.register(client, mfa="never")
    sign_out(client)

    login_url = oidc.authorize(client, lenient, Pkce.new()).headers["location"]
    flow = browser.open_page(client, login_url)
    first = client.post(
        f"/login/flows/{flow.flow_id}",
        json={"method": "password", "email": EMAIL, "password": PASSWORD},
        headers=flow.headers,
    )

    assert not first.json()["redirect_to"].startswith(STEP)


@pytest.fixture
def hooks() -> Iterator[HookServer]:
    with running_hook_server() as server:
        yield server


def test_post_login_hooks_see_the_second_factor_as_auth0s_mfa(
    client: TestClient, clock: FrozenClock, ada: User, hooks: HookServer
) -> None:
    hook_server = hooks
    secret = add_app(client, clock)
    store.set_tenant(client, "/mfa/policy", "optional")
    sign_out(client)
    clock.advance(seconds=60)
    add_hook_at(client, clock, hook_server.answer("/hook", Answer.allow()))

    step = to_second_factor(client)
    assert hook_server.requests_to() == [], "no hook runs before the second factor"
    assert answer(client, step, code_at(secret, clock)).status_code == 303

    [call] = hook_server.requests_to()
    assert [m["name"] for m in call.event["authentication"]["methods"]] == ["pwd", "mfa"]
