"""The protection suites: the management API helper of tests/management, reused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from keyturn.app import create_app
from keyturn.clock import FrozenClock
from keyturn.settings import Settings
from tests.conftest import BASE_URL
from tests.management.conftest import Api
from tests.support.redis import TEST_REDIS_URL


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
