"""Drive the hosted pages' JSON calls the way keyturn.js does, over a TestClient."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from httpx2 import Response
from sqlalchemy import select
from starlette.testclient import TestClient

from keyturn.background import in_background_task
from keyturn.runtime import Runtime
from keyturn.store.sql.database import SqlDatabase
from keyturn.store.sql.tables import metadata
from tests.support.soft_authenticator import SoftAuthenticator

ORIGIN = "http://localhost:8000"
_PAGE_DATA = re.compile(r'<script type="application/json" id="kt-page">(.*?)</script>', re.S)
T = TypeVar("T")


@dataclass(frozen=True)
class PageFlow:
    flow_id: str
    csrf: str
    data: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"x-csrf-token": self.csrf}


def page_data(response: Response) -> dict[str, Any]:
    match = _PAGE_DATA.search(response.text)
    assert match, "page has no kt-page data"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def open_page(client: TestClient, path: str) -> PageFlow:
    response = client.get(path)
    assert response.status_code == 200, response.text
    data = page_data(response)
    return PageFlow(flow_id=data.get("flow_id", ""), csrf=data["csrf"], data=data)


def runtime(client: TestClient) -> Runtime:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return rt


def call(client: TestClient, work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run an async store query inside the app's event loop (to assert what was persisted)."""
    rt = runtime(client)
    portal = client.portal
    assert portal is not None, "use the client inside its `with` block"

    async def run() -> T:
        return await work(rt)

    return portal.call(run)


def signup_options(client: TestClient, email: str) -> tuple[PageFlow, dict[str, Any]]:
    flow = open_page(client, "/signup")
    response = client.post(
        f"/signup/flows/{flow.flow_id}/passkey/options", json={"email": email}, headers=flow.headers
    )
    assert response.status_code == 200, response.text
    return flow, response.json()


def signup_with_passkey(client: TestClient, authenticator: SoftAuthenticator, email: str) -> Response:
    flow, options = signup_options(client, email)
    credential = authenticator.create(options, origin=ORIGIN)
    return client.post(
        f"/signup/flows/{flow.flow_id}",
        json={"method": "passkey", "credential": credential},
        headers=flow.headers,
    )


def signup_with_password(client: TestClient, email: str, password: str) -> Response:
    flow = open_page(client, "/signup")
    return client.post(
        f"/signup/flows/{flow.flow_id}",
        json={"method": "password", "email": email, "password": password},
        headers=flow.headers,
    )


def login_options(client: TestClient) -> tuple[PageFlow, dict[str, Any]]:
    flow = open_page(client, "/login")
    response = client.post(f"/login/flows/{flow.flow_id}/passkey/options", headers=flow.headers)
    assert response.status_code == 200, response.text
    return flow, response.json()


def submit_passkey_login(client: TestClient, flow: PageFlow, credential: dict[str, Any]) -> Response:
    return client.post(
        f"/login/flows/{flow.flow_id}",
        json={"method": "passkey", "credential": credential},
        headers=flow.headers,
    )


def login_with_passkey(client: TestClient, authenticator: SoftAuthenticator, **get_kwargs: Any) -> Response:
    flow, options = login_options(client)
    credential = authenticator.get(options, origin=ORIGIN, **get_kwargs)
    return submit_passkey_login(client, flow, credential)


def login_with_password(client: TestClient, email: str, password: str) -> Response:
    flow = open_page(client, "/login")
    return client.post(
        f"/login/flows/{flow.flow_id}",
        json={"method": "password", "email": email, "password": password},
        headers=flow.headers,
    )


def sign_out(client: TestClient) -> None:
    account = open_page(client, "/account")
    response = client.post("/logout", data={"csrf": account.csrf}, follow_redirects=False)
    assert response.status_code == 303


def run(coro: Awaitable[T]) -> T:
    """For code outside any app (store-level tests)."""

    async def wrap() -> T:
        return await coro

    return asyncio.run(wrap())


# What a refusal keeps on purpose: its failure events, and the spent challenge (a challenge
# works once, even for a ceremony that then fails).
# Attack protection counts every attempt (`rate_limits`), whatever its outcome.
KEPT_ON_REFUSAL = frozenset({"events", "spent_challenges", "rate_limits"})
# Of the outbox, what a request stored (which message, to whom): its delivery state is the
# background sender's, and moves on by itself between two snapshots.
_STORED_COLUMNS = {"outbox": ("id", "template", "to_address", "user_id", "created_at")}


async def _all_rows(rt: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but those a refusal keeps, in primary-key order."""
    engine = cast(SqlDatabase, rt.db).engine
    rows: dict[str, list[tuple[Any, ...]]] = {}
    async with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in KEPT_ON_REFUSAL:
                continue
            columns = _STORED_COLUMNS.get(table.name)
            query = select(*(table.c[name] for name in columns)) if columns else select(table)
            result = await conn.execute(query.order_by(*table.primary_key.columns))
            rows[table.name] = [tuple(row) for row in result]
    return rows


def storage(client: TestClient) -> dict[str, list[tuple[Any, ...]]]:
    """A snapshot of everything stored: what "a refusal changes nothing" is checked against."""
    return call(client, _all_rows)


def statement_counter(client: TestClient) -> Callable[[], int]:
    """Count the SQL statements the app's requests run from now on (not its background loops');
    calling the result stops and reads it."""
    db = cast(SqlDatabase, runtime(client).db)
    previous = db.observer
    counted = [0]

    def observe(kind: str, statements: int, seconds: float, committed: bool) -> None:
        if not in_background_task():
            counted[0] += statements
        if previous is not None:
            previous(kind, statements, seconds, committed)

    db.observer = observe

    def stop() -> int:
        db.observer = previous
        return counted[0]

    return stop


def transaction_counter(client: TestClient) -> Callable[[], dict[str, int]]:
    """Count the app's requests' transactions by kind ("read", "write") from now on, as
    `statement_counter` counts statements; calling the result stops and reads it."""
    db = cast(SqlDatabase, runtime(client).db)
    previous = db.observer
    counted = {"read": 0, "write": 0}

    def observe(kind: str, statements: int, seconds: float, committed: bool) -> None:
        if not in_background_task():
            counted[kind] += 1
        if previous is not None:
            previous(kind, statements, seconds, committed)

    db.observer = observe

    def stop() -> dict[str, int]:
        db.observer = previous
        return dict(counted)

    return stop
