"""Brute-force protection on passwords: counted per identifier and address, on the database
counters and on Redis; blocked, unblocked by time, by the emailed link, or by a success's reset."""

from __future__ import annotations

import re
from typing import Any

from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from tests.support import browser, store
from tests.support.soft_authenticator import SoftAuthenticator

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
WRONG = "not the password at all"


def _answers(client: TestClient, email: str, password: str, times: int) -> list[tuple[int, Any]]:
    answers = []
    for _ in range(times):
        response = browser.login_with_password(client, email, password)
        answers.append((response.status_code, response.json()["error"]))
    return answers


def _mail_count(client: TestClient) -> int:
    """Unblock messages queued (a sign-up also queues its verification message)."""
    return sum(1 for row in browser.storage(client)["outbox"] if row[1] == "unblock")  # (id, template, …)


def test_ten_wrong_passwords_block_the_identifier_from_that_address(peer_client: TestClient) -> None:
    assert browser.signup_with_password(peer_client, EMAIL, PASSWORD).status_code == 200
    browser.sign_out(peer_client)
    answers = _answers(peer_client, EMAIL, WRONG, 10)
    assert answers == [(401, "invalid_credentials")] * 9 + [(429, "too_many_attempts")]
    blocked = browser.login_with_password(peer_client, EMAIL, PASSWORD)  # even the right one
    assert blocked.status_code == 429 and blocked.json()["error"] == "too_many_attempts"
    assert 3500 <= int(blocked.headers["retry-after"]) <= 3600  # block_minutes 60
    (event,) = store.events_of(peer_client, "limit_wc")
    user = store.user_of(peer_client, EMAIL)
    assert (event.user_id, event.user_name, event.ip) == (user.id, EMAIL, "198.51.100.7")
    assert _mail_count(peer_client) == 1  # the unblock link, queued once


def test_unknown_identifiers_are_answered_and_blocked_the_same_without_email(peer_client: TestClient) -> None:
    assert browser.signup_with_password(peer_client, EMAIL, PASSWORD).status_code == 200
    browser.sign_out(peer_client)
    known = [browser.login_with_password(peer_client, EMAIL, WRONG) for _ in range(11)]
    unknown = [browser.login_with_password(peer_client, "nobody@example.com", WRONG) for _ in range(11)]
    assert [(r.status_code, r.json()) for r in known] == [(r.status_code, r.json()) for r in unknown]
    assert [r.headers.get("retry-after") is None for r in known] == [
        r.headers.get("retry-after") is None for r in unknown
    ]
    events = store.events_of(peer_client, "limit_wc")
    seen = [(e.user_name, e.user_id is None) for e in events]
    assert seen == [(EMAIL, False), ("nobody@example.com", True)]
    assert _mail_count(peer_client) == 1  # only the real account's owner hears of it


def test_a_success_resets_the_count(peer_client: TestClient) -> None:
    assert browser.signup_with_password(peer_client, EMAIL, PASSWORD).status_code == 200
    browser.sign_out(peer_client)
    assert _answers(peer_client, EMAIL, WRONG, 9) == [(401, "invalid_credentials")] * 9
    assert browser.login_with_password(peer_client, EMAIL, PASSWORD).status_code == 200
    browser.sign_out(peer_client)
    assert _answers(peer_client, EMAIL, WRONG, 9) == [(401, "invalid_credentials")] * 9
    assert store.events_of(peer_client, "limit_wc") == []


def test_a_passkey_still_signs_in_while_passwords_are_blocked(
    peer_client: TestClient, authenticator: SoftAuthenticator
) -> None:
    assert browser.signup_with_passkey(peer_client, authenticator, EMAIL).status_code == 200
    browser.sign_out(peer_client)
    _answers(peer_client, EMAIL, WRONG, 10)
    assert browser.login_with_password(peer_client, EMAIL, WRONG).status_code == 429
    response = browser.login_with_passkey(peer_client, authenticator)
    assert response.status_code == 200, response.text
    assert store.events_of(peer_client, "s")[-1].details.get("authentication_method", "passkey")


def test_the_block_ends_after_block_minutes(peer_client: TestClient, clock: FrozenClock) -> None:
    store.set_tenant(peer_client, "/attack_protection/brute_force/block_minutes", 5)
    assert browser.signup_with_password(peer_client, EMAIL, PASSWORD).status_code == 200
    browser.sign_out(peer_client)
    _answers(peer_client, EMAIL, WRONG, 10)
    assert browser.login_with_password(peer_client, EMAIL, PASSWORD).status_code == 429
    clock.advance(minutes=5, seconds=1)
    assert browser.login_with_password(peer_client, EMAIL, PASSWORD).status_code == 200


def test_zero_block_minutes_blocks_until_unblocked(peer_client: TestClient, clock: FrozenClock) -> None:
    store.set_tenant(peer_client, "/attack_protection/brute_force/block_minutes", 0)
    _answers(peer_client, "nobody@example.com", WRONG, 10)
    clock.advance(days=30)
    blocked = browser.login_with_password(peer_client, "nobody@example.com", WRONG)
    assert blocked.status_code == 429 and "retry-after" not in blocked.headers


def test_allowlisted_addresses_and_a_disabled_protection_are_never_blocked(peer_client: TestClient) -> None:
    store.set_tenant(peer_client, "/attack_protection/brute_force/allowlist", ["198.51.100.0/24"])
    assert _answers(peer_client, EMAIL, WRONG, 12) == [(401, "invalid_credentials")] * 12
    store.set_tenant(peer_client, "/attack_protection/brute_force/allowlist", [])
    store.set_tenant(peer_client, "/attack_protection/brute_force/enabled", False)
    assert _answers(peer_client, EMAIL, WRONG, 12) == [(401, "invalid_credentials")] * 12
    assert store.events_of(peer_client, "limit_wc") == []


def test_a_lower_max_attempts_applies(peer_client: TestClient) -> None:
    store.set_tenant(peer_client, "/attack_protection/brute_force/max_attempts", 3)
    assert [s for s, _ in _answers(peer_client, EMAIL, WRONG, 4)] == [401, 401, 429, 429]


def test_a_forged_unblock_link_changes_nothing(peer_client: TestClient) -> None:
    _answers(peer_client, EMAIL, WRONG, 10)
    before = browser.storage(peer_client)["user_blocks"]
    response = peer_client.post("/unblock", data={"token": "bm90IGEgdG9rZW4"})
    assert response.status_code == 400 and response.json()["error"] == "unblock_link_invalid"
    assert browser.storage(peer_client)["user_blocks"] == before != []


def link_in(text: str) -> str:
    match = re.search(r"http://localhost:8000(/unblock\?token=[A-Za-z0-9_-]+)", text)
    assert match, text
    return match.group(1)


def test_concurrent_guesses_get_no_more_verifications_than_max_attempts(peer_client: TestClient) -> None:
    """Eight wrong passwords at once against max_attempts 3: at most three are verified, the
    rest refused (429) with one block and one event, on the database counters and on Redis."""
    import asyncio

    import httpx2

    store.set_tenant(peer_client, "/attack_protection/brute_force/max_attempts", 3)
    flow = browser.open_page(peer_client, "/login")
    body = {"method": "password", "email": "nobody@example.com", "password": WRONG}
    headers = {**flow.headers, "origin": browser.ORIGIN}
    cookies = dict(peer_client.cookies.items())
    app = peer_client.app

    async def guesses() -> list[int]:
        transport = httpx2.ASGITransport(app=app, client=("198.51.100.7", 5000))
        async with httpx2.AsyncClient(
            transport=transport, base_url=browser.ORIGIN, cookies=cookies, headers=headers
        ) as concurrent:
            answers = await asyncio.gather(
                *(concurrent.post(f"/login/flows/{flow.flow_id}", json=body) for _ in range(8))
            )
        return [a.status_code for a in answers]

    assert peer_client.portal is not None
    statuses = peer_client.portal.call(guesses)
    assert 429 in statuses and set(statuses) <= {401, 429} and statuses.count(401) <= 2
    assert len(store.events_of(peer_client, "limit_wc")) == 1
    verified = len(store.events_of(peer_client, "fu"))  # each verified wrong password records one
    assert statuses.count(401) <= verified <= 3
    assert browser.login_with_password(peer_client, "nobody@example.com", WRONG).status_code == 429
