"""The e2e harness: one real `keyturn serve` and one Chromium for the e2e package, a clean
database per test, and a fresh browser context with a fresh virtual authenticator per test.

The server gets the same database as the rest of the suite (KEYTURN_TEST_DATABASE picks
sqlite or postgresql, see tests/conftest.py). Playwright's sync API runs an event loop in
this thread, so every database call here runs `asyncio.run` in a worker thread.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from sqlalchemy import Table, func, insert, select

from keyturn.store.sql.engine import create_engine
from keyturn.store.sql.tables import instance_facts, secrets, tenant_settings
from tests.conftest import _reset
from tests.e2e.pages import PLATFORM_AUTHENTICATOR, VirtualAuthenticator
from tests.support.cli import Keyturn
from tests.support.server import free_port, running_server

CHROMIUM = os.environ.get("KEYTURN_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IN_CI = os.environ.get("CI", "").lower() in {"true", "1", "yes"}
# scripts/test sets KEYTURN_REQUIRE_BROWSER=1: there, a missing Chromium fails the run too.
BROWSER_REQUIRED = IN_CI or os.environ.get("KEYTURN_REQUIRE_BROWSER", "").lower() in {"true", "1", "yes"}
T = TypeVar("T")
# What `keyturn serve` writes on its first start (tenant seed, shared secrets, its public URL).
SEEDED_TABLES = (tenant_settings, secrets, instance_facts)
Rows = dict[str, list[dict[str, Any]]]


def run_async(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion in its own thread and loop (this thread has Playwright's)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result()


@dataclass(frozen=True)
class KeyturnServer:
    """A running `keyturn serve`, and the operator's tools around it (CLI, database)."""

    base_url: str
    database_url: str
    env: dict[str, str]
    log_path: Path
    seeded: Rows  # the SEEDED_TABLES as the server left them on its first start

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def cli(self, *args: str) -> str:
        """Run `keyturn <args>` with the server's settings, as an operator would: in this process
        (tests/support/cli.py), in a worker thread since this one has Playwright's loop."""
        with ThreadPoolExecutor(max_workers=1) as pool:
            code, out, err = pool.submit(lambda: Keyturn.like(self.env)(*args)).result()
        assert code == 0, f"keyturn {' '.join(args)} failed:\n{err}"
        return out

    def set_challenge_ui(self, mode: str) -> None:
        """Read by the server on its next request: tenant settings live in the database."""
        self.cli("config", "patch", "--replace", f"/passkey_options/challenge_ui={mode}")

    def offer_no_passkeys(self) -> None:
        """Password sign-ins go straight on, with no passkey offered after them (that journey
        has its own browser tests: tests/e2e_clock)."""
        self.cli("config", "patch", "--replace", "/passkey_options/progressive_enrollment_enabled=false")

    def count(self, table: Table) -> int:
        async def query() -> int:
            engine = create_engine(self.database_url)
            try:
                async with engine.connect() as conn:
                    return int(await conn.scalar(select(func.count()).select_from(table)) or 0)
            finally:
                await engine.dispose()

        return run_async(query)

    def rows(self, table: Table) -> list[dict[str, Any]]:
        async def query() -> list[dict[str, Any]]:
            engine = create_engine(self.database_url)
            try:
                async with engine.connect() as conn:
                    return [dict(row._mapping) for row in await conn.execute(select(table))]
            finally:
                await engine.dispose()

        return run_async(query)

    def reset(self) -> None:
        """Back to the database the server started on: every table emptied, then what its first
        start wrote put back under a new config version.

        The running server caches tenant settings, hooks, clients and keys until the config
        version moves (keyturn.store.cache), as every change through Keyturn makes it move.
        Emptying the tables would restart that version, and the server would keep serving
        the previous test's hooks and settings.
        """
        run_async(lambda: restore_first_start(self.database_url, self.seeded))


async def seeded_rows(database_url: str) -> Rows:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return {
                table.name: [dict(row._mapping) for row in await conn.execute(select(table))]
                for table in SEEDED_TABLES
            }
    finally:
        await engine.dispose()


async def restore_first_start(database_url: str, seeded: Rows) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            seen = int(await conn.scalar(select(func.max(tenant_settings.c.version))) or 0)
    finally:
        await engine.dispose()
    await _reset(database_url)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            for table in SEEDED_TABLES:
                rows = seeded[table.name]
                if table is tenant_settings:
                    rows = [{**row, "version": max(seen, int(row["version"])) + 1} for row in rows]
                if rows:
                    await conn.execute(insert(table), rows)
    finally:
        await engine.dispose()


@pytest.fixture(scope="package")
def keyturn_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyturnServer]:
    """`keyturn serve` on a free port, stopped after the e2e tests whatever happens."""
    run_async(lambda: _reset(database_url))
    data_dir = tmp_path_factory.mktemp("keyturn-e2e")
    port = free_port()
    # The CLI seeds the tenant from the public URL too when the row is missing,
    # so both must agree on it (the origin passkeys are bound to).
    extra = {"KEYTURN_PUBLIC_URL": f"http://localhost:{port}"}
    with running_server(port=port, data_dir=data_dir, database_url=database_url, extra_env=extra) as running:
        yield KeyturnServer(
            base_url=running.base_url,
            database_url=database_url,
            env=running.env,
            log_path=running.log_path,
            seeded=run_async(lambda: seeded_rows(database_url)),
        )


TEST_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember a failed test so its server fixture can show the server's log."""
    report = yield
    if report.failed:
        item.stash[TEST_FAILED] = True
    return report


@pytest.fixture
def server(keyturn_server: KeyturnServer, request: pytest.FixtureRequest) -> Iterator[KeyturnServer]:
    """The e2e server, on an empty database; its log is shown when a test fails."""
    keyturn_server.reset()
    yield keyturn_server
    if request.node.stash.get(TEST_FAILED, False):
        print(f"--- keyturn serve log (tail) ---\n{keyturn_server.log_tail()}")


# Package scope, not session: Playwright's sync API keeps an event loop running in this
# thread while it lives, and the rest of the suite calls asyncio.run() in this thread.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (set KEYTURN_E2E_CHROMIUM)"
        if BROWSER_REQUIRED:
            pytest.fail(
                f"{message}: the e2e tests must run here (CI or KEYTURN_REQUIRE_BROWSER)", pytrace=False
            )
        pytest.skip(message)
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def context(browser: Browser, server: KeyturnServer) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=server.base_url)
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def virtual_authenticator(context: BrowserContext, page: Page) -> VirtualAuthenticator:
    """A platform authenticator that answers by itself (presence and UV always given)."""
    return VirtualAuthenticator.attach(context, page, PLATFORM_AUTHENTICATOR)
