"""The address events and sessions record: the peer's, unless it is a trusted proxy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from keyturn.app import create_app
from keyturn.clock import FrozenClock
from keyturn.settings import Settings
from tests.conftest import BASE_URL
from tests.support import browser, store

EMAIL = "ada@example.com"


def _client(clean_database: str, tmp_path: Path, clock: FrozenClock, trusted: list[str]) -> TestClient:
    settings = Settings(
        database_url=clean_database, data_dir=tmp_path, public_url=BASE_URL, trusted_proxies=trusted
    )
    app = create_app(settings, clock=clock)
    return TestClient(app, base_url=BASE_URL, headers={"origin": BASE_URL}, client=("10.0.0.2", 4000))


@pytest.fixture
def behind_proxy(clean_database: str, tmp_path: Path, clock: FrozenClock) -> Iterator[TestClient]:
    with _client(clean_database, tmp_path, clock, ["10.0.0.0/8"]) as client:
        yield client


@pytest.fixture
def no_proxy(clean_database: str, tmp_path: Path, clock: FrozenClock) -> Iterator[TestClient]:
    with _client(clean_database, tmp_path, clock, []) as client:
        yield client


def test_events_record_the_forwarded_client_behind_a_trusted_proxy(behind_proxy: TestClient) -> None:
    behind_proxy.headers["x-forwarded-for"] = "6.6.6.6, 198.51.100.9"
    response = browser.login_with_password(behind_proxy, EMAIL, "wrong password here")
    assert response.status_code == 401
    (event,) = store.events_of(behind_proxy, "fu")
    assert event.ip == "198.51.100.9"


def test_without_trusted_proxies_the_header_is_ignored(no_proxy: TestClient) -> None:
    no_proxy.headers["x-forwarded-for"] = "198.51.100.9"
    assert browser.login_with_password(no_proxy, EMAIL, "wrong password here").status_code == 401
    (event,) = store.events_of(no_proxy, "fu")
    assert event.ip == "10.0.0.2"
