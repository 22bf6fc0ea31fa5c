"""The database as a running server meets it: a pooled connection that died while idle, and
a schema behind the code's migrations.

No connection is pinged at checkout (issue 8): a connection PostgreSQL closed while it sat
in the pool is found by the first statement of the next transaction, which `SqlTxBase._run`
retries once on a fresh connection, so the request still succeeds. `/health/ready` says
503 while the schema is not at the migrations' head.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from keyturn.store.sql.engine import create_engine
from keyturn.store.sql.migrate import alembic_config, head_revision
from tests.support import browser

ADA = "ada@example.com"
PASSWORD = "correct horse battery staple"

# The app's connections: every other client backend on the test's own database (the suite
# runs one test at a time per database; this test's own killing connection is left out).
_APP_BACKENDS = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
)


def _kill_pooled_connections(database_url: str) -> int:
    """Terminate the backends of the app's idle pooled connections; wait until they are gone."""

    async def kill() -> int:
        engine = create_engine(database_url)
        try:
            # Autocommit: within one transaction pg_stat_activity is one snapshot.
            async with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
                pids = list((await conn.execute(text(_APP_BACKENDS))).scalars())
                for pid in pids:
                    await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                deadline = time.monotonic() + 10
                while set(pids) & set((await conn.execute(text(_APP_BACKENDS))).scalars()):
                    assert time.monotonic() < deadline, "terminated backends did not exit"
                    await asyncio.sleep(0.01)  # a backend's exit cannot be awaited from here
                return len(pids)
        finally:
            await engine.dispose()

    return asyncio.run(kill())


@pytest.mark.postgresql  # a database server closing pooled connections: SQLite has none
def test_a_pooled_connection_the_server_closed_is_replaced_for_a_read_and_a_write(
    client: TestClient, clean_database: str
) -> None:
    assert browser.signup_with_password(client, ADA, PASSWORD).status_code == 200
    assert client.get("/account").status_code == 200  # the pool now holds idle connections

    assert _kill_pooled_connections(clean_database) >= 1
    read = client.get("/account", follow_redirects=False)
    assert read.status_code == 200, read.text

    assert _kill_pooled_connections(clean_database) >= 1
    browser.sign_out(client)  # a write: the session ends
    assert client.get("/account", follow_redirects=False).status_code == 303

    assert _kill_pooled_connections(clean_database) >= 1
    write = browser.login_with_password(client, ADA, PASSWORD)
    assert write.status_code == 200, write.text
    assert client.get("/account", follow_redirects=False).status_code == 200


@contextmanager
def _schema_one_revision_behind(database_url: str) -> Iterator[None]:
    """alembic_version says the revision before head (the tables stay as they are); restored."""
    from alembic.script import ScriptDirectory

    head = head_revision()
    assert head is not None
    previous = ScriptDirectory.from_config(alembic_config()).get_revision(head).down_revision
    assert isinstance(previous, str), "head has one parent"

    async def stamp(revision: str) -> None:
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
        finally:
            await engine.dispose()

    asyncio.run(stamp(previous))
    try:
        yield
    finally:
        asyncio.run(stamp(head))


def test_ready_is_503_while_the_schema_is_behind_the_migrations_head(
    client: TestClient, clean_database: str
) -> None:
    assert client.get("/health/ready").status_code == 200

    with _schema_one_revision_behind(clean_database):
        behind = client.get("/health/ready")
        live = client.get("/health/live")

    assert behind.status_code == 503, behind.text
    assert behind.json() == {"status": "unavailable"}
    assert behind.headers["retry-after"]
    assert live.status_code == 200  # the process is up all the same
    assert client.get("/health/ready").status_code == 200
