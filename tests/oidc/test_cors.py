"""Browser apps (SPAs with PKCE) can call the protocol endpoints; hosted pages stay same-origin."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient


@pytest.mark.parametrize("path", ["/oauth2/token", "/oauth2/userinfo", "/.well-known/jwks.json"])
def test_protocol_endpoints_answer_preflight(client: TestClient, path: str) -> None:
    response = client.options(
        path,
        headers={"origin": "https://spa.example", "access-control-request-method": "POST"},
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "authorization" in response.headers["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in response.headers


def test_discovery_is_readable_cross_origin(client: TestClient) -> None:
    response = client.get("/.well-known/openid-configuration", headers={"origin": "https://spa.example"})
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("path", ["/login", "/account", "/oauth2/authorize"])
def test_hosted_pages_send_no_cors_headers(client: TestClient, path: str) -> None:
    response = client.get(path, headers={"origin": "https://spa.example"}, follow_redirects=False)
    assert "access-control-allow-origin" not in response.headers
