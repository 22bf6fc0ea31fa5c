"""The protection suites: the management API helper of tests/management, reused."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.management.conftest import Api


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)
