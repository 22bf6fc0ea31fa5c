"""Brute-force blocks across processes: wrong passwords spread over `keyturn serve --workers 2`
and a second instance (one database, or one Redis) block the pair everywhere; the right
password is then refused on every process, a passkey is not; an operator's unblock applies at
once everywhere. The servers are the rate-limit tests' pair (started once per module)."""

from __future__ import annotations

import json

import httpx2

from tests.protection.conftest import Pair
from tests.support.browser import page_data
from tests.support.soft_authenticator import SoftAuthenticator

PASSWORD = "correct horse battery staple"


def _flow(client: httpx2.Client, base: str, page: str) -> tuple[str, dict[str, str]]:
    data = page_data(client.get(f"{base}{page}"))
    return f"{base}{page}/flows/{data['flow_id']}", {"x-csrf-token": data["csrf"]}


def sign_up_with_passkey_and_password(pair: Pair, email: str) -> SoftAuthenticator:
    """An account with a passkey (sign-up) and a password (/account), through the first instance."""
    authenticator = SoftAuthenticator()
    with pair.client() as client:
        base = pair.first.base_url
        flow, headers = _flow(client, base, "/signup")
        options = client.post(f"{flow}/passkey/options", json={"email": email}, headers=headers).json()
        credential = authenticator.create(options, origin=pair.public)
        done = client.post(flow, json={"method": "passkey", "credential": credential}, headers=headers)
        assert done.status_code == 200, done.text
        csrf = page_data(client.get(f"{base}/account"))["csrf"]
        set_password = client.post(
            f"{base}/account/password", data={"csrf": csrf, "new_password": PASSWORD}, follow_redirects=False
        )
        assert set_password.status_code == 303, set_password.text
    return authenticator


def password_sign_in(pair: Pair, base: str, email: str, password: str) -> tuple[int, str]:
    with pair.client() as client:
        flow, headers = _flow(client, base, "/login")
        answer = client.post(
            flow, json={"method": "password", "email": email, "password": password}, headers=headers
        )
        return answer.status_code, answer.json().get("error", "")


def passkey_sign_in(pair: Pair, base: str, authenticator: SoftAuthenticator) -> int:
    with pair.client() as client:
        flow, headers = _flow(client, base, "/login")
        options = client.post(f"{flow}/passkey/options", headers=headers).json()
        credential = authenticator.get(options, origin=pair.public)
        return client.post(
            flow, json={"method": "passkey", "credential": credential}, headers=headers
        ).status_code


def test_a_block_made_across_processes_holds_on_every_one(pair: Pair) -> None:
    email = f"blocked-{id(pair)}@example.com"
    authenticator = sign_up_with_passkey_and_password(pair, email)
    pair.patch(
        "/attack_protection/brute_force/max_attempts=4",
        "/passkey_options/progressive_enrollment_enabled=false",
    )
    first, second = pair.urls

    answers = [password_sign_in(pair, (first, second)[i % 2], email, "wrong guess") for i in range(4)]

    assert answers == [(401, "invalid_credentials")] * 3 + [(429, "too_many_attempts")]
    for base in (first, second, first):  # the right password, on each process (and worker)
        assert password_sign_in(pair, base, email, PASSWORD) == (429, "too_many_attempts")
    assert passkey_sign_in(pair, second, authenticator) == 200  # a password block never stops a passkey
    listed = json.loads(pair.cli("blocks", "list", "--identifier", email))
    assert [b["identifier"] for b in listed["blocked_for"]] == [email]

    assert pair.cli("blocks", "remove", "--identifier", email).strip() == "removed 1 block"
    assert password_sign_in(pair, second, email, PASSWORD)[0] == 200
    assert password_sign_in(pair, first, email, PASSWORD)[0] == 200
