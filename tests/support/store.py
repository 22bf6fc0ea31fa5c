"""Reading and changing what Keyturn stored, from tests, through the app's own database.

Everything runs inside the TestClient's event loop (`browser.call`), each call in its own
transaction, as a CLI command would. Events are written before a response is sent, so a
test reads them right after the request that made them, with no waiting.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select
from starlette.testclient import TestClient

from keyturn.context import Context
from keyturn.domain.events import Event
from keyturn.domain.identity import Passkey, User
from keyturn.domain.session import Session
from keyturn.ids import hash_token
from keyturn.operations.audit import CLI
from keyturn.operations.tenant_config import PatchOperation, patch_tenant
from keyturn.runtime import Runtime
from keyturn.store.protocols import ReadTx, WriteTx
from keyturn.store.sql.database import SqlDatabase
from keyturn.store.sql.tables import outbox
from keyturn.wiring import command_context
from tests.support.browser import call

T = TypeVar("T")


def read(client: TestClient, query: Callable[[ReadTx], Awaitable[T]]) -> T:
    async def work(rt: Runtime) -> T:
        async with rt.db.read() as tx:
            return await query(tx)

    return call(client, work)


def write(client: TestClient, change: Callable[[WriteTx], Awaitable[T]]) -> T:
    async def work(rt: Runtime) -> T:
        async with rt.db.write() as tx:
            result = await change(tx)
            await tx.bump_config_version()  # what a test changes, every worker must see
            return result

    return call(client, work)


def in_context(client: TestClient, work: Callable[[Context], Awaitable[T]]) -> T:
    """Run `work` as one command would: its own Context, stored when it ends."""

    async def run(rt: Runtime) -> T:
        async with command_context(rt) as ctx:
            return await work(ctx)

    return call(client, run)


def find_user(client: TestClient, email: str) -> User | None:
    return read(client, lambda tx: tx.find_user_by_email(email))


def user_of(client: TestClient, email: str) -> User:
    user = find_user(client, email)
    assert user is not None, f"no user {email}"
    return user


def get_user(client: TestClient, user_id: str) -> User | None:
    return read(client, lambda tx: tx.get_user(user_id))


def passkeys_of(client: TestClient, user_id: str) -> list[Passkey]:
    return read(client, lambda tx: tx.list_passkeys(user_id))


def find_passkey(client: TestClient, credential_id: bytes) -> Passkey | None:
    return read(client, lambda tx: tx.find_passkey(credential_id))


def set_tenant(client: TestClient, path: str, value: object) -> None:
    """`keyturn config patch --replace path=value`, validated as the CLI does."""
    in_context(client, lambda ctx: patch_tenant(ctx, [PatchOperation("replace", path, value)], actor=CLI))


def events_of(client: TestClient, *types: str, user_id: str | None = None, limit: int = 200) -> list[Event]:
    """Stored events, oldest first (optionally only these types, or this user's)."""

    async def query(tx: ReadTx) -> list[Event]:
        found, _ = await tx.query_events(types=types, user_id=user_id, limit=limit, newest_first=False)
        return found

    return read(client, query)


def find_session(client: TestClient, token: str, *, now: datetime) -> Session | None:
    """The live session behind a session cookie's value."""
    found = read(client, lambda tx: tx.find_session(hash_token(token), now=now))
    return found[0] if found else None


def queued_templates(client: TestClient) -> list[str]:
    """The templates of every message in the outbox (queued or sent), oldest first."""

    async def work(rt: Runtime) -> list[str]:
        assert isinstance(rt.db, SqlDatabase)
        async with rt.db.engine.connect() as conn:
            rows = await conn.execute(select(outbox.c.template).order_by(outbox.c.created_at))
            return [row.template for row in rows]

    return call(client, work)
