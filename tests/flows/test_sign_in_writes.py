"""What a passkey sign-in writes, and what it must never allow twice.

Issue 8's targets, asserted by kind of transaction (not by statement totals, which move as
the store gets leaner): the sign-in page, the discoverable options call and the account
page open no write transaction; the assertion opens exactly one (the session, its event
and the spent challenge commit together). A synced passkey's counter stays 0, so only
the server's single use of the challenge stops a replayed assertion.
"""

from __future__ import annotations

from sqlalchemy import func, select
from starlette.testclient import TestClient

from keyturn.runtime import Runtime
from keyturn.store.sql.database import SqlDatabase
from keyturn.store.sql.tables import sessions
from tests.support import browser
from tests.support.browser import ORIGIN
from tests.support.soft_authenticator import SoftAuthenticator

ADA = "ada@example.com"


def _session_count(client: TestClient) -> int:
    async def count(rt: Runtime) -> int:
        assert isinstance(rt.db, SqlDatabase)
        async with rt.db.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(sessions)) or 0)

    return browser.call(client, count)


def _passkey_user(client: TestClient, authenticator: SoftAuthenticator) -> None:
    assert browser.signup_with_passkey(client, authenticator, ADA).status_code == 200
    browser.sign_out(client)


def test_a_passkey_sign_in_writes_once_and_its_pages_never(
    client: TestClient, authenticator: SoftAuthenticator
) -> None:
    _passkey_user(client, authenticator)
    client.get("/login")  # settings and keys are read once per process, then cached

    counter = browser.transaction_counter(client)
    flow = browser.open_page(client, "/login")
    page = counter()
    counter = browser.transaction_counter(client)
    response = client.post(f"/login/flows/{flow.flow_id}/passkey/options", headers=flow.headers)
    options = counter()
    assert response.status_code == 200, response.text
    credential = authenticator.get(response.json(), origin=ORIGIN)
    counter = browser.transaction_counter(client)
    signed_in = browser.submit_passkey_login(client, flow, credential)
    assertion = counter()
    assert signed_in.status_code == 200, signed_in.text
    counter = browser.transaction_counter(client)
    account = client.get("/account", follow_redirects=False)
    account_page = counter()
    assert account.status_code == 200, account.text

    writes = {
        "GET /login": page["write"],
        "passkey options": options["write"],
        "assertion": assertion["write"],
        "GET /account": account_page["write"],
    }
    assert writes == {"GET /login": 0, "passkey options": 0, "assertion": 1, "GET /account": 0}


def test_a_replayed_assertion_is_refused_even_when_the_counter_stays_zero(client: TestClient) -> None:
    synced = SoftAuthenticator(counter_step=0)
    _passkey_user(client, synced)
    flow, options = browser.login_options(client)
    credential = synced.get(options, origin=ORIGIN)

    first = browser.submit_passkey_login(client, flow, credential)
    assert first.status_code == 200, first.text
    assert _session_count(client) == 1
    replay = browser.submit_passkey_login(client, flow, credential)

    assert replay.status_code == 400, replay.text
    assert replay.json()["error"] == "challenge_invalid"
    assert _session_count(client) == 1, "the replay made no second session"
