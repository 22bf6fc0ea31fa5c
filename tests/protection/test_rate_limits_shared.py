"""Rate limits counted once across processes: `keyturn serve --workers 2` and a second instance
on the same database, or on the same Redis, behind one public origin (as behind a load
balancer); changed at run time with `keyturn config patch`.

The servers start once for the module; each test counts against rates of its own (a rate
that changes starts a count of its own), so the tests do not share counts.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2

from tests.protection.conftest import Pair
from tests.support.browser import page_data

LIMITS = "/attack_protection/rate_limits"


def identify(client: httpx2.Client, base: str, email: str) -> httpx2.Response:
    page = page_data(client.get(f"{base}/login"))
    return client.post(
        f"{base}/login/flows/{page['flow_id']}/identify",
        json={"email": email},
        headers={"x-csrf-token": page["csrf"]},
    )


def test_one_count_across_workers_and_instances(pair: Pair) -> None:
    pair.patch(f"{LIMITS}/identifier/per_ip=6/hour")
    a, b = pair.urls
    with pair.client() as client:
        bases = enumerate([a, b] * 3)
        statuses = [identify(client, base, f"u{n}@example.com").status_code for n, base in bases]
        assert statuses == [200] * 6
        for base in (a, b, a):
            refused = identify(client, base, "late@example.com")
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"] == "too_many_requests"
            assert 1 <= int(refused.headers["retry-after"]) <= 3600


def test_a_config_patch_takes_effect_at_once_everywhere(pair: Pair) -> None:
    a, b = pair.urls
    pair.patch(f"{LIMITS}/identifier/per_identifier=2/hour", f"{LIMITS}/identifier/per_ip=1000/hour")
    with pair.client() as client:
        assert [identify(client, base, "ada@example.com").status_code for base in (a, b)] == [200, 200]
        assert identify(client, a, "ada@example.com").status_code == 429
        assert identify(client, b, "ada@example.com").status_code == 429
        pair.patch(f"{LIMITS}/enabled=false")
        assert [identify(client, base, "ada@example.com").status_code for base in (a, b)] == [200, 200]
        pair.patch(f"{LIMITS}/enabled=true")
        assert identify(client, b, "ada@example.com").status_code == 429


def _machine(pair: Pair, name: str) -> tuple[str, str]:
    grant = ("--grant", "client_credentials", "--scope", "read:users")
    made = json.loads(pair.cli("clients", "create", "--name", name, *grant, "--json"))
    return made["client_id"], made["client_secret"]


def _token(client: httpx2.Client, base: str, credentials: tuple[str, str]) -> httpx2.Response:
    return client.post(f"{base}/oauth2/token", data={"grant_type": "client_credentials"}, auth=credentials)


def test_token_endpoint_per_client_across_instances(pair: Pair) -> None:
    first, second = _machine(pair, "first"), _machine(pair, "second")
    pair.patch(f"{LIMITS}/token/per_client=4/hour")
    a, b = pair.urls
    with pair.client() as client:
        assert [_token(client, base, first).status_code for base in (a, b, a, b)] == [200] * 4
        refused = _token(client, b, first)
        assert refused.status_code == 429
        assert refused.json()["error"] == "too_many_requests" and "retry-after" in refused.headers
        assert _token(client, a, second).status_code == 200


def test_management_api_headers_count_across_instances(pair: Pair) -> None:
    credentials = _machine(pair, "ops")
    a, b = pair.urls
    with pair.client() as client:
        token = _token(client, a, credentials).json()["access_token"]
        pair.patch(f"{LIMITS}/management_api/per_client=3/hour")
        bearer = {"authorization": f"Bearer {token}"}
        answers = [client.get(f"{base}/api/v2/users", headers=bearer) for base in (a, b, a)]
        assert [r.status_code for r in answers] == [200, 200, 200]
        assert [r.headers["x-ratelimit-remaining"] for r in answers] == ["2", "1", "0"]
        assert {r.headers["x-ratelimit-limit"] for r in answers} == {"3"}
        refused = client.get(f"{b}/api/v2/users", headers=bearer)
        body: dict[str, Any] = refused.json()
        assert refused.status_code == 429
        assert body == {
            "statusCode": 429,
            "error": "Too Many Requests",
            "message": "Too many requests. Please try again in a while.",
            "errorCode": "too_many_requests",
        }
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert int(refused.headers["x-ratelimit-reset"]) > 0
