"""The password defences' suites: a loopback captcha provider and a loopback range API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.management.conftest import Api
from tests.support import store
from tests.support.defences import (
    SECRET,
    CaptchaProvider,
    RangeApi,
    running_captcha_provider,
    running_range_api,
)

SITE_KEY = "loopback-site-key"


@pytest.fixture
def provider() -> Iterator[CaptchaProvider]:
    with running_captcha_provider() as running:
        yield running


@pytest.fixture
def range_api() -> Iterator[RangeApi]:
    with running_range_api() as running:
        yield running


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


def use_captcha(client: TestClient, provider: CaptchaProvider, name: str = "turnstile", **extra: Any) -> None:
    """`keyturn config patch --replace /attack_protection/captcha=…`, the secret write-only."""
    if extra.get("recaptcha_version") == "v3":
        provider.state.v3_action = extra.pop("v3_action", "login")
    value = {
        "provider": name,
        "site_key": SITE_KEY,
        "secret": SECRET,
        "verify_url": provider.verify_url,
        "timeout_seconds": 0.5,
        **extra,
    }
    store.set_tenant(client, "/attack_protection/captcha", value)
