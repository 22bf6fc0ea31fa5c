"""Browser journeys that send email: a real `keyturn serve` delivering to a real SMTP server on
loopback (aiosmtpd), and Chromium with virtual authenticators.

A package of its own so that its server is the only one on the database while it runs: the
e2e package's server (file transport) would otherwise claim the messages from the shared
outbox. Chromium, Playwright and the per-test contexts are the e2e package's fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import _reset
from tests.e2e.conftest import (  # noqa: F401 - fixtures and hooks, shared as they are
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
from tests.support.server import free_port, running_server
from tests.support.smtp import SmtpServer, smtp_server


@pytest.fixture(scope="package")
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture(scope="package")
def mail_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, smtp: SmtpServer
) -> Iterator[KeyturnServer]:
    run_async(lambda: _reset(database_url))
    data_dir = tmp_path_factory.mktemp("keyturn-e2e-mail")
    port = free_port()
    extra = {"KEYTURN_PUBLIC_URL": f"http://localhost:{port}", **smtp.env()}
    with running_server(port=port, data_dir=data_dir, database_url=database_url, extra_env=extra) as running:
        yield KeyturnServer(
            base_url=running.base_url,
            database_url=database_url,
            env=running.env,
            log_path=running.log_path,
            seeded=run_async(lambda: seeded_rows(database_url)),
        )


@pytest.fixture
def server(mail_server: KeyturnServer, smtp: SmtpServer) -> Iterator[KeyturnServer]:
    """The mail server's Keyturn on an empty database and an empty inbox."""
    mail_server.reset()
    with smtp.inbox.arrived:
        smtp.inbox.messages.clear()
    yield mail_server
