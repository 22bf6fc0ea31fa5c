"""Any worker or instance on the same database can finish a ceremony another began."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2

from tests.support.browser import page_data
from tests.support.server import free_port, running_server
from tests.support.soft_authenticator import SoftAuthenticator


def _page(client: httpx2.Client, url: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return page_data(response)


def _expect_ready(client: httpx2.Client, base_url: str) -> None:
    """Both health checks answer: the process is up, and its database is there and migrated."""
    for path in ("/health/live", "/health/ready"):
        response = client.get(f"{base_url}{path}")
        assert response.status_code == 200, f"{path}: {response.text}"
        assert response.json() == {"status": "ok"}


def test_ceremonies_cross_instances(clean_database: str, tmp_path: Path) -> None:
    """Two `keyturn serve` processes behind one public origin, as behind a load balancer."""
    port_a, port_b = free_port(), free_port()
    public = f"http://localhost:{port_a}"
    seed = json.dumps({"rp": {"id": "localhost", "origins": [public]}})
    env = {"KEYTURN_TENANT": seed}
    authenticator = SoftAuthenticator()
    with (
        running_server(
            port=port_a, data_dir=tmp_path, database_url=clean_database, extra_env=env
        ) as server_a,
        running_server(
            port=port_b, data_dir=tmp_path, database_url=clean_database, extra_env=env
        ) as server_b,
        httpx2.Client(headers={"origin": public}, timeout=10) as client,
    ):
        a, b = server_a.base_url, server_b.base_url
        _expect_ready(client, a)
        _expect_ready(client, b)
        # Sign-up: page and challenge from A, completion on B.
        page = _page(client, f"{a}/signup")
        headers = {"x-csrf-token": page["csrf"]}
        options = client.post(
            f"{a}/signup/flows/{page['flow_id']}/passkey/options",
            json={"email": "lb@example.com"},
            headers=headers,
        ).json()
        credential = authenticator.create(options, origin=public)
        done = client.post(
            f"{b}/signup/flows/{page['flow_id']}",
            json={"method": "passkey", "credential": credential},
            headers=headers,
        )
        assert done.status_code == 200, done.text
        assert "lb@example.com" in client.get(f"{a}/account").text  # the session is shared too

        # Sign-in: challenge from B, completion on A.
        client.cookies.delete("keyturn_session")
        page = _page(client, f"{b}/login")
        headers = {"x-csrf-token": page["csrf"]}
        options = client.post(f"{b}/login/flows/{page['flow_id']}/passkey/options", headers=headers).json()
        assertion = authenticator.get(options, origin=public)
        done = client.post(
            f"{a}/login/flows/{page['flow_id']}",
            json={"method": "passkey", "credential": assertion},
            headers=headers,
        )
        assert done.status_code == 200, done.text
        assert "lb@example.com" in client.get(f"{b}/account").text


def test_serve_with_several_workers(clean_database: str, tmp_path: Path) -> None:
    """`keyturn serve --workers 2`: every ceremony succeeds whichever worker takes each request."""
    port = free_port()
    authenticator = SoftAuthenticator()
    no_keepalive = httpx2.Limits(max_keepalive_connections=0)  # a new connection, so any worker, per request
    with (
        running_server(port=port, data_dir=tmp_path, database_url=clean_database, workers=2) as server,
        httpx2.Client(
            headers={"origin": f"http://localhost:{port}"}, limits=no_keepalive, timeout=10
        ) as client,
    ):
        base = server.base_url
        for _ in range(4):  # a new connection each time: whichever worker takes it is ready
            _expect_ready(client, base)
        page = _page(client, f"{base}/signup")
        headers = {"x-csrf-token": page["csrf"]}
        options = client.post(
            f"{base}/signup/flows/{page['flow_id']}/passkey/options",
            json={"email": "w@example.com"},
            headers=headers,
        ).json()
        credential = authenticator.create(options, origin=base)
        done = client.post(
            f"{base}/signup/flows/{page['flow_id']}",
            json={"method": "passkey", "credential": credential},
            headers=headers,
        )
        assert done.status_code == 200, done.text
        for _ in range(8):
            client.cookies.delete("keyturn_session")
            page = _page(client, f"{base}/login")
            headers = {"x-csrf-token": page["csrf"]}
            options = client.post(
                f"{base}/login/flows/{page['flow_id']}/passkey/options", headers=headers
            ).json()
            assertion = authenticator.get(options, origin=base)
            done = client.post(
                f"{base}/login/flows/{page['flow_id']}",
                json={"method": "passkey", "credential": assertion},
                headers=headers,
            )
            assert done.status_code == 200, done.text
            assert "w@example.com" in client.get(f"{base}/account").text
