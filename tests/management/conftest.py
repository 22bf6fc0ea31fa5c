"""Shared by the /api/v2 tests: a machine client with a bearer token, Auth0's error shape,
storage snapshots for "a refusal changed nothing", and the event log read back.

`api` calls the management API with a client_credentials JWT holding every management
scope unless a test asks for others (`api.get(path, scopes=("read:users",))`); each scope
set gets its own registered client, minted once and cached, so a test that snapshots
storage first asks for its tokens (`api.token(...)`) and then takes the snapshot.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import pytest
from httpx2 import Response
from keyturn.events.log import FLUSH_INTERVAL_SECONDS
from starlette.testclient import TestClient

from keyturn.domain.identity import Passkey, User
from keyturn.management.auth import MANAGEMENT_SCOPES
from keyturn.oidc.clients import NewClient
from keyturn.runtime import Runtime
from tests.support import browser, oidc, store

API = "/api/v2"
AUDIENCE = "http://localhost:8000/api/v2/"
PASSWORD = "correct horse battery staple"
ALL_SCOPES: tuple[str, ...] = MANAGEMENT_SCOPES


def secret_of(registered: NewClient) -> str:
    assert registered.secret is not None
    return registered.secret


def client_credentials(client: TestClient, registered: NewClient, **form: str) -> Response:
    return client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", **form},
        auth=(registered.client.client_id, secret_of(registered)),
    )


def machine_client(client: TestClient, scopes: Iterable[str], **options: Any) -> NewClient:
    """A confidential client_credentials client (management scopes add the API audience)."""
    options.setdefault("name", "ops")
    options.setdefault("redirect_uris", [])
    options.setdefault("grant_types", ["client_credentials"])
    return oidc.register(client, scopes=list(scopes), **options)


@dataclass
class Api:
    """The management API as an operator's script calls it."""

    client: TestClient
    machines: dict[frozenset[str], NewClient] = field(default_factory=dict)
    tokens: dict[frozenset[str], str] = field(default_factory=dict)
    requests_sent: int = 0  # by anyone on this client: each may have recorded events
    drained_after: int = -1

    def __post_init__(self) -> None:
        self.client.event_hooks["request"].append(self._count_request)

    def _count_request(self, request: Any) -> None:
        self.requests_sent += 1

    def machine(self, scopes: Iterable[str] = ALL_SCOPES) -> NewClient:
        key = frozenset(scopes)
        if key not in self.machines:
            self.machines[key] = machine_client(self.client, sorted(key), name=f"ops {len(self.machines)}")
        return self.machines[key]

    @property
    def client_id(self) -> str:
        """The client behind the default (all-scopes) token."""
        return self.machine().client.client_id

    def token(self, scopes: Iterable[str] = ALL_SCOPES) -> str:
        key = frozenset(scopes)
        if key not in self.tokens:
            response = client_credentials(self.client, self.machine(key))
            assert response.status_code == 200, response.text
            self.tokens[key] = response.json()["access_token"]
        return self.tokens[key]

    def request(
        self,
        method: str,
        path: str,
        *,
        scopes: Iterable[str] = ALL_SCOPES,
        token: str | None = None,
        **kwargs: Any,
    ) -> Response:
        bearer = token if token is not None else self.token(scopes)
        headers = {"authorization": f"Bearer {bearer}", **kwargs.pop("headers", {})}
        return self.client.request(method, API + path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Response:
        return self.request("DELETE", path, **kwargs)

    def ok(self, response: Response, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    # --- conveniences -------------------------------------------------------------------

    def create_user(self, email: str, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = self.ok(self.post("/users", json={"email": email, **fields}), 201)
        return body

    def logs(self, **params: Any) -> Any:
        """GET /logs once every event so far is written (reads record none, so two reads in a
        row need only one wait)."""
        self.token()  # minted first: minting records an event (seccft)
        if self.drained_after != self.requests_sent:
            flush_events(self.client)
        found = self.ok(self.get("/logs", params=params))
        self.drained_after = self.requests_sent
        return found


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


# --- assertions -------------------------------------------------------------------------


def assert_error(response: Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Auth0's error body: exactly statusCode, error (the reason phrase), message, errorCode."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"statusCode", "error", "message", "errorCode"}, body
    assert body["statusCode"] == status
    assert body["error"] == HTTPStatus(status).phrase
    assert isinstance(body["message"], str) and body["message"]
    if code is not None:
        assert body["errorCode"] == code, body
    return body


def b64url_json(part: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A JWT's header and claims, unverified, and its signature."""
    header, payload, signature = token.split(".")
    return b64url_json(header), b64url_json(payload), signature


# --- storage ----------------------------------------------------------------------------


storage = browser.storage  # every row of every table but the event log, for "nothing changed"


async def _drain_events(rt: Runtime) -> None:
    """Until every event recorded so far is in the database. `EventLog.flush` writes what is
    queued, but a batch the background writer already holds may still be on its way, so flush
    and watch the stored count until it has stayed put for a while."""
    loop = asyncio.get_running_loop()
    quiet_for = 2 * FLUSH_INTERVAL_SECONDS + 0.1
    deadline = loop.time() + 15
    last_total, since = -1, loop.time()
    while True:
        await rt.events.flush()
        _, total = await rt.store.query_events(limit=1)
        now = loop.time()
        if total != last_total:
            last_total, since = total, now
        elif now - since >= quiet_for:
            return
        assert now < deadline, "the event log never settled"
        await asyncio.sleep(0.05)


def flush_events(client: TestClient) -> None:
    """Every event recorded so far is written (call before reading /api/v2/logs)."""
    browser.call(client, _drain_events)


def find_user(client: TestClient, email: str) -> User:
    user = store.write(client, lambda tx: tx.find_user_by_email(email))
    assert user is not None, email
    return user


def get_user(client: TestClient, user_id: str) -> User | None:
    return store.write(client, lambda tx: tx.get_user(user_id))


def passkeys_of(client: TestClient, user_id: str) -> list[Passkey]:
    return store.write(client, lambda tx: tx.list_passkeys(user_id))
