"""Suspicious-IP throttling: every method, passkeys included; 429 with Retry-After; once per
address an event; an allow-list exempts. Counted on the database and on Redis."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.support import browser, store
from tests.support.soft_authenticator import SoftAuthenticator

WRONG = "not the password at all"


def test_failed_sign_ins_across_accounts_throttle_the_address_passkeys_too(
    peer_client: TestClient, authenticator: SoftAuthenticator
) -> None:
    assert browser.signup_with_passkey(peer_client, authenticator, "ada@example.com").status_code == 200
    browser.sign_out(peer_client)
    store.set_tenant(peer_client, "/attack_protection/suspicious_ip/max_attempts", 3)
    statuses = [
        browser.login_with_password(peer_client, f"user{n}@example.com", WRONG).status_code for n in range(3)
    ]
    assert statuses == [401, 401, 401]
    refused = browser.login_with_passkey(peer_client, authenticator)  # a good passkey, from this address
    assert refused.status_code == 429 and refused.json()["error"] == "too_many_requests"
    retry = int(refused.headers["retry-after"])
    assert 1 <= retry <= 2 * 3 * 864
    password = browser.login_with_password(peer_client, "someone@example.com", WRONG)
    assert password.status_code == 429 and "retry-after" in password.headers
    (event,) = store.events_of(peer_client, "limit_mu")
    assert event.ip == "198.51.100.7" and event.details == {"max_attempts": 3}
    assert len(store.events_of(peer_client, "s")) == 1  # the sign-up's, nothing since


def test_failed_passkey_attempts_count_too(peer_client: TestClient, authenticator: SoftAuthenticator) -> None:
    assert browser.signup_with_passkey(peer_client, authenticator, "ada@example.com").status_code == 200
    browser.sign_out(peer_client)
    store.set_tenant(peer_client, "/attack_protection/suspicious_ip/max_attempts", 2)
    statuses = []
    for _ in range(2):
        flow, options = browser.login_options(peer_client)
        tampered = authenticator.get(options, origin=browser.ORIGIN, sign_count_override=0)
        tampered["response"]["signature"] = tampered["response"]["signature"][:-4] + "AAAA"
        statuses.append(browser.submit_passkey_login(peer_client, flow, tampered).status_code)
    assert statuses == [400, 400]
    assert browser.login_with_passkey(peer_client, authenticator).status_code == 429


def test_sign_ups_from_one_address_are_throttled_every_method(
    peer_client: TestClient, authenticator: SoftAuthenticator
) -> None:
    store.set_tenant(peer_client, "/attack_protection/suspicious_ip/max_signups", 2)
    store.set_tenant(peer_client, "/attack_protection/suspicious_ip/signups_refill_seconds", 300)
    first = browser.signup_with_password(peer_client, "a@example.com", "long enough password")
    assert first.status_code == 200
    browser.sign_out(peer_client)
    assert browser.signup_with_passkey(peer_client, authenticator, "b@example.com").status_code == 200
    browser.sign_out(peer_client)
    before = browser.storage(peer_client)["users"]
    refused = browser.signup_with_passkey(peer_client, SoftAuthenticator(), "c@example.com")
    assert refused.status_code == 429 and refused.json()["error"] == "too_many_requests"
    assert 1 <= int(refused.headers["retry-after"]) <= 2 * 600
    refused = browser.signup_with_password(peer_client, "d@example.com", "long enough password")
    assert refused.status_code == 429
    assert browser.storage(peer_client)["users"] == before
    (event,) = store.events_of(peer_client, "limit_sul")
    assert event.ip == "198.51.100.7"


def test_allowlisted_and_disabled(peer_client: TestClient) -> None:
    store.set_tenant(peer_client, "/attack_protection/suspicious_ip/max_attempts", 1)
    store.set_tenant(peer_client, "/attack_protection/suspicious_ip/allowlist", ["198.51.100.7"])
    statuses = [browser.login_with_password(peer_client, "x@example.com", WRONG).status_code for _ in "abc"]
    assert statuses == [401] * 3
    store.set_tenant(peer_client, "/attack_protection/suspicious_ip/allowlist", [])
    store.set_tenant(peer_client, "/attack_protection/suspicious_ip/enabled", False)
    statuses = [browser.login_with_password(peer_client, "y@example.com", WRONG).status_code for _ in "abc"]
    assert statuses == [401] * 3
    assert store.events_of(peer_client, "limit_mu") == []
