"""Shared by the /api/v2 tests: a machine client with a bearer token, Auth0's error shape,
and the event log read back.

`api` calls the management API with a client_credentials JWT holding every management
scope unless a test asks for others (`api.get(path, scopes=("read:users",))`); each scope
set gets its own registered client, minted once and cached, so a test that snapshots
storage (`tests.support.browser.storage`) first asks for its tokens (`api.token(...)`) and
then takes the snapshot.

Events are written before a response is sent, in the transaction of what they record, so
`api.logs()` (or `tests.support.store.events_of`) sees them right after the request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import pytest
from httpx2 import Response
from starlette.testclient import TestClient

from keyturn.domain.oidc import MANAGEMENT_SCOPES
from keyturn.oidc.clients import NewClient
from tests.support import oidc

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
        """GET /logs: every event recorded by a request already answered is there, no waiting."""
        return self.ok(self.get("/logs", params=params))


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
