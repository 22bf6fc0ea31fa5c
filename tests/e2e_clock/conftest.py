"""Browser journeys whose server's clock the test moves (a snooze of days, a one-minute window).

`keyturn serve` reads the system clock, so this package runs the same app (`create_app`) in
uvicorn on a thread of the test process, with a `ShiftedClock`: real time plus an offset the
test advances. It is a package of its own so that its server is the only one on the database
while it runs (as tests/e2e_mail). Chromium, Playwright and the per-test contexts are the
e2e package's fixtures; `server` is this package's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn

from keyturn.app import create_app
from keyturn.settings import Settings
from tests.conftest import _reset
from tests.e2e.conftest import (  # noqa: F401 - fixtures and hooks, shared as they are
    TEST_FAILED,
    KeyturnServer,
    browser,
    context,
    page,
    playwright,
    pytest_runtest_makereport,
    run_async,
    seeded_rows,
    virtual_authenticator,
)
from tests.support.server import free_port, keyturn_env

STARTUP_SECONDS = 30


@dataclass
class ShiftedClock:
    """The system clock plus an offset that only moves forward, when a test says so."""

    offset: timedelta = field(default_factory=timedelta)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


@dataclass(frozen=True)
class ClockedServer(KeyturnServer):
    clock: ShiftedClock = field(default_factory=ShiftedClock)


@pytest.fixture(scope="package")
def clocked_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClockedServer]:
    run_async(lambda: _reset(database_url))
    data_dir: Path = tmp_path_factory.mktemp("keyturn-e2e-clock")
    port = free_port()
    base_url = f"http://localhost:{port}"
    clock = ShiftedClock()
    settings = Settings(database_url=database_url, data_dir=data_dir, public_url=base_url)
    log_path = data_dir / "server.log"
    handler = logging.FileHandler(log_path)
    logging.getLogger("keyturn").addHandler(handler)
    config = uvicorn.Config(
        create_app(settings, clock=clock),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="keyturn-e2e-clock", daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(STARTUP_SECONDS * 20):
        if server.started:
            started.set()
            break
        started.wait(0.05)
    assert server.started, f"the server did not start:\n{log_path.read_text(errors='replace')}"
    try:
        yield ClockedServer(
            base_url=base_url,
            database_url=database_url,
            env=keyturn_env(data_dir=data_dir, database_url=database_url, port=port),
            log_path=log_path,
            seeded=run_async(lambda: seeded_rows(database_url)),
            clock=clock,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        logging.getLogger("keyturn").removeHandler(handler)
        handler.close()


@pytest.fixture
def server(clocked_server: ClockedServer, request: pytest.FixtureRequest) -> Iterator[ClockedServer]:
    """This package's server on an empty database, its clock back to the real time; its log is
    shown when a test fails."""
    clocked_server.reset()
    clocked_server.clock.offset = timedelta()
    yield clocked_server
    if request.node.stash.get(TEST_FAILED, False):
        print(f"--- keyturn log (tail) ---\n{clocked_server.log_tail()}")
