"""Email verification (`verification.mode`) over HTTP, reading codes and links from a real SMTP
server on loopback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from httpx2 import Response
from starlette.testclient import TestClient

from keyturn.settings import Settings
from tests.conftest import BASE_URL
from tests.flows.test_account import add_passkey
from tests.flows.test_recovery import mail_to, request_statements, shown_error
from tests.support import browser, store
from tests.support.smtp import Received, SmtpServer
from tests.support.soft_authenticator import SoftAuthenticator

EMAIL = "ada@example.com"
NEW = "grace@example.com"
PASSWORD = "correct horse battery staple"
VERIFY = "Verify your Keyturn email: "
SIGNUP = "Your Keyturn sign-up code: "
EXISTS = "You already have a Keyturn account"
_CODE = re.compile(r"code is: (\d{6})")
_LINK = re.compile(re.escape(BASE_URL) + r"/verify\?token=([A-Za-z0-9_-]+)")


@pytest.fixture
def settings(clean_database: str, tmp_path: Path, smtp: SmtpServer) -> Settings:
    return Settings(
        database_url=clean_database, data_dir=tmp_path, public_url=BASE_URL, email=smtp.email_settings()
    )


def code_of(message: Received) -> str:
    found = _CODE.search(message.text)
    assert found, message.text
    return found.group(1)


def account_form(client: TestClient, path: str, **fields: str) -> Response:
    csrf = browser.page_data(client.get("/account"))["csrf"]
    return client.post(path, data={"csrf": csrf, **fields}, follow_redirects=False)


# --- after_signup (the default) -------------------------------------------------------------


def test_after_signup_the_account_works_at_once_and_the_typed_code_verifies_it(
    client: TestClient, smtp: SmtpServer, authenticator: SoftAuthenticator
) -> None:
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    assert client.get("/account").status_code == 200  # signed in at once
    assert 'for="verification-code">Verification code</label>' in client.get("/account").text
    message = mail_to(smtp, EMAIL, VERIFY)
    code = code_of(message)
    user = store.user_of(client, EMAIL)
    assert not user.email_verified
    assert [e.type for e in store.events_of(client, "svr", user_id=user.id)] == ["svr"]

    wrong = account_form(client, "/account/verify", code=f"{(int(code) + 1) % 1_000_000:06d}")
    assert wrong.status_code == 400 and shown_error(wrong) == "That code is not right. 4 tries left."
    assert not store.user_of(client, EMAIL).email_verified
    assert store.events_of(client, "fv", user_id=user.id)[-1].details == {"error": "email_code_wrong"}

    done = account_form(client, "/account/verify", code=code)
    assert (done.status_code, done.headers["location"]) == (303, "/account?notice=email_verified")
    assert store.user_of(client, EMAIL).email_verified
    assert [e.type for e in store.events_of(client, "sv", user_id=user.id)] == ["sv"]
    assert "Verification code" not in client.get("/account").text
    again = account_form(client, "/account/verify", code=code)
    assert again.status_code == 410  # used once


def test_the_link_verifies_in_any_browser_but_only_through_its_post(
    client: TestClient, smtp: SmtpServer
) -> None:
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    token = _LINK.search(mail_to(smtp, EMAIL, VERIFY).text)
    assert token
    client.cookies.clear()  # the message is read on a phone

    shown = client.get(f"/verify?token={token.group(1)}")
    assert shown.status_code == 200 and 'id="confirm-email"' in shown.text
    assert not store.user_of(client, EMAIL).email_verified  # a GET verifies nothing
    done = client.post("/verify", data={"token": token.group(1)})
    assert done.status_code == 200 and 'id="verified"' in done.text
    assert store.user_of(client, EMAIL).email_verified
    reused = client.post("/verify", data={"token": token.group(1)})
    assert reused.status_code == 410
    assert shown_error(reused) == "This link has expired or was already used. Ask for a new one."


def test_a_new_code_replaces_the_old_one(client: TestClient, smtp: SmtpServer) -> None:
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    first = code_of(mail_to(smtp, EMAIL, VERIFY))
    sent = account_form(client, "/account/verify/resend")
    assert sent.headers["location"] == "/account?notice=verification_sent"
    smtp.inbox.wait_for(2)
    second = code_of([m for m in smtp.inbox.messages if m.subject.startswith(VERIFY)][1])
    if first != second:
        assert account_form(client, "/account/verify", code=first).status_code == 400
    assert account_form(client, "/account/verify", code=second).status_code == 303
    assert store.user_of(client, EMAIL).email_verified


def test_verification_off_sends_nothing(client: TestClient, smtp: SmtpServer) -> None:
    store.set_tenant(client, "/verification/mode", "off")
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    assert store.queued_templates(client) == []
    assert "Verification code" not in client.get("/account").text


# --- a change of email ------------------------------------------------------------------------

CHANGE = "Your Keyturn code to change your email: "


def test_a_change_of_email_is_confirmed_by_the_code_sent_to_the_new_address(
    client: TestClient, smtp: SmtpServer, authenticator: SoftAuthenticator
) -> None:
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    user = store.user_of(client, EMAIL)
    asked = account_form(client, "/account/email", email="  Ada.Lovelace@Example.ORG ")
    assert asked.headers["location"] == "/account?notice=email_code_sent"
    code = code_of(mail_to(smtp, "ada.lovelace@example.org", CHANGE))
    before = browser.storage(client)

    wrong = account_form(client, "/account/email/confirm", code=f"{(int(code) + 1) % 1_000_000:06d}")
    assert wrong.status_code == 400
    assert store.user_of(client, EMAIL).id == user.id  # still the old address
    after = browser.storage(client)
    assert after["users"] == before["users"] and after["outbox"] == before["outbox"]

    done = account_form(client, "/account/email/confirm", code=code)
    assert (done.status_code, done.headers["location"]) == (303, "/account?notice=email_changed")
    moved = store.user_of(client, "ada.lovelace@example.org")
    assert moved.id == user.id and moved.email_verified
    assert store.find_user(client, EMAIL) is None
    [changed] = store.events_of(client, "sce", user_id=user.id)
    assert changed.details == {"previous": EMAIL}
    told = mail_to(smtp, EMAIL, "The email of your Keyturn account was changed")
    assert "ada.lovelace@example.org" in told.text
    data = browser.page_data(client.get("/account?notice=email_changed"))
    assert data["signal_user"] is True and data["name"] == "ada.lovelace@example.org"
    assert account_form(client, "/account/email/confirm", code=code).status_code == 410


def test_a_change_of_email_to_a_taken_address_sends_nothing(
    client: TestClient, smtp: SmtpServer, authenticator: SoftAuthenticator
) -> None:
    assert browser.signup_with_password(client, NEW, PASSWORD).status_code == 200
    client.cookies.clear()
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    before = browser.storage(client)
    taken = account_form(client, "/account/email", email=NEW)
    assert taken.status_code == 409
    assert browser.storage(client) == before


# --- before_signup ------------------------------------------------------------------------


def send_code(client: TestClient, email: str) -> tuple[browser.PageFlow, Response]:
    flow = browser.open_page(client, "/signup")
    assert flow.data["verify_first"] is True
    return flow, client.post(
        f"/signup/flows/{flow.flow_id}/email", json={"email": email}, headers=flow.headers
    )


def prove(client: TestClient, sent: Response, code: str) -> Response:
    waiting = sent.json()
    return client.post(
        f"/signup/flows/{waiting['flow_id']}/code",
        json={"code": code},
        headers={"x-csrf-token": waiting["csrf"]},
    )


def test_before_signup_the_code_comes_first_and_the_account_is_created_verified(
    client: TestClient, smtp: SmtpServer, authenticator: SoftAuthenticator
) -> None:
    store.set_tenant(client, "/verification/mode", "before_signup")
    _, sent = send_code(client, NEW)
    assert sent.status_code == 200
    assert store.find_user(client, NEW) is None  # no account until the code is typed

    # Not proven yet: no passkey can be created on the flow.
    waiting = sent.json()
    early = client.post(
        f"/signup/flows/{waiting['flow_id']}/passkey/options",
        json={"email": NEW},
        headers={"x-csrf-token": waiting["csrf"]},
    )
    assert early.status_code == 403 and early.json()["error"] == "email_not_verified"

    proven = prove(client, sent, code_of(mail_to(smtp, NEW, SIGNUP)))
    assert proven.status_code == 200 and proven.json()["email"] == NEW
    ready = proven.json()
    options = client.post(
        f"/signup/flows/{ready['flow_id']}/passkey/options",
        json={"email": "someone.else@example.com"},  # the proven address is used, not this
        headers={"x-csrf-token": ready["csrf"]},
    )
    assert options.status_code == 200
    assert options.json()["user"]["name"] == NEW
    credential = authenticator.create(options.json(), origin=BASE_URL)
    created = client.post(
        f"/signup/flows/{ready['flow_id']}",
        json={"method": "passkey", "credential": credential},
        headers={"x-csrf-token": ready["csrf"]},
    )
    assert created.status_code == 200, created.text
    assert store.user_of(client, NEW).email_verified
    assert "verify_email" not in store.queued_templates(client)


def test_before_signup_a_taken_address_looks_the_same_and_gets_a_sign_in_message(
    client: TestClient, smtp: SmtpServer
) -> None:
    assert browser.signup_with_password(client, EMAIL, PASSWORD).status_code == 200
    store.set_tenant(client, "/verification/mode", "before_signup")
    client.cookies.clear()
    send_code(client, "warm@example.com")

    answers = []
    for address in (EMAIL, NEW):
        count = request_statements(client)
        _, sent = send_code(client, address)
        answers.append((sent.status_code, sorted(sent.json()), count()))
    assert answers[0] == answers[1] and answers[0][0] == 200

    exists = mail_to(smtp, EMAIL, EXISTS)
    assert "/recovery" in exists.text and _CODE.search(exists.text) is None
    assert [e.details["error"] for e in store.events_of(client, "fs")] == ["account_exists"]


def test_before_signup_a_password_sign_up_must_use_the_proven_address(
    client: TestClient, smtp: SmtpServer
) -> None:
    store.set_tenant(client, "/verification/mode", "before_signup")
    _, sent = send_code(client, NEW)
    ready = prove(client, sent, code_of(mail_to(smtp, NEW, SIGNUP))).json()
    headers = {"x-csrf-token": ready["csrf"]}
    before = browser.storage(client)
    other = client.post(
        f"/signup/flows/{ready['flow_id']}",
        json={"method": "password", "email": "mallory@example.com", "password": PASSWORD},
        headers=headers,
    )
    assert other.status_code == 403 and other.json()["error"] == "email_not_verified"
    assert browser.storage(client) == before
    good = client.post(
        f"/signup/flows/{ready['flow_id']}",
        json={"method": "password", "email": NEW, "password": PASSWORD},
        headers=headers,
    )
    assert good.status_code == 200
    assert store.user_of(client, NEW).email_verified


# --- security notifications ----------------------------------------------------------------

NOTICE = "Security notice about your Keyturn account"


def notices(smtp: SmtpServer, count: int) -> list[str]:
    """The first lines of the first `count` security notices, in the order they arrived."""
    return [m.text.splitlines()[0] for m in smtp.inbox.wait_for_matching(NOTICE, count=count)]


def test_each_security_change_on_the_account_page_is_notified(
    client: TestClient, smtp: SmtpServer, authenticator: SoftAuthenticator
) -> None:
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    assert add_passkey(client, SoftAuthenticator()).status_code == 200
    assert notices(smtp, 1) == ["A passkey (Passkey) was added to your account."]
    assert account_form(client, "/account/password", new_password=PASSWORD).status_code == 303
    assert notices(smtp, 2)[1] == "A password was set on your account."
    changed = account_form(
        client, "/account/password", current_password=PASSWORD, new_password="another passphrase"
    )
    assert changed.status_code == 303
    assert notices(smtp, 3)[2] == "The password of your account was changed."
    assert account_form(client, "/account/password/delete").status_code == 303
    assert notices(smtp, 4)[3] == "The password of your account was removed."
    user = store.user_of(client, EMAIL)
    passkey_id = store.passkeys_of(client, user.id)[1].id
    assert account_form(client, f"/account/passkeys/{passkey_id}/delete").status_code == 303
    assert notices(smtp, 5)[4] == "A passkey (Passkey) was removed from your account."


def test_a_notification_the_tenant_turned_off_is_not_sent(
    client: TestClient, smtp: SmtpServer, authenticator: SoftAuthenticator
) -> None:
    store.set_tenant(client, "/notifications/password_set", False)
    assert browser.signup_with_passkey(client, authenticator, EMAIL).status_code == 200
    assert account_form(client, "/account/password", new_password=PASSWORD).status_code == 303
    assert store.queued_templates(client) == ["verify_email"]  # no security_notice
