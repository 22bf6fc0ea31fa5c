"""Account recovery ("Can't sign in?") over HTTP, with mail through a real SMTP server on loopback.

The tests read the code and the link from the message the server received, as a person
would. Each refusal asserts its answer and that it changed nothing but what it must (a
wrong code is counted).
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from httpx2 import Response
from sqlalchemy import select
from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from keyturn.domain.email_code import EmailCode
from keyturn.http.security import SESSION_COOKIE
from keyturn.ids import hash_token
from keyturn.settings import Settings
from keyturn.store.sql.database import SqlDatabase
from keyturn.store.sql.tables import email_codes
from tests.conftest import BASE_URL
from tests.flows import test_second_factors as second_factors
from tests.support import browser, store
from tests.support.smtp import Received, SmtpServer
from tests.support.soft_authenticator import SoftAuthenticator

EMAIL = "ada@example.com"
UNKNOWN = "nobody@example.com"
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase"
_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')
_CODE = re.compile(r"Your code is: (\d{6})")
_LINK = re.compile(re.escape(BASE_URL) + r"/recovery/link\?token=([A-Za-z0-9_-]+)")


@pytest.fixture
def settings(clean_database: str, tmp_path: Path, smtp: SmtpServer) -> Settings:
    return Settings(
        database_url=clean_database, data_dir=tmp_path, public_url=BASE_URL, email=smtp.email_settings()
    )


# --- helpers -------------------------------------------------------------------------------


def hidden(response: Response) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in _HIDDEN.findall(response.text)}


def shown_error(response: Response) -> str:
    match = re.search(r'<div id="kt-error"[^>]*>(.*?)</div>', response.text, re.S)
    assert match, "no error box"
    return html.unescape(match.group(1)).strip()


def ask(client: TestClient, email: str) -> Response:
    page = client.get("/recovery")
    assert page.status_code == 200
    return client.post("/recovery", data={**hidden(page), "email": email})


def type_code(client: TestClient, waiting: Response, code: str) -> Response:
    return client.post("/recovery/code", data={**hidden(waiting), "code": code}, follow_redirects=False)


def post_link(client: TestClient, token: str) -> Response:
    return client.post("/recovery/link", data={"token": token}, follow_redirects=False)


def mail_to(smtp: SmtpServer, address: str, subject: str) -> Received:
    """The first message to `address` whose subject starts so (waiting for it to arrive)."""
    return smtp.inbox.wait_for_matching(subject, to=address)[0]


RECOVERY = "Your Keyturn recovery code: "
RECOVERED = "Your Keyturn account was recovered"


def code_and_link(message: Received) -> tuple[str, str]:
    code, link = _CODE.search(message.text), _LINK.search(message.text)
    assert code and link, message.text
    assert message.html is not None and html.escape(link.group(0)) in message.html
    return code.group(1), link.group(1)


def codes(client: TestClient, purpose: str = "recovery") -> list[EmailCode]:
    async def work(rt: Any) -> list[EmailCode]:
        async with rt.db.read() as tx:
            query = select(email_codes.c.id).where(email_codes.c.purpose == purpose)
            rows = await tx._run(query.order_by(email_codes.c.created_at))
            return [await tx.get_email_code(row.id) for row in rows]

    return browser.call(client, work)


def request_statements(client: TestClient) -> Callable[[], int]:
    """Count the SQL statements requests run from now on (not the background mail sender's)."""
    db = browser.runtime(client).db
    assert isinstance(db, SqlDatabase)
    previous = db.observer
    counted = [0]

    def observe(kind: str, statements: int, seconds: float, committed: bool) -> None:
        task = asyncio.current_task()
        if task is None or "OutboxSender" not in task.get_coro().__qualname__:  # type: ignore[union-attr]
            counted[0] += statements
        if previous is not None:
            previous(kind, statements, seconds, committed)

    db.observer = observe

    def stop() -> int:
        db.observer = previous
        return counted[0]

    return stop


def finish(client: TestClient, body: dict[str, Any]) -> Response:
    page = client.get("/recovery/new")
    assert page.status_code == 200, page.text
    csrf = browser.page_data(page)["csrf"]
    return client.post("/recovery/new", json=body, headers={"x-csrf-token": csrf})


def new_passkey_credential(client: TestClient, authenticator: SoftAuthenticator) -> dict[str, Any]:
    csrf = browser.page_data(client.get("/recovery/new"))["csrf"]
    options = client.post("/recovery/new/passkey/options", headers={"x-csrf-token": csrf})
    assert options.status_code == 200, options.text
    return authenticator.create(options.json(), origin=BASE_URL)


def session_cookie(client: TestClient) -> str:
    token = client.cookies.get("keyturn_session")
    assert token
    return token


def new_browser(client: TestClient) -> None:
    """Another device: no cookies at all."""
    client.cookies.clear()


# --- the journeys ------------------------------------------------------------------------


def test_a_passkey_only_account_recovers_through_the_link_with_a_new_passkey(
    client: TestClient, smtp: SmtpServer, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    lost_session = session_cookie(client)
    new_browser(client)  # the devices are lost; a new browser asks

    login = client.get("/login")
    assert 'href="/recovery"' in login.text and "Can't sign in?" in login.text
    waiting = ask(client, EMAIL)
    assert waiting.status_code == 200 and "Check your inbox" in waiting.text
    assert "Recovery code" in waiting.text
    message = mail_to(smtp, EMAIL, RECOVERY)
    assert message.subject.startswith("Your Keyturn recovery code: ")
    _, token = code_and_link(message)

    shown = client.get(f"/recovery/link?token={token}")  # what a mail scanner would fetch
    assert shown.status_code == 200 and 'id="confirm-recovery"' in shown.text
    assert codes(client)[0].used_at is None  # the GET used nothing

    used = post_link(client, token)
    assert (used.status_code, used.headers["location"]) == (303, "/recovery/new")
    assert client.get("/account", follow_redirects=False).status_code == 303  # not signed in yet
    page = client.get("/recovery/new")
    assert page.status_code == 200
    assert page.text.index('id="create-passkey"') < page.text.index('id="set-password"')  # passkey first
    assert 'id="sign-out-others" checked' in page.text

    phone = SoftAuthenticator()
    credential = new_passkey_credential(client, phone)
    done = finish(client, {"method": "passkey", "credential": credential, "sign_out_others": True})
    assert done.status_code == 200, done.text
    assert done.json() == {"redirect_to": "/account"}
    assert "keyturn_recovery" not in client.cookies

    user = store.user_of(client, EMAIL)
    assert len(store.passkeys_of(client, user.id)) == 2
    session = store.find_session(client, session_cookie(client), now=clock.now())
    assert session is not None and session.amr == ["phr"]
    assert store.find_session(client, lost_session, now=clock.now()) is None  # signed out everywhere else
    assert codes(client)[0].completed_at is not None
    [enrolled] = store.events_of(client, "gd_enrollment_complete", user_id=user.id)
    assert enrolled.details["enrollment"] == "recovery"
    assert [e.type for e in store.events_of(client, "scpr", "s", user_id=user.id)] == ["s", "scpr", "s"]

    notice = mail_to(smtp, EMAIL, RECOVERED)
    assert notice.subject == "Your Keyturn account was recovered"
    assert "a passkey was added" in notice.text and "Every other session was signed out" in notice.text

    # The new passkey signs in; the recovery is over.
    browser.sign_out(client)
    assert browser.login_with_passkey(client, phone).status_code == 200


def test_a_typed_code_sets_a_password_and_can_keep_the_other_sessions(
    client: TestClient, smtp: SmtpServer, clock: FrozenClock
) -> None:
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    other_session = session_cookie(client)
    new_browser(client)

    waiting = ask(client, EMAIL)
    message = mail_to(smtp, EMAIL, RECOVERY)
    code, _ = code_and_link(message)
    used = type_code(client, waiting, f"{code[:3]} {code[3:]}")  # spaces are forgiven
    assert (used.status_code, used.headers["location"]) == (303, "/recovery/new")

    done = finish(client, {"method": "password", "password": NEW_PASSWORD, "sign_out_others": False})
    assert done.status_code == 200, done.text
    session = store.find_session(client, session_cookie(client), now=clock.now())
    assert session is not None and session.amr == ["pwd"]
    assert store.find_session(client, other_session, now=clock.now()) is not None  # kept, as asked
    user = store.user_of(client, EMAIL)
    [changed] = store.events_of(client, "scp", user_id=user.id)
    assert changed.details == {"enrollment": "recovery"}
    notice = mail_to(smtp, EMAIL, RECOVERED)
    assert "a new password was added" in notice.text and "signed out" not in notice.text

    new_browser(client)
    assert browser.login_with_password(client, EMAIL, PASSWORD).status_code == 401
    assert browser.login_with_password(client, EMAIL, NEW_PASSWORD).status_code == 200


def test_an_unknown_email_gets_the_same_answer_page_and_work(
    client: TestClient, smtp: SmtpServer, authenticator: SoftAuthenticator
) -> None:
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    new_browser(client)
    ask(client, "warm@example.com")  # the first request of a process warms caches up

    def normalised(response: Response, address: str) -> str:
        text = response.text.replace(address, "ADDRESS")
        return _HIDDEN.sub(lambda m: f'<input type="hidden" name="{m.group(1)}" value="…">', text)

    answers = []
    for address in (EMAIL, UNKNOWN):
        count = request_statements(client)
        response = ask(client, address)
        answers.append((response.status_code, normalised(response, address), count()))
    assert answers[0] == answers[1]  # status, page and the statements run (the same work)
    assert answers[0][0] == 200

    assert sorted(store.queued_templates(client)) == [
        "recovery",
        "recovery_unknown",
        "recovery_unknown",
        "verify_email",
    ]
    stored = codes(client)  # the frozen clock gives them one creation time: sort by address
    assert sorted((c.email, c.user_id is None) for c in stored) == [
        (EMAIL, False),
        (UNKNOWN, True),
        ("warm@example.com", True),
    ]
    unknown_mail = mail_to(smtp, UNKNOWN, "About your Keyturn recovery request")
    assert "has no account" in unknown_mail.text and _CODE.search(unknown_mail.text) is None
    [failed] = store.events_of(client, "fcpr")[-1:]
    assert (failed.user_name, failed.details["error"]) == (UNKNOWN, "unknown_email")


def test_a_link_works_once_and_then_neither_it_nor_the_code_work(
    client: TestClient, smtp: SmtpServer, authenticator: SoftAuthenticator
) -> None:
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    new_browser(client)
    waiting = ask(client, EMAIL)
    code, token = code_and_link(mail_to(smtp, EMAIL, RECOVERY))
    assert post_link(client, token).status_code == 303

    again = post_link(client, token)
    assert again.status_code == 410
    assert shown_error(again) == "This link has expired or was already used. Ask for a new one."
    typed = type_code(client, waiting, code)
    assert typed.status_code == 410
    assert shown_error(typed) == "This code has expired or was tried too many times. Ask for a new one."


def test_a_link_opened_in_another_browser_is_refused_and_the_code_still_works(
    client: TestClient, smtp: SmtpServer, authenticator: SoftAuthenticator
) -> None:
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    new_browser(client)
    waiting = ask(client, EMAIL)
    asking_browser = dict(client.cookies)
    code, token = code_and_link(mail_to(smtp, EMAIL, RECOVERY))

    new_browser(client)  # the link is opened on a phone
    before = browser.storage(client)
    refused = post_link(client, token)
    assert refused.status_code == 403
    assert "asked for in another browser" in shown_error(refused)
    assert browser.storage(client) == before  # nothing used, nothing counted

    client.cookies.update(asking_browser)  # the code is typed where it was asked for
    assert type_code(client, waiting, code).status_code == 303


def test_five_wrong_codes_end_the_request(
    client: TestClient, smtp: SmtpServer, authenticator: SoftAuthenticator
) -> None:
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    new_browser(client)
    waiting = ask(client, EMAIL)
    code, token = code_and_link(mail_to(smtp, EMAIL, RECOVERY))
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    before = browser.storage(client)

    for left in (4, 3, 2, 1):
        refused = type_code(client, waiting, wrong)
        assert refused.status_code == 400
        assert shown_error(refused) == f"That code is not right. {left} tries left."
    fifth = type_code(client, waiting, wrong)
    assert fifth.status_code == 410
    assert type_code(client, waiting, code).status_code == 410  # the right one, too late
    assert post_link(client, token).status_code == 410  # and the link died with it

    after = browser.storage(client)
    assert [c.attempts for c in codes(client)] == [5]
    assert {t: rows for t, rows in after.items() if t not in ("email_codes", "rate_limits")} == {
        t: rows for t, rows in before.items() if t not in ("email_codes", "rate_limits")
    }
    assert "keyturn_recovery" not in client.cookies


def test_code_and_link_expire_with_the_tenants_lifetime(
    client: TestClient, smtp: SmtpServer, authenticator: SoftAuthenticator, clock: FrozenClock
) -> None:
    store.set_tenant(client, "/recovery/lifetime_seconds", 600)
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    new_browser(client)
    waiting = ask(client, EMAIL)
    message = mail_to(smtp, EMAIL, RECOVERY)
    assert "for 10 minutes" in message.text
    code, token = code_and_link(message)

    clock.advance(seconds=601)
    before = browser.storage(client)
    assert type_code(client, waiting, code).status_code == 410
    assert post_link(client, token).status_code == 410
    assert browser.storage(client) == before


def test_a_recovery_allows_one_change_only(
    client: TestClient, smtp: SmtpServer, authenticator: SoftAuthenticator
) -> None:
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    new_browser(client)
    ask(client, EMAIL)
    _, token = code_and_link(mail_to(smtp, EMAIL, RECOVERY))
    assert post_link(client, token).status_code == 303
    recovered = client.cookies.get("keyturn_recovery")
    csrf = browser.page_data(client.get("/recovery/new"))["csrf"]
    done = client.post(
        "/recovery/new", json={"method": "password", "password": NEW_PASSWORD}, headers={"x-csrf-token": csrf}
    )
    assert done.status_code == 200

    assert recovered is not None
    client.cookies.set("keyturn_recovery", recovered)  # the same recovery, replayed
    before = browser.storage(client)
    again = {"method": "password", "password": "yet another passphrase"}
    replay = client.post("/recovery/new", json=again, headers={"x-csrf-token": csrf})
    assert replay.status_code == 410 and replay.json()["error"] == "recovery_done"
    assert browser.storage(client) == before


def test_a_refused_new_password_changes_nothing_and_the_recovery_goes_on(
    client: TestClient, smtp: SmtpServer, authenticator: SoftAuthenticator
) -> None:
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    new_browser(client)
    ask(client, EMAIL)
    _, token = code_and_link(mail_to(smtp, EMAIL, RECOVERY))
    assert post_link(client, token).status_code == 303
    before = browser.storage(client)

    short = finish(client, {"method": "password", "password": "short"})
    assert short.status_code == 400 and short.json()["error"] == "password_too_short"
    no_csrf = client.post("/recovery/new", json={"method": "password", "password": NEW_PASSWORD})
    assert no_csrf.status_code == 403
    assert browser.storage(client) == before
    [failed] = store.events_of(client, "fcp")
    assert failed.details == {"error": "password_too_short", "enrollment": "recovery"}

    assert finish(client, {"method": "password", "password": NEW_PASSWORD}).status_code == 200


def test_requests_are_throttled_per_address(client: TestClient, smtp: SmtpServer) -> None:
    for _ in range(5):
        assert ask(client, UNKNOWN).status_code == 200
    before = browser.storage(client)
    throttled = ask(client, UNKNOWN)
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    assert shown_error(throttled).startswith("Too many requests.")
    after = browser.storage(client)
    assert after["email_codes"] == before["email_codes"]
    assert [row[0] for row in after["outbox"]] == [row[0] for row in before["outbox"]]
    assert ask(client, "someone.else@example.com").status_code == 200  # another address is not held up


def test_the_link_token_is_stored_only_as_its_hash(
    client: TestClient, smtp: SmtpServer, authenticator: SoftAuthenticator
) -> None:
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    ask(client, EMAIL)
    code, token = code_and_link(mail_to(smtp, EMAIL, RECOVERY))
    [stored] = codes(client)
    assert stored.link_hash == hash_token(token)
    assert code not in repr(browser.storage(client))


def test_a_recovery_still_asks_for_the_second_factor_mfa_policy_needs(
    client: TestClient, smtp: SmtpServer, clock: FrozenClock
) -> None:
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    secret = second_factors.add_app(client, clock)
    store.set_tenant(client, "/mfa/policy", "optional")
    new_browser(client)
    clock.advance(seconds=60)

    waiting = ask(client, EMAIL)
    code, _ = code_and_link(mail_to(smtp, EMAIL, RECOVERY))
    assert type_code(client, waiting, code).status_code == 303
    done = finish(client, {"method": "password", "password": NEW_PASSWORD})

    assert done.status_code == 200, done.text
    step = done.json()["redirect_to"]
    assert step.startswith(second_factors.STEP)
    assert SESSION_COOKIE not in client.cookies, "the mailbox alone is not two factors"
    signed_in = second_factors.answer(client, step, second_factors.code_at(secret, clock))
    assert signed_in.status_code == 303
    assert second_factors.session_amr(client, clock) == ["pwd", "otp", "mfa"]
