"""What an operator runs in production sees: JSON logs, request ids, metrics, one public URL.

Each test runs a real `keyturn serve` (and the CLI beside it) on the shared test database.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2

from tests.support.server import RunningServer, free_port, keyturn_env, running_server
from tests.support.soft_authenticator import SoftAuthenticator

PAGE_DATA = re.compile(r'<script type="application/json" id="kt-page">(.*?)</script>', re.S)
PASSWORD = "correct horse battery staple"


def _page(http: httpx2.Client, path: str) -> dict[str, Any]:
    match = PAGE_DATA.search(http.get(path).text)
    assert match
    data: dict[str, Any] = json.loads(match.group(1))
    return data


@contextmanager
def json_logging_server(
    database_url: str, data_dir: Path
) -> Iterator[tuple[RunningServer, httpx2.Client, str]]:
    """`keyturn serve` with `log_format: json`, a client of it and its origin."""
    port = free_port()
    origin = f"http://localhost:{port}"
    env = {"KEYTURN_PUBLIC_URL": origin, "KEYTURN_LOG_FORMAT": "json"}
    with (
        running_server(port=port, data_dir=data_dir, database_url=database_url, extra_env=env) as server,
        httpx2.Client(base_url=origin, headers={"origin": origin}, timeout=30) as http,
    ):
        yield server, http, origin


def passkey_sign_up_and_in(http: httpx2.Client, origin: str, *, sign_in: bool = True) -> None:
    """A passkey sign-up, then a sign-in with it, as the hosted pages make them, each session
    forgotten after; with `sign_in=False` only the sign-up, its session kept."""
    authenticator = SoftAuthenticator()
    steps: tuple[tuple[str, dict[str, str]], ...] = (
        ("/signup", {"email": "ada@example.com"}),
        ("/login", {}),
    )
    for path, body in steps if sign_in else steps[:1]:
        page = _page(http, path)
        base, headers = f"{path}/flows/{page['flow_id']}", {"x-csrf-token": page["csrf"]}
        options = http.post(f"{base}/passkey/options", json=body, headers=headers).json()
        answer = authenticator.create if path == "/signup" else authenticator.get
        done = http.post(
            base, json={"method": "passkey", "credential": answer(options, origin=origin)}, headers=headers
        )
        assert done.status_code == 200, done.text
        if sign_in:
            http.cookies.delete("keyturn_session")


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keyturn", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_json_logs_are_one_object_per_line_with_the_request_id_and_no_secrets(
    clean_database: str, tmp_path: Path
) -> None:
    with json_logging_server(clean_database, tmp_path) as (server, http, origin):
        mine = http.get("/login", headers={"x-request-id": "trace-me-123"})
        made = http.get("/signup")
        passkey_sign_up_and_in(http, origin)
        page = _page(http, "/login")
        wrong = http.post(
            f"/login/flows/{page['flow_id']}",
            json={"method": "password", "email": "ada@example.com", "password": PASSWORD},
            headers={"x-csrf-token": page["csrf"]},
        )
        lines = server.log_path.read_text().splitlines()

    assert mine.headers["x-request-id"] == "trace-me-123"
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    assert wrong.status_code == 401
    records = [json.loads(line) for line in lines if line.strip()]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any("sign up:" in r["message"] and r["logger"] == "keyturn" for r in records), "the banner"
    access = [r for r in records if r["logger"] == "keyturn.access"]
    traced = [r for r in access if r.get("request_id") == "trace-me-123"]
    assert traced and traced[0]["route"] == "/login" and traced[0]["status"] == 200
    assert "duration_ms" in traced[0]
    assert any(r.get("code") == "invalid_credentials" for r in records), "the refusal, by code"
    text = "\n".join(lines)
    assert PASSWORD not in text
    assert "keyturn_session=" not in text and "csrf" not in text.lower().replace("csrf_failed", "")


def test_access_lines_can_be_turned_off(clean_database: str, tmp_path: Path) -> None:
    port = free_port()
    env = {"KEYTURN_PUBLIC_URL": f"http://localhost:{port}", "KEYTURN_ACCESS_LOG": "false"}
    with running_server(port=port, data_dir=tmp_path, database_url=clean_database, extra_env=env) as server:
        for _ in range(3):
            assert httpx2.get(f"{server.base_url}/login").status_code == 200
        text = server.log_path.read_text()
    assert "GET /login" not in text
    assert "sign up:" in text  # the server logs the rest as usual


def test_metrics_count_requests_and_sign_ins_across_two_workers(clean_database: str, tmp_path: Path) -> None:
    port = free_port()
    origin = f"http://localhost:{port}"
    env = {"KEYTURN_PUBLIC_URL": origin}
    with running_server(
        port=port, data_dir=tmp_path, database_url=clean_database, workers=2, extra_env=env
    ) as server:
        with httpx2.Client(base_url=origin, headers={"origin": origin}, timeout=30) as http:
            before = http.get("/metrics")
            passkey_sign_up_and_in(http, origin)
        after = httpx2.get(f"{server.base_url}/metrics").text

    assert before.status_code == 200
    assert before.headers["content-type"].startswith("text/plain")
    assert re.search(r'keyturn_sign_ins_total\{method="passkey",result="success"\} 2\.0', after), after
    assert re.search(r'keyturn_sign_ups_total\{method="passkey",result="success"\} 1\.0', after)
    assert re.search(r'keyturn_http_requests_total\{method="GET",route="/login",status="200"\} [1-9]', after)
    assert re.search(r'keyturn_db_transactions_total\{kind="write",outcome="committed"\} [1-9]', after)
    assert 'keyturn_http_request_duration_seconds_bucket{le="0.005",method="POST"' in after
    assert re.search(r'keyturn_events_total\{type="s"\} 2\.0', after)


def test_cli_commands_use_the_public_url_serve_published(clean_database: str, tmp_path: Path) -> None:
    """Regression (issue 8): a client made with `keyturn clients create` while Keyturn served on
    another port got the management audience of port 8000, and its token requests failed
    with invalid_target. `serve` now publishes its public URL; the CLI uses it."""
    port = free_port()
    with running_server(port=port, data_dir=tmp_path, database_url=clean_database) as server:
        cli_env = keyturn_env(data_dir=tmp_path, database_url=clean_database, port=8000)  # no port of its own
        created = _cli(
            cli_env, "clients", "create", "--name", "ops", "--grant", "client_credentials",
            "--scope", "read:users delete:users", "--json",
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        client = json.loads(created.stdout)
        token = httpx2.post(
            f"{server.base_url}/oauth2/token",
            data={"grant_type": "client_credentials", "audience": f"{server.base_url}/api/v2/"},
            auth=(client["client_id"], client["client_secret"]),
        )
        shown = json.loads(_cli(cli_env, "clients", "show", client["client_id"]).stdout)

    assert token.status_code == 200, token.text
    assert token.json()["scope"] == "read:users delete:users"
    assert shown["scopes"] == ["read:users", "delete:users"]  # split on whitespace (RFC 6749 §3.3)
    assert shown["audiences"] == [f"http://localhost:{port}/api/v2/"]


def test_serve_warns_with_the_exact_fix_when_its_origin_is_not_an_rp_origin(
    clean_database: str, tmp_path: Path
) -> None:
    port = free_port()
    seed = json.dumps({"rp": {"id": "localhost", "origins": ["http://localhost:8000"]}})
    with running_server(
        port=port, data_dir=tmp_path, database_url=clean_database, extra_env={"KEYTURN_TENANT": seed}
    ) as server:
        text = server.log_path.read_text()
    assert "origin_mismatch" in text
    assert f"keyturn config patch --add /rp/origins/-=http://localhost:{port}" in text
