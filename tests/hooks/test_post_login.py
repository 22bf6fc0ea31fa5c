"""Post-login hooks over HTTP: the event a hook receives, what its answer does to a hosted
sign-in and to an OIDC authorization (deny, claims in the ID and JWT access tokens), what a
timeout, an error or a malformed answer means, the order of several hooks, and the
`hook_called` event every call writes.

The hooks are a real HTTP server on 127.0.0.1 (tests/hooks/conftest.py); users sign in
with the software authenticator's real keys or a password.
"""

from __future__ import annotations

import time
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import pytest
from httpx2 import Response
from joserfc import jwt
from joserfc.jwk import KeySet, KeySetSerialization
from sqlalchemy import func, select
from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from keyturn.domain.events import Event
from keyturn.domain.hooks import Hook
from keyturn.domain.identity import User
from keyturn.hooks.executor import DEFAULT_DENY_MESSAGE
from keyturn.hooks.signing import verify
from keyturn.ids import new_id
from keyturn.oidc.clients import NewClient
from keyturn.operations.audit import CLI
from keyturn.operations.hooks import NewHook, add_hook
from keyturn.runtime import Runtime
from keyturn.sealing import seal
from keyturn.store.protocols import WriteTx
from keyturn.store.sql.database import SqlDatabase
from keyturn.store.sql.tables import sessions
from tests.hooks.conftest import Answer, HookServer, Received
from tests.support import browser, oidc, store
from tests.support.oidc import REDIRECT_URI, Pkce
from tests.support.soft_authenticator import SoftAuthenticator

ISSUER = "http://localhost:8000"
EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
CONNECTION = "Username-Password-Authentication"
ROLE = "https://example.com/role"
API = "https://api.example/"
PASSKEY_REQUIRED = "This app needs a passkey: sign in with your passkey instead."


# --- helpers -----------------------------------------------------------------------------


def add(
    client: TestClient,
    clock: FrozenClock,
    url: str,
    *,
    timeout_seconds: float = 2.0,
    failure_policy: str = "deny",
) -> NewHook:
    """Register a hook as the CLI and the API do. The clock moves on a second afterwards, so
    hooks added one after the other run in that order (they run oldest first)."""
    new = store.in_context(
        client,
        lambda ctx: add_hook(
            ctx,
            actor=CLI,
            trigger="post-login",
            url=url,
            timeout_seconds=timeout_seconds,
            failure_policy=failure_policy,
        ),
    )
    clock.advance(seconds=1)
    return new


def passkey_user(client: TestClient, authenticator: SoftAuthenticator, email: str = EMAIL) -> User:
    """Signed up with a passkey, then signed out (sign-up runs the hooks too: add them after)."""
    response = browser.signup_with_passkey(client, authenticator, email)
    assert response.status_code == 200, response.text
    browser.sign_out(client)
    return store.user_of(client, email)


def password_user(client: TestClient, email: str = EMAIL) -> User:
    response = browser.signup_with_password(client, email, PASSWORD)
    assert response.status_code == 200, response.text
    browser.sign_out(client)
    return store.user_of(client, email)


def session_count(client: TestClient) -> int:
    async def count(rt: Runtime) -> int:
        assert isinstance(rt.db, SqlDatabase)
        async with rt.db.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(sessions)) or 0)

    return browser.call(client, count)


def events_of(client: TestClient, event_type: str) -> list[Event]:
    """Stored before the response that recorded them was sent: no waiting."""
    return store.events_of(client, event_type)


def hook_events(client: TestClient) -> list[Event]:
    return events_of(client, "hook_called")


def assert_signed_in(client: TestClient, response: Response) -> None:
    assert response.status_code == 200, response.text
    assert client.get("/account", follow_redirects=False).status_code == 200


def assert_denied(client: TestClient, response: Response, message: str) -> None:
    """403 access_denied with the hook's message; no session row, no cookie, /account refused."""
    assert response.status_code == 403, response.text
    assert response.json() == {"error": "access_denied", "error_description": message}
    assert "set-cookie" not in response.headers
    assert session_count(client) == 0
    account = client.get("/account", follow_redirects=False)
    assert account.status_code == 303
    assert account.headers["location"] == "/login?return_to=/account"


def location(response: Response) -> str:
    assert response.status_code in (302, 303), response.text
    url: str = response.headers["location"]
    return url


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def passkey_login_at(client: TestClient, authenticator: SoftAuthenticator, login_url: str) -> str:
    """Sign in with the passkey on the login page at `login_url`; where the page goes next."""
    flow = browser.open_page(client, login_url)
    options = client.post(f"/login/flows/{flow.flow_id}/passkey/options", headers=flow.headers)
    assert options.status_code == 200, options.text
    credential = authenticator.get(options.json(), origin=browser.ORIGIN)
    response = browser.submit_passkey_login(client, flow, credential)
    assert response.status_code == 200, response.text
    redirect_to: str = response.json()["redirect_to"]
    return redirect_to


def password_login_at(client: TestClient, login_url: str, email: str = EMAIL) -> str:
    flow = browser.open_page(client, login_url)
    response = client.post(
        f"/login/flows/{flow.flow_id}",
        json={"method": "password", "email": email, "password": PASSWORD},
        headers=flow.headers,
    )
    assert response.status_code == 200, response.text
    redirect_to: str = response.json()["redirect_to"]
    return redirect_to


def oidc_sign_in(
    client: TestClient,
    registered: NewClient,
    *,
    authenticator: SoftAuthenticator | None = None,
    email: str = EMAIL,
    pkce: Pkce | None = None,
    **params: str,
) -> dict[str, str]:
    """/authorize with nobody signed in, the hosted sign-in (passkey if an authenticator is
    given, else password), then the resume: the parameters of the redirect to the client.

    A hook that denies answers the sign-in itself with the client's access_denied URL (no
    session, no resume); otherwise the sign-in leads to the resume, which issues the code."""
    login_url = location(oidc.authorize(client, registered, pkce, **params))
    assert urlsplit(login_url).path == "/login", login_url
    if authenticator is not None:
        next_url = passkey_login_at(client, authenticator, login_url)
    else:
        next_url = password_login_at(client, login_url, email)
    if next_url.startswith(REDIRECT_URI + "?"):
        return query_of(next_url)
    assert next_url.startswith("/oauth2/authorize/resume/"), next_url
    url = location(client.get(next_url, follow_redirects=False))
    assert url.startswith(REDIRECT_URI + "?"), url
    return query_of(url)


def verified_claims(client: TestClient, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    key_set = KeySet.import_key_set(cast(KeySetSerialization, oidc.jwks(client)))
    decoded = jwt.decode(token, key_set, algorithms=["ES256", "RS256"])
    return dict(decoded.header), dict(decoded.claims)


def tokens_for(client: TestClient, registered: NewClient, code: str, pkce: Pkce) -> dict[str, Any]:
    response = oidc.exchange(client, registered, code, pkce)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def stamp(clock: FrozenClock) -> int:
    return int(clock.now().timestamp())


# --- what a hook receives --------------------------------------------------------------------


def test_a_passkey_sign_in_posts_one_signed_event_to_the_hook(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator, hook_server: HookServer
) -> None:
    user = passkey_user(client, authenticator)
    hook = add(client, clock, hook_server.answer("/hook", Answer.allow()))
    clock.advance(seconds=30)
    signed_in_at = clock.now()

    response = browser.login_with_passkey(client, authenticator)

    assert_signed_in(client, response)
    [call] = hook_server.requests_to()
    assert call.method == "POST"
    assert call.path == "/hook"
    assert call.headers["content-type"] == "application/json"
    event = call.event
    assert event["trigger"] == "post-login"
    assert event["user"]["user_id"] == user.id
    assert event["user"]["email"] == EMAIL
    assert event["client"] is None
    assert event["request"]["ip"] == "testclient"
    assert event["authentication"]["methods"] == [{"name": "passkey", "timestamp": signed_in_at.isoformat()}]
    assert event["connection"]["name"] == CONNECTION
    assert verify(hook.secret.encode(), call.body, call.signature, now=stamp(clock))
    assert call.signature.startswith(f"t={stamp(clock)},v1=")


def test_a_password_sign_in_is_reported_as_pwd(
    client: TestClient, clock: FrozenClock, hook_server: HookServer
) -> None:
    user = password_user(client)
    add(client, clock, hook_server.answer("/hook", Answer.allow()))

    response = browser.login_with_password(client, EMAIL, PASSWORD)

    assert_signed_in(client, response)
    [call] = hook_server.requests_to()
    assert call.event["user"]["user_id"] == user.id
    assert call.event["user"]["email"] == EMAIL
    assert call.event["authentication"]["methods"] == [{"name": "pwd", "timestamp": clock.now().isoformat()}]
    assert call.event["client"] is None
    assert call.event["connection"]["name"] == CONNECTION


def test_the_signature_verifies_only_with_the_hooks_secret_the_exact_body_and_a_fresh_time(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator, hook_server: HookServer
) -> None:
    passkey_user(client, authenticator)
    hook = add(client, clock, hook_server.url())
    other = add(client, clock, hook_server.answer("/other", Answer.allow()))

    assert_signed_in(client, browser.login_with_passkey(client, authenticator))

    [call] = hook_server.requests_to("/hook")
    [other_call] = hook_server.requests_to("/other")
    secret, now = hook.secret.encode(), stamp(clock)
    assert verify(secret, call.body, call.signature, now=now)
    assert verify(other.secret.encode(), other_call.body, other_call.signature, now=now)
    assert hook.secret != other.secret
    assert not verify(other.secret.encode(), call.body, call.signature, now=now)  # another hook's secret
    assert not verify(b"guessed", call.body, call.signature, now=now)
    tampered = call.body.replace(EMAIL.encode(), b"eve@example.com")
    assert tampered != call.body
    assert not verify(secret, tampered, call.signature, now=now)
    assert not verify(secret, call.body + b" ", call.signature, now=now)
    assert verify(secret, call.body, call.signature, now=now + 300)  # within five minutes
    assert not verify(secret, call.body, call.signature, now=now + 301)  # a replay, later on


# --- deny, on the hosted pages ---------------------------------------------------------------


def test_a_denying_hook_refuses_a_passkey_sign_in_with_its_message_and_no_session(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator, hook_server: HookServer
) -> None:
    user = passkey_user(client, authenticator)
    message = "Your account is suspended. Contact support@example.com."
    add(client, clock, hook_server.answer("/hook", Answer.deny(message)))

    response = browser.login_with_passkey(client, authenticator)

    assert_denied(client, response, message)
    assert len(hook_server.requests_to()) == 1
    [failed] = events_of(client, "f")
    assert failed.user_id == user.id
    assert failed.details == {"error": "access_denied", "reason": "post-login hook"}


def test_a_sign_in_a_hook_denies_is_not_logged_as_a_successful_login(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator, hook_server: HookServer
) -> None:
    """Regression (fixed earlier): a refused sign-in is logged as a failure only, never as a
    success first (`s` is recorded in the transaction that stores the session)."""
    passkey_user(client, authenticator)
    add(client, clock, hook_server.answer("/hook", Answer.deny("Suspended.")))
    clock.advance(seconds=5)
    denied_at = clock.now()

    assert_denied(client, browser.login_with_passkey(client, authenticator), "Suspended.")

    assert len(events_of(client, "f")) == 1
    assert [e for e in events_of(client, "s") if e.date >= denied_at] == []


def test_a_denying_hook_refuses_a_password_sign_in(
    client: TestClient, clock: FrozenClock, hook_server: HookServer
) -> None:
    password_user(client)
    add(client, clock, hook_server.answer("/hook", Answer.deny("No passwords here.")))

    assert_denied(client, browser.login_with_password(client, EMAIL, PASSWORD), "No passwords here.")


def test_a_denial_without_a_message_gets_the_default_one_and_a_long_one_is_cut(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator, hook_server: HookServer
) -> None:
    passkey_user(client, authenticator)
    url = hook_server.answer("/hook", Answer.json({"action": "deny"}))
    hook = add(client, clock, url)

    assert_denied(client, browser.login_with_passkey(client, authenticator), DEFAULT_DENY_MESSAGE)

    store.write(client, lambda tx: tx.delete_hook(hook.hook.id))
    add(client, clock, hook_server.answer("/long", Answer.deny("x" * 2000)))
    assert_denied(client, browser.login_with_passkey(client, authenticator), "x" * 500)


def test_a_denying_hook_stops_a_hosted_sign_in_even_if_return_to_looks_like_an_oidc_resume(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator, hook_server: HookServer
) -> None:
    """Regression (fixed earlier, and since the typed continuation impossible by design): a
    return_to that looks like an OIDC resume is only a path; the flow continues an
    authorization only by its typed `authorization_request_id`, so the hooks run and deny."""
    passkey_user(client, authenticator)
    add(client, clock, hook_server.answer("/hook", Answer.deny("Suspended.")))

    flow = browser.open_page(client, "/login?return_to=/oauth2/authorize/resume/no-such-request")
    options = client.post(f"/login/flows/{flow.flow_id}/passkey/options", headers=flow.headers).json()
    credential = authenticator.get(options, origin=browser.ORIGIN)
    response = browser.submit_passkey_login(client, flow, credential)

    assert_denied(client, response, "Suspended.")


# --- claims and deny in an OIDC authorization ----------------------------------------------------


def test_claims_from_a_hook_reach_the_id_token_and_the_jwt_access_token_namespaced_only(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator, hook_server: HookServer
) -> None:
    user = passkey_user(client, authenticator)
    registered = oidc.register(client, audiences=[API])
    claims = {
        ROLE: "admin",
        "https://example.com/teams": ["billing", "ops"],
        "role": "admin",  # not namespaced
        "sub": "someone-else",  # reserved
        "email": "eve@example.com",  # reserved
        "urn:example:level": 3,  # not a URL namespace
    }
    add(client, clock, hook_server.answer("/hook", Answer.claims(claims)))
    pkce = Pkce.new()

    params = oidc_sign_in(client, registered, authenticator=authenticator, pkce=pkce, audience=API)

    body = tokens_for(client, registered, params["code"], pkce)
    _, id_claims = verified_claims(client, body["id_token"])
    assert id_claims[ROLE] == "admin"
    assert id_claims["https://example.com/teams"] == ["billing", "ops"]
    assert id_claims["sub"] == user.id
    assert id_claims["email"] == EMAIL
    assert "role" not in id_claims
    assert "urn:example:level" not in id_claims
    assert id_claims["aud"] == registered.client.client_id

    header, access_claims = verified_claims(client, body["access_token"])
    assert header["typ"] == "at+jwt"
    assert access_claims["aud"] == API
    assert access_claims[ROLE] == "admin"
    assert access_claims["https://example.com/teams"] == ["billing", "ops"]
    assert access_claims["sub"] == user.id
    assert "role" not in access_claims
    assert "email" not in access_claims


def test_an_oidc_sign_in_calls_the_hook_once_with_the_client(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator, hook_server: HookServer
) -> None:
    user = passkey_user(client, authenticator)
    registered = oidc.register(client, name="Billing")
    hook = add(client, clock, hook_server.answer("/hook", Answer.allow()))
    pkce = Pkce.new()
    signed_in_at = clock.now()

    params = oidc_sign_in(client, registered, authenticator=authenticator, pkce=pkce)
    tokens_for(client, registered, params["code"], pkce)

    [call] = hook_server.requests_to()  # not once for the login and again for the code
    assert call.event["client"] == {"client_id": registered.client.client_id, "name": "Billing"}
    assert call.event["user"]["user_id"] == user.id
    assert call.event["authentication"]["methods"] == [
        {"name": "passkey", "timestamp": signed_in_at.isoformat()}
    ]
    assert verify(hook.secret.encode(), call.body, call.signature, now=stamp(clock))
    [event] = hook_events(client)
    assert event.client_id == registered.client.client_id
    assert event.details["hook_id"] == hook.hook.id
    assert event.details["outcome"] == "allow"


def test_a_denying_hook_sends_access_denied_with_its_message_back_to_the_client(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator, hook_server: HookServer
) -> None:
    passkey_user(client, authenticator)
    registered = oidc.register(client)
    message = "Billing is for staff only."
    add(client, clock, hook_server.answer("/hook", Answer.deny(message)))

    params = oidc_sign_in(client, registered, authenticator=authenticator)

    assert params["error"] == "access_denied"
    assert params["error_description"] == message
    assert params["state"] == "state-123"
    assert params["iss"] == ISSUER
    assert "code" not in params
    assert len(hook_server.requests_to()) == 1


def test_a_denying_hook_refuses_an_authorization_that_reuses_a_session(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator, hook_server: HookServer
) -> None:
    response = browser.signup_with_passkey(client, authenticator, EMAIL)  # signed in, no hook yet
    assert response.status_code == 200, response.text
    registered = oidc.register(client)
    add(client, clock, hook_server.answer("/hook", Answer.deny("Not this app.")))

    params = oidc.redirect_params(oidc.authorize(client, registered, Pkce.new()))

    assert params["error"] == "access_denied"
    assert params["error_description"] == "Not this app."
    assert "code" not in params
    [call] = hook_server.requests_to()
    assert call.event["client"]["client_id"] == registered.client.client_id


def test_an_oidc_sign_in_a_hook_denies_leaves_the_browser_signed_out(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator, hook_server: HookServer
) -> None:
    """Regression (fixed earlier): a sign-in for an authorization runs the hooks (with the
    client) before any session exists; when they deny, the client gets access_denied and the
    browser stays signed out."""
    passkey_user(client, authenticator)
    registered = oidc.register(client)
    add(client, clock, hook_server.answer("/hook", Answer.deny("Suspended.")))

    params = oidc_sign_in(client, registered, authenticator=authenticator)

    assert params["error"] == "access_denied"
    assert client.get("/account", follow_redirects=False).status_code == 303
    assert session_count(client) == 0


# --- failures: timeout, errors, malformed answers ---------------------------------------------


@pytest.mark.parametrize("policy", ["deny", "allow"])
def test_a_hook_that_answers_too_late_counts_as_its_failure_policy(
    client: TestClient,
    clock: FrozenClock,
    authenticator: SoftAuthenticator,
    hook_server: HookServer,
    policy: str,
) -> None:
    passkey_user(client, authenticator)
    hook = add(
        client,
        clock,
        hook_server.answer("/slow", Answer.slow(3)),
        timeout_seconds=0.3,
        failure_policy=policy,
    )

    started = time.monotonic()
    response = browser.login_with_passkey(client, authenticator)
    waited = time.monotonic() - started

    if policy == "deny":
        assert_denied(client, response, DEFAULT_DENY_MESSAGE)
    else:
        assert_signed_in(client, response)
    assert waited < 2.5, f"the sign-in waited {waited:.1f}s for a hook with a 0.3s timeout"
    assert len(hook_server.requests_to()) == 1
    [event] = hook_events(client)
    assert event.details["hook_id"] == hook.hook.id
    assert event.details["status"] is None
    assert event.details["result"] == "failed"
    assert event.details["outcome"] == policy


FAILURES = {
    "http 500": Answer.server_error(),
    "not json": Answer.not_json(),
    "json but not an object": Answer.json(["allow"]),
    "http 302": Answer(status=302, body=b""),
}


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("policy", ["deny", "allow"])
def test_an_error_or_a_malformed_answer_counts_as_the_failure_policy(
    client: TestClient,
    clock: FrozenClock,
    authenticator: SoftAuthenticator,
    hook_server: HookServer,
    failure: str,
    policy: str,
) -> None:
    passkey_user(client, authenticator)
    answer = FAILURES[failure]
    add(client, clock, hook_server.answer("/hook", answer), failure_policy=policy)

    response = browser.login_with_passkey(client, authenticator)

    if policy == "deny":
        assert_denied(client, response, DEFAULT_DENY_MESSAGE)
    else:
        assert_signed_in(client, response)
    [event] = hook_events(client)
    assert event.details["status"] == answer.status
    assert event.details["result"] == "failed"
    assert event.details["outcome"] == policy


@pytest.mark.parametrize("policy", ["deny", "allow"])
def test_an_unreachable_hook_counts_as_the_failure_policy(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator, policy: str
) -> None:
    passkey_user(client, authenticator)
    add(client, clock, "http://127.0.0.1:9/closed", failure_policy=policy)

    response = browser.login_with_passkey(client, authenticator)

    if policy == "deny":
        assert_denied(client, response, DEFAULT_DENY_MESSAGE)
    else:
        assert_signed_in(client, response)
    [event] = hook_events(client)
    assert event.details["status"] is None
    assert event.details["outcome"] == policy


def test_a_timeout_in_an_oidc_authorization_with_policy_deny_is_access_denied(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator, hook_server: HookServer
) -> None:
    passkey_user(client, authenticator)
    registered = oidc.register(client)
    add(client, clock, hook_server.answer("/slow", Answer.slow(3)), timeout_seconds=0.3)

    params = oidc_sign_in(client, registered, authenticator=authenticator)

    assert params["error"] == "access_denied"
    assert params["error_description"] == DEFAULT_DENY_MESSAGE
    assert "code" not in params


# --- several hooks, the log, disabled and removed hooks ----------------------------------------


def test_hooks_run_in_order_and_the_first_denial_stops_the_chain(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator, hook_server: HookServer
) -> None:
    user = passkey_user(client, authenticator)
    first = add(client, clock, hook_server.answer("/first", Answer.claims({ROLE: "admin"})))
    second = add(client, clock, hook_server.answer("/second", Answer.deny("The second hook says no.")))
    third = add(client, clock, hook_server.answer("/third", Answer.allow()))

    response = browser.login_with_passkey(client, authenticator)

    assert_denied(client, response, "The second hook says no.")
    assert hook_server.paths() == ["/first", "/second"]
    events = {event.details["hook_id"]: event for event in hook_events(client)}
    assert set(events) == {first.hook.id, second.hook.id}
    assert third.hook.id not in events
    assert events[first.hook.id].details["outcome"] == "allow"
    assert events[second.hook.id].details["outcome"] == "deny"
    assert all(event.user_id == user.id for event in events.values())


def test_all_hooks_run_in_order_when_they_allow_and_their_claims_add_up(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator, hook_server: HookServer
) -> None:
    passkey_user(client, authenticator)
    registered = oidc.register(client)
    add(
        client,
        clock,
        hook_server.answer("/first", Answer.claims({ROLE: "reader", "https://example.com/a": 1})),
    )
    add(client, clock, hook_server.answer("/second", Answer.claims({ROLE: "admin"})))
    add(client, clock, hook_server.answer("/third", Answer.allow()))
    pkce = Pkce.new()

    params = oidc_sign_in(client, registered, authenticator=authenticator, pkce=pkce)

    assert hook_server.paths() == ["/first", "/second", "/third"]
    _, claims = verified_claims(client, tokens_for(client, registered, params["code"], pkce)["id_token"])
    assert claims[ROLE] == "admin"  # the later hook wins
    assert claims["https://example.com/a"] == 1


def test_every_call_writes_a_hook_called_event(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator, hook_server: HookServer
) -> None:
    user = passkey_user(client, authenticator)
    hook = add(client, clock, hook_server.answer("/hook", Answer.allow()))

    assert_signed_in(client, browser.login_with_passkey(client, authenticator))
    browser.sign_out(client)
    assert_signed_in(client, browser.login_with_passkey(client, authenticator))

    events = hook_events(client)
    assert len(events) == 2 == len(hook_server.requests_to())
    for event in events:
        assert event.type == "hook_called"
        assert event.user_id == user.id
        assert event.user_name == EMAIL
        assert event.client_id is None
        assert event.details["hook_id"] == hook.hook.id
        assert event.details["status"] == 200
        assert event.details["result"] == "ok"
        assert event.details["outcome"] == "allow"
        assert event.details["url"] == hook.hook.url
        assert "secret" not in str(event.details).lower()
        assert hook.secret not in str(event.details)


def test_a_disabled_or_removed_hook_is_not_called(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator, hook_server: HookServer
) -> None:
    passkey_user(client, authenticator)
    removed = add(client, clock, hook_server.answer("/removed", Answer.deny("Removed.")))
    assert store.write(client, lambda tx: tx.delete_hook(removed.hook.id))

    hook_id = new_id()
    disabled = Hook(
        id=hook_id,
        trigger="post-login",
        url=hook_server.answer("/disabled", Answer.deny("Disabled.")),
        secret_sealed=seal(browser.runtime(client).kek, b"secret", bound_to=hook_id),
        timeout_ms=1000,
        failure_policy="deny",
        enabled=False,
        created_at=clock.now(),
    )

    async def add_disabled(tx: WriteTx) -> None:
        await tx.add_hook(disabled)

    store.write(client, add_disabled)
    add(client, clock, hook_server.answer("/live", Answer.allow()))

    assert_signed_in(client, browser.login_with_passkey(client, authenticator))
    assert hook_server.paths() == ["/live"]
    assert len(hook_events(client)) == 1


def test_without_hooks_nothing_is_called_and_nothing_logged(
    client: TestClient, authenticator: SoftAuthenticator, hook_server: HookServer
) -> None:
    passkey_user(client, authenticator)
    assert_signed_in(client, browser.login_with_passkey(client, authenticator))
    assert hook_server.requests_to() == []
    assert hook_events(client) == []


# --- the documented example: a passkey required for one app --------------------------------------


def require_passkey_for(client_id: str, secret: list[str], clock: FrozenClock) -> Any:
    """The example hook (README, "Post-login hooks"): deny sign-ins to one app that did not
    use a passkey; every other sign-in is allowed. It checks Keyturn's signature first."""

    def answer(request: Received) -> Answer:
        if not verify(secret[0].encode(), request.body, request.signature, now=int(clock.now().timestamp())):
            return Answer(status=401, body=b"bad signature")
        event = request.event
        methods = {method["name"] for method in event["authentication"]["methods"]}
        if event["client"] and event["client"]["client_id"] == client_id and "passkey" not in methods:
            return Answer.deny(PASSKEY_REQUIRED)
        return Answer.allow()

    return answer


def test_the_example_hook_requires_a_passkey_for_one_client(
    client: TestClient, clock: FrozenClock, authenticator: SoftAuthenticator, hook_server: HookServer
) -> None:
    passkey_user(client, authenticator, "passkey@example.com")
    password_user(client, "password@example.com")
    strict = oidc.register(client, name="Payroll")
    relaxed = oidc.register(client, name="Wiki")
    secret: list[str] = []
    url = hook_server.answer("/require-passkey", require_passkey_for(strict.client.client_id, secret, clock))
    secret.append(add(client, clock, url).secret)

    denied = oidc_sign_in(client, strict, email="password@example.com")
    assert denied["error"] == "access_denied"
    assert denied["error_description"] == PASSKEY_REQUIRED
    assert "code" not in denied
    client.cookies.clear()

    allowed = oidc_sign_in(client, strict, authenticator=authenticator)
    assert "error" not in allowed
    assert allowed["code"]
    client.cookies.clear()

    elsewhere = oidc_sign_in(client, relaxed, email="password@example.com")
    assert "error" not in elsewhere
    assert elsewhere["code"]

    assert [e.details["outcome"] for e in hook_events(client)].count("deny") == 1
    assert len(hook_server.requests_to()) == 3
