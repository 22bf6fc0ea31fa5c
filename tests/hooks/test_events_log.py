"""Events are stored in the transaction of what they record, before the response is sent.

So an event is in the database the moment its response arrives (read here by a NEW app on
the same database, as the next process would), a refusal's failure event is stored though
the refused work is not, and a change whose transaction fails leaves neither the change
nor its event. Nothing waits in memory, so nothing can be lost by a shutdown or a crash.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy.exc import OperationalError
from starlette.testclient import TestClient

from keyturn.app import create_app
from keyturn.clock import FrozenClock
from keyturn.context import Context
from keyturn.domain.events import Event, EventType
from keyturn.settings import Settings
from keyturn.store.sql.base import translate
from keyturn.store.sql.sessions import SqlSessions
from tests.conftest import BASE_URL
from tests.support import browser, store
from tests.support.soft_authenticator import SoftAuthenticator

EMAIL = "ada@example.com"


@contextmanager
def app_client(settings: Settings, clock: FrozenClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=clock), base_url=BASE_URL, headers={"origin": BASE_URL}) as c:
        yield c


def stored_by_another_process(settings: Settings, clock: FrozenClock) -> list[Event]:
    with app_client(settings, clock) as fresh:
        return store.events_of(fresh, limit=1000)


def test_a_sign_ups_events_are_stored_when_its_answer_arrives(
    settings: Settings, clock: FrozenClock, authenticator: SoftAuthenticator
) -> None:
    with app_client(settings, clock) as client:
        response = browser.signup_with_passkey(client, authenticator, EMAIL)
        assert response.status_code == 200, response.text
        # Still running, nothing flushed or shut down: another process already sees them.
        background = {EventType.EMAIL_SENT, EventType.EMAIL_FAILED}  # the outbox sender's, not the request's
        types = [e.type for e in stored_by_another_process(settings, clock) if e.type not in background]

    assert sorted(types) == sorted(
        [
            EventType.PASSKEY_CHALLENGE_STARTED,
            EventType.SUCCESS_SIGNUP,
            EventType.SUCCESS_VERIFICATION_EMAIL_REQUEST,  # verification.mode after_signup
            EventType.SUCCESS_LOGIN,
        ]
    )


def test_the_sign_in_event_commits_with_its_session(
    client: TestClient, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    browser.signup_with_passkey(client, authenticator, EMAIL)
    browser.sign_out(client)

    response = browser.login_with_passkey(client, authenticator)

    token = response.cookies.get("keyturn_session")
    assert token and store.find_session(client, token, now=clock.now()) is not None
    signed_in = store.events_of(client, EventType.SUCCESS_LOGIN)
    assert len(signed_in) == 2  # the sign-up's and this one
    assert signed_in[-1].details["authentication_method"] == "passkey"
    assert signed_in[-1].details["prompts"] == [{"name": "login", "performed_amr": ["phr"]}]


def test_a_refusals_failure_event_is_stored_and_nothing_else(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    browser.signup_with_passkey(client, authenticator, EMAIL)
    browser.sign_out(client)
    flow, options = browser.login_options(client)
    credential = authenticator.get(options, origin=browser.ORIGIN)
    credential["response"]["signature"] = credential["response"]["signature"][:-4] + "AAAA"
    before = browser.storage(client)

    response = browser.submit_passkey_login(client, flow, credential)

    assert response.status_code == 400, response.text
    assert browser.storage(client) == before
    failed = store.events_of(client, EventType.PASSKEY_CHALLENGE_FAILED)
    assert [e.details["error"] for e in failed] == ["passkey_verification_failed"]


def test_a_sign_in_whose_transaction_fails_stores_neither_its_session_nor_its_event(
    client: TestClient, authenticator: SoftAuthenticator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (issue 8): during a database fault an `s` event was stored for a sign-in that
    answered 500 and had no session. Now the session and the event are one transaction."""
    browser.signup_with_passkey(client, authenticator, EMAIL)
    browser.sign_out(client)
    sessions_before = len(store.events_of(client, EventType.SUCCESS_LOGIN))

    async def disk_full(self: SqlSessions, *args: object, **kwargs: object) -> None:
        fault = OperationalError("INSERT INTO sessions", {}, Exception("database or disk is full"))
        raise translate(fault) from fault  # what the statement runner makes of it

    monkeypatch.setattr(SqlSessions, "create_session", disk_full)
    response = browser.login_with_passkey(client, authenticator)
    monkeypatch.undo()

    assert response.status_code == 503, response.text
    assert response.json()["error"] == "temporarily_unavailable"
    assert response.headers["retry-after"]
    assert "keyturn_session" not in response.cookies
    assert len(store.events_of(client, EventType.SUCCESS_LOGIN)) == sessions_before
    # The passkey's sign count did not move either: the ceremony can be repeated.
    assert browser.login_with_passkey(client, authenticator).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b'{"method": "passkey", "credential": {"id": "\\ud800"}}',
        b'{"method": "password", "email": "ada@example.com", "password": "\\u0000\\u0000\\u0000\\u0000x"}',
        b'{"method": "password", "email": "\\udfff@example.com", "password": "whatever1"}',
    ],
    ids=["lone high surrogate", "NUL", "lone low surrogate"],
)
def test_text_that_cannot_be_stored_is_refused_and_the_log_goes_on(
    client: TestClient, authenticator: SoftAuthenticator, body: bytes
) -> None:
    """Regression (issue 8): one request holding "\\ud800" made an event that could not be
    encoded, and from then on no event at all was stored. Now such text is refused at the
    edge (400 invalid_characters, both databases), and later sign-ins are logged as ever."""
    browser.signup_with_passkey(client, authenticator, EMAIL)
    browser.sign_out(client)
    flow = browser.open_page(client, "/login")
    before = browser.storage(client)

    refused = client.post(
        f"/login/flows/{flow.flow_id}",
        content=body,
        headers={**flow.headers, "content-type": "application/json"},
    )

    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_characters"
    assert browser.storage(client) == before
    for _ in range(3):
        assert browser.login_with_passkey(client, authenticator).status_code == 200
        browser.sign_out(client)
    assert len(store.events_of(client, EventType.SUCCESS_LOGIN)) == 4


def test_event_text_is_stored_without_nul_characters(client: TestClient) -> None:
    """A value that reaches an event without passing the edge (a header, a hook's answer) is
    cleaned: PostgreSQL text cannot hold NUL, and one such event must not fail its transaction."""

    async def work(ctx: Context) -> None:
        ctx.record(
            EventType.HOOK_CALLED,
            user_name="ada\x00@example.com",
            details={"url": "https://hooks.example/\x00", "nested": [{"k\x00": "v\x00"}]},
        )

    store.in_context(client, work)

    (event,) = store.events_of(client, EventType.HOOK_CALLED)
    assert event.user_name == "ada@example.com"
    assert event.details == {"url": "https://hooks.example/", "nested": [{"k": "v"}]}


def test_many_events_of_one_request_are_stored_together(client: TestClient) -> None:
    async def work(ctx: Context) -> None:
        for i in range(450):
            ctx.record(EventType.SUCCESS_API_OPERATION, details={"n": i})

    store.in_context(client, work)

    found = store.events_of(client, EventType.SUCCESS_API_OPERATION, limit=1000)
    assert sorted(e.details["n"] for e in found) == list(range(450))
