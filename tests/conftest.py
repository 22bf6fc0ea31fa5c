"""Fixtures every suite shares: a database per backend, an app on it, a browser-like client.

The backend comes from KEYTURN_TEST_DATABASE (`sqlite`, the default, or `postgresql`);
CI runs the whole suite on SQLite, then again on PostgreSQL every test that reaches the
configured backend (KEYTURN_TEST_BACKEND_ONLY=1, see `pytest_collection_modifyitems`).
PostgreSQL is at KEYTURN_TEST_POSTGRES_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from keyturn.app import create_app
from keyturn.clock import FrozenClock
from keyturn.settings import Settings
from keyturn.store.sql.engine import create_engine
from keyturn.store.sql.migrate import upgrade_to_head
from keyturn.store.sql.tables import metadata
from tests.support.smtp import SmtpServer, smtp_server
from tests.support.soft_authenticator import SoftAuthenticator

# Tests change the configuration from "another process" (the CLI, a second runtime) and look
# at once: every process of the suite checks the config version on every request. The default
# interval has its own test (tests/flows/test_config_freshness.py).
os.environ.setdefault("KEYTURN_CONFIG_CHECK_SECONDS", "0")

BASE_URL = "http://localhost:8000"
BACKEND = os.environ.get("KEYTURN_TEST_DATABASE", "sqlite")
POSTGRES_URL = os.environ.get(
    "KEYTURN_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


# Set by scripts/test for the PostgreSQL pass, which follows a whole pass on SQLite.
BACKEND_ONLY = os.environ.get("KEYTURN_TEST_BACKEND_ONLY", "") == "1"


def pytest_report_header() -> str:
    scope = ", only the tests that reach it (KEYTURN_TEST_BACKEND_ONLY=1)" if BACKEND_ONLY else ""
    return f"keyturn database backend: {BACKEND}{scope}"


# Whether every test selected here was left to the SQLite pass (`./scripts/test tests/unit`).
ONLY_OTHER_PASS = pytest.StashKey[bool]()


def reaches_backend(item: pytest.Item) -> bool:
    """Whether a test can behave differently on another database backend.

    Every way into the configured backend goes through the `database_url` fixture (the
    in-process app's `settings`, `clean_database`, the e2e and protection servers, the CLI
    fixtures); a test whose fixture closure lacks it runs on nothing but its own code, its own
    temporary SQLite file or Redis, and gives the same result on either backend's pass.
    """
    return "database_url" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With KEYTURN_TEST_BACKEND_ONLY=1, deselect (not skip) the tests that never reach the
    configured backend: the pass before this one, on SQLite, ran them, and a second run would
    only repeat it. Every test still runs at least once per CI; the count deselected, per
    directory, is printed so that a review sees what this pass left to the other one.

    Tests marked `postgresql` test something only PostgreSQL has (a database server that
    closes pooled connections): the SQLite pass deselects them, the PostgreSQL pass runs them."""
    if BACKEND != "postgresql":
        only_postgresql = [item for item in items if item.get_closest_marker("postgresql")]
        names = ", ".join(item.nodeid for item in only_postgresql)
        _deselect(config, items, only_postgresql, f"PostgreSQL-only tests deselected: {names}")
    if not BACKEND_ONLY:
        return
    if BACKEND == "sqlite":
        raise pytest.UsageError(
            "KEYTURN_TEST_BACKEND_ONLY=1 is for a second pass after a whole one on SQLite, not for SQLite"
        )
    left = [item for item in items if not reaches_backend(item)]
    if not left:
        return
    per_directory = Counter(item.nodeid.split("/")[1] for item in left if item.nodeid.startswith("tests/"))
    detail = ", ".join(f"{directory} {count}" for directory, count in sorted(per_directory.items()))
    why = (
        f"tests deselected by KEYTURN_TEST_BACKEND_ONLY: none reaches the {BACKEND} backend"
        f" (no database_url fixture), the SQLite pass ran them: {detail}"
    )
    _deselect(config, items, left, why)
    config.stash[ONLY_OTHER_PASS] = not items


def _deselect(config: pytest.Config, items: list[pytest.Item], left: list[pytest.Item], why: str) -> None:
    """Take `left` out of this run, saying how many and why."""
    if not left:
        return
    config.hook.pytest_deselected(items=left)
    items[:] = [item for item in items if item not in left]
    if (reporter := config.pluginmanager.get_plugin("terminalreporter")) is not None:
        reporter.write_line(f"{len(left)} {why}")


# The databases this run has brought to head: nothing in the suite takes a schema back down,
# so one upgrade per database and run is enough (Alembic's no-op check costs about as much as
# emptying every table, and the reset runs before nearly every test).
_AT_HEAD: set[str] = set()


async def _reset(url: str) -> None:
    """Bring the schema to head (the first time in this run), then empty every table (children first)."""
    engine = create_engine(url)
    try:
        if url not in _AT_HEAD:
            await upgrade_to_head(engine)
            _AT_HEAD.add(url)
        async with engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                await conn.execute(text(f"DELETE FROM {table.name}"))  # noqa: S608 - our own table names
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    if BACKEND == "postgresql":
        return POSTGRES_URL
    if BACKEND != "sqlite":
        raise pytest.UsageError(f"KEYTURN_TEST_DATABASE={BACKEND!r}: use sqlite or postgresql")
    path: Path = tmp_path_factory.mktemp("db") / "keyturn.db"
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def clean_database(database_url: str) -> str:
    asyncio.run(_reset(database_url))
    return database_url


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))


@pytest.fixture
def settings(clean_database: str, tmp_path: Path) -> Settings:
    return Settings(database_url=clean_database, data_dir=tmp_path, public_url=BASE_URL)


@pytest.fixture
def client(settings: Settings, clock: FrozenClock) -> Iterator[TestClient]:
    """A client that keeps cookies like a browser and sends the page's Origin."""
    app = create_app(settings, clock=clock)
    with TestClient(app, base_url=BASE_URL, headers={"origin": BASE_URL}) as test_client:
        yield test_client


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server on loopback; its `inbox` is what Keyturn sent."""
    with smtp_server() as server:
        yield server


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A PostgreSQL pass whose tests all belong to the SQLite pass ran nothing, and failed
    nothing: not "no tests collected" (exit 5), which would stop scripts/test."""
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and session.config.stash.get(ONLY_OTHER_PASS, False):
        session.exitstatus = pytest.ExitCode.OK
