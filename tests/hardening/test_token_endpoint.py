"""Issue 9, the token endpoint: client authentication refusals that used to slip through.

- A `private_key_jwt` assertion whose `exp`, `nbf` or `iat` is a number no datetime holds
  (1e300, 10**30, -10**12) answered 500; any such claim is now `invalid_client`.
- A secret sent both in the Basic header and in the body was accepted; presenting two
  methods is now `invalid_request` (RFC 6749 §2.3), and a method other than the client's
  registered one is `invalid_client`.

Each refusal: the usual JSON error, no token stored, and a failed-exchange event.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from keyturn.domain.events import EventType
from tests.oidc.test_client_auth import (
    CLIENT_CREDENTIALS,
    assertion,
    key_client,
    machine_client,
    new_ec_key,
    secret_of,
    with_assertion,
)
from tests.support import store
from tests.support.browser import storage

OUT_OF_RANGE: dict[str, dict[str, Any]] = {
    "exp 1e300": {"exp": 1e300},
    "exp 10**30": {"exp": 10**30},
    "exp -10**12": {"exp": -(10**12)},
    "exp a string": {"exp": "tomorrow"},
    "exp true": {"exp": True},
    "nbf 1e300": {"nbf": 1e300},
    "nbf -10**12": {"nbf": -(10**12)},
    "iat 10**30": {"iat": 10**30},
    "iat a list": {"iat": [1]},
}


def _failed_exchanges(client: TestClient) -> list[dict[str, Any]]:
    return [e.details for e in store.events_of(client, EventType.FAILED_EXCHANGE_CLIENT_CREDENTIALS)]


@pytest.mark.parametrize("claims", OUT_OF_RANGE.values(), ids=OUT_OF_RANGE.keys())
def test_an_assertion_with_a_date_no_datetime_holds_is_invalid_client(
    client: TestClient, clock: FrozenClock, claims: dict[str, Any]
) -> None:
    key = new_ec_key()
    client_id = key_client(client, key).client.client_id
    before = storage(client)

    refused = with_assertion(client, assertion(key, client_id, clock, **claims), client_id=client_id)

    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "invalid_client"
    assert storage(client) == before
    assert _failed_exchanges(client) == [{"error": "invalid_client", "authenticated": False}]
    honest = with_assertion(client, assertion(key, client_id, clock), client_id=client_id)
    assert honest.status_code == 200, honest.text


def test_a_secret_in_both_the_header_and_the_body_is_invalid_request(client: TestClient) -> None:
    registered = machine_client(client)
    client_id, secret = registered.client.client_id, secret_of(registered)
    before = storage(client)

    refused = client.post(
        "/oauth2/token", data={**CLIENT_CREDENTIALS, "client_secret": secret}, auth=(client_id, secret)
    )

    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "invalid_request"
    assert storage(client) == before
    assert _failed_exchanges(client) == [{"error": "invalid_request", "authenticated": False}]
    assert client.post("/oauth2/token", data=CLIENT_CREDENTIALS, auth=(client_id, secret)).status_code == 200


def test_a_method_other_than_the_registered_one_is_invalid_client(client: TestClient) -> None:
    post_client = machine_client(client, auth_method="client_secret_post")
    client_id, secret = post_client.client.client_id, secret_of(post_client)

    by_header = client.post("/oauth2/token", data=CLIENT_CREDENTIALS, auth=(client_id, secret))
    by_body = client.post(
        "/oauth2/token", data={**CLIENT_CREDENTIALS, "client_id": client_id, "client_secret": secret}
    )

    assert by_header.status_code == 401 and by_header.json()["error"] == "invalid_client"
    assert by_body.status_code == 200, by_body.text
