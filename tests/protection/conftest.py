"""The protection suites: the management API helper of tests/management, reused, and `pair`:
two real instances (the first with `--workers 2`) on one database or one Redis, started once
per module that asks for them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
from starlette.testclient import TestClient

from keyturn.app import create_app
from keyturn.clock import FrozenClock
from keyturn.settings import Settings
from tests.conftest import BASE_URL, _reset
from tests.management.conftest import Api
from tests.support.cli import Keyturn
from tests.support.redis import TEST_REDIS_URL
from tests.support.server import RunningServer, free_port, running_server


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


REDIS_URL = TEST_REDIS_URL
PEER = ("198.51.100.7", 5000)


def _flush_redis() -> None:
    import redis

    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.flushdb()
    finally:
        connection.close()


@pytest.fixture(params=["database", "redis"])
def counters(request: pytest.FixtureRequest) -> str | None:
    """Where the throttles count: the database, or Redis (the run's own db, emptied first)."""
    if request.param == "redis":
        _flush_redis()
        return REDIS_URL
    return None


@pytest.fixture
def peer_client(
    clean_database: str, tmp_path: Path, clock: FrozenClock, counters: str | None
) -> Iterator[TestClient]:
    """The app, its counters on the database or on Redis, reached from 198.51.100.7."""
    settings = Settings(
        database_url=clean_database, data_dir=tmp_path, public_url=BASE_URL, redis_url=counters
    )
    app = create_app(settings, clock=clock)
    with TestClient(app, base_url=BASE_URL, headers={"origin": BASE_URL}, client=PEER) as test_client:
        yield test_client


# --- two instances counting in one place (the first with two workers) ------------------------


@dataclass(frozen=True)
class Pair:
    """Two instances (the first with two workers) counting in one place."""

    first: RunningServer
    second: RunningServer
    public: str

    @property
    def urls(self) -> tuple[str, str]:
        return self.first.base_url, self.second.base_url

    def cli(self, *args: str) -> str:
        """`keyturn <args>` with the first instance's settings (in this process, tests/support/cli.py)."""
        code, out, err = Keyturn.like(self.first.env)(*args)
        assert code == 0, out + err
        return out

    def patch(self, *assignments: str) -> None:
        self.cli("config", "patch", *(f"--replace={a}" for a in assignments))

    def client(self) -> httpx2.Client:
        """A browser that opens a new connection for every request, so that SO_REUSEPORT hands
        them to either worker of the first instance."""
        return httpx2.Client(
            headers={"origin": self.public},
            timeout=10,
            limits=httpx2.Limits(max_keepalive_connections=0),
        )


@pytest.fixture(scope="module", params=["database", "redis"])
def pair(
    request: pytest.FixtureRequest, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    asyncio.run(_reset(database_url))
    extra: dict[str, str] = {}
    if request.param == "redis":
        _flush_redis()
        extra["KEYTURN_REDIS_URL"] = REDIS_URL
    port_a, port_b = free_port(), free_port()
    public = f"http://localhost:{port_a}"
    extra |= {
        "KEYTURN_PUBLIC_URL": public,
        "KEYTURN_TENANT": json.dumps({"rp": {"id": "localhost", "origins": [public]}}),
    }
    data_dir = tmp_path_factory.mktemp(f"rate-limits-{request.param}")
    with ExitStack() as stack:
        first = stack.enter_context(
            running_server(
                port=port_a, data_dir=data_dir, database_url=database_url, workers=2, extra_env=extra
            )
        )
        second = stack.enter_context(
            running_server(port=port_b, data_dir=data_dir, database_url=database_url, extra_env=extra)
        )
        yield Pair(first, second, public)
