"""Pre-user-registration hooks (Auth0's trigger of that name): they can refuse a sign-up
before anything is stored.

Regression (issue 9): a post-login hook that denied a sign-up left the account created, and
there was no way to refuse one. A pre-user-registration hook runs after the new passkey or
password verified and before the account is written; its denial leaves no account (the
challenge stays spent). Post-login hooks still run after the account exists, as in Auth0.
"""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from keyturn.domain.events import EventType
from keyturn.hooks.signing import verify
from keyturn.operations.audit import CLI
from keyturn.operations.hooks import NewHook, add_hook
from tests.hooks.conftest import Answer, HookServer
from tests.support import browser, store
from tests.support.browser import storage
from tests.support.soft_authenticator import SoftAuthenticator

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"


def add(
    client: TestClient, url: str, *, trigger: str = "pre-user-registration", **options: object
) -> NewHook:
    return store.in_context(client, lambda ctx: add_hook(ctx, actor=CLI, trigger=trigger, url=url, **options))  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["passkey", "password"])
def test_a_denying_hook_refuses_the_sign_up_and_nothing_is_stored(
    client: TestClient, hook_server: HookServer, authenticator: SoftAuthenticator, method: str
) -> None:
    add(client, hook_server.answer("/pre", Answer.deny("Sign-ups are closed this week.")))
    before = storage(client)

    if method == "passkey":
        response = browser.signup_with_passkey(client, authenticator, EMAIL)
    else:
        response = browser.signup_with_password(client, EMAIL, PASSWORD)

    assert response.status_code == 403, response.text
    assert response.json() == {
        "error": "access_denied",
        "error_description": "Sign-ups are closed this week.",
    }
    assert "keyturn_session" not in response.cookies
    assert storage(client) == before
    assert store.find_user(client, EMAIL) is None
    [failed] = store.events_of(client, EventType.FAILED_SIGNUP)
    assert failed.details == {"error": "access_denied", "authentication_method": method}
    [called] = store.events_of(client, EventType.HOOK_CALLED)
    assert called.details["trigger"] == "pre-user-registration" and called.details["outcome"] == "deny"
    assert called.user_id is None and called.user_name == EMAIL


def test_an_allowing_hook_sees_the_new_account_before_it_exists(
    client: TestClient, hook_server: HookServer, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    hook = add(client, hook_server.answer("/pre", Answer.allow()))

    response = browser.signup_with_passkey(client, authenticator, EMAIL)

    assert response.status_code == 200, response.text
    assert store.find_user(client, EMAIL) is not None
    [call] = hook_server.requests_to("/pre")
    assert verify(hook.secret.encode(), call.body, call.signature, now=int(clock.now().timestamp()))
    assert call.event["trigger"] == "pre-user-registration"
    assert call.event["user"] == {"email": EMAIL, "email_verified": False, "name": None}  # no id yet
    assert call.event["authentication"]["methods"][0]["name"] == "passkey"
    assert call.event["client"] is None


def test_a_failing_hook_counts_as_its_failure_policy(client: TestClient, hook_server: HookServer) -> None:
    add(client, hook_server.answer("/down", Answer.server_error()), failure_policy="allow")
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    browser.sign_out(client)

    add(client, hook_server.answer("/down-too", Answer.server_error()))  # deny by default
    refused = browser.signup_with_password(client, "bo@example.com", PASSWORD)
    assert refused.status_code == 403
    assert store.find_user(client, "bo@example.com") is None


def test_pre_registration_hooks_do_not_run_at_sign_in(
    client: TestClient, hook_server: HookServer, authenticator: SoftAuthenticator
) -> None:
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    browser.sign_out(client)
    add(client, hook_server.answer("/pre", Answer.deny("No.")))

    assert browser.login_with_passkey(client, authenticator).status_code == 200
    assert hook_server.requests_to("/pre") == []


def test_a_post_login_denial_of_a_sign_up_refuses_the_session_not_the_account(
    client: TestClient, hook_server: HookServer
) -> None:
    """Documented behaviour (as in Auth0): post-login runs after the account exists."""
    add(client, hook_server.answer("/post", Answer.deny("Not now.")), trigger="post-login")

    response = browser.signup_with_password(client, EMAIL, PASSWORD)

    assert response.status_code == 403
    assert store.find_user(client, EMAIL) is not None
    assert "keyturn_session" not in response.cookies
