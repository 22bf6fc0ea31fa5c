"""`keyturn admin create`, run as an operator runs it: its link enrolls in the dashboard once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import BASE_URL
from tests.support import admin, browser
from tests.support.cli import Keyturn
from tests.support.soft_authenticator import SoftAuthenticator


@pytest.fixture
def keyturn(clean_database: str, tmp_path: Path) -> Keyturn:
    """The CLI on the `client` fixture's database and data directory."""
    return Keyturn(tmp_path, clean_database)


def test_create_prints_a_link_that_enrolls_once(keyturn: Keyturn, client: TestClient) -> None:
    out = keyturn.ok("admin", "create", "--email", "Ops@Example.com", "--role", "viewer")
    assert "operator ops@example.com (viewer) created" in out
    [link] = re.findall(rf"^{re.escape(BASE_URL)}(/admin/enroll\?token=\S+)$", out, re.M)
    key = SoftAuthenticator()
    assert admin.enroll(client, key, link).status_code == 200
    assert admin.sign_in(client, key).status_code == 200
    assert 'data-role="viewer"' in client.get("/admin").text
    assert client.get(link).status_code == 410


def test_a_bad_role_or_a_taken_email_fails_and_stores_nothing_more(
    keyturn: Keyturn,
    client: TestClient,
) -> None:
    code, _, err = keyturn("admin", "create", "--email", "ops@example.com", "--role", "root")
    assert code == 1 and "Choose a role: owner, viewer." in err
    assert browser.storage(client)["operators"] == []
    keyturn.ok("admin", "create", "--email", "ops@example.com")
    code, _, err = keyturn("admin", "create", "--email", "ops@example.com")
    assert code == 1 and "An operator with this email already exists." in err
    assert len(browser.storage(client)["operators"]) == 1
    assert len(browser.storage(client)["operator_enrollments"]) == 1
