"""A database that stops answering: requests fail fast and clearly, and Keyturn recovers alone.

PostgreSQL is reached through a loopback TCP proxy the test controls (the shared server is
never stopped): when the proxy goes silent, requests get 503 `temporarily_unavailable`
with Retry-After within the timeouts (never a hang, never a 500), pages a browser opened
get a "try again" page, `/health/ready` says 503 while `/health/live` says 200, kept-alive
connections survive, and once the proxy forwards again the same server works, with
nothing half-written by the requests that failed.

SQLite has no network: its outage is a writer of another process holding the database
lock past the statement timeout ("database is locked"), refused the same way.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import text
from sqlalchemy.engine import make_url

from keyturn.store.sql.engine import create_engine
from tests.conftest import BACKEND
from tests.support.server import free_port, running_server
from tests.support.soft_authenticator import SoftAuthenticator
from tests.support.tcp_proxy import TcpProxy, tcp_proxy

PAGE_DATA = re.compile(r'<script type="application/json" id="kt-page">(.*?)</script>', re.S)
TIMEOUTS = {
    "KEYTURN_DATABASE_CONNECT_TIMEOUT_SECONDS": "1",
    "KEYTURN_DATABASE_STATEMENT_TIMEOUT_SECONDS": "1",
}
FAST = 4.0  # seconds: a refusal during an outage must come within the timeouts, not hang


class Person:
    """A browser: its cookie jar, one kept-alive connection, its passkey."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx2.Client(base_url=base_url, headers={"origin": base_url}, timeout=30)
        self.origin = base_url
        self.authenticator = SoftAuthenticator()

    def __enter__(self) -> Person:
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def page(self, path: str) -> dict[str, Any]:
        response = self.http.get(path)
        assert response.status_code == 200, response.text
        match = PAGE_DATA.search(response.text)
        assert match
        data: dict[str, Any] = json.loads(match.group(1))
        return data

    def ceremony(self, path: str, body: dict[str, Any] | None = None) -> httpx2.Response:
        page = self.page(path)
        headers = {"x-csrf-token": page["csrf"]}
        base = f"{path}/flows/{page['flow_id']}"
        options = self.http.post(f"{base}/passkey/options", json=body or {}, headers=headers)
        assert options.status_code == 200, options.text
        answer = self.authenticator.create if path == "/signup" else self.authenticator.get
        credential = answer(options.json(), origin=self.origin)
        return self.http.post(base, json={"method": "passkey", "credential": credential}, headers=headers)


def _raw_get_twice(base_url: str, path: str) -> list[int]:
    """Two requests on ONE connection: the statuses, proving the server kept it open."""
    host, port = base_url.removeprefix("http://").split(":")
    statuses = []
    with (
        socket.create_connection(("127.0.0.1", int(port)), timeout=10) as sock,
        sock.makefile("rb") as stream,
    ):
        for _ in range(2):
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            status = int(stream.readline().split()[1])
            length = 0
            while (line := stream.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            stream.read(length)
            statuses.append(status)
    return statuses


def _wait_ready(person: Person, seconds: float = 15) -> None:
    """Recovery is the server's to notice: ask /health/ready until it says so (or give up)."""
    deadline = time.monotonic() + seconds
    while person.http.get("/health/ready").status_code != 200:
        assert time.monotonic() < deadline, "the server did not recover"
        time.sleep(0.2)


def _timed(call: Any) -> tuple[httpx2.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def test_a_database_outage_is_a_fast_503_and_recovery_needs_no_restart(
    clean_database: str, tmp_path: Path
) -> None:
    """Each backend's own outage: PostgreSQL's network goes silent; SQLite's lock is taken."""
    if BACKEND == "postgresql":
        url = make_url(clean_database)
        with tcp_proxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
            proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
            _silent_postgresql(proxied, clean_database, proxy, tmp_path)
    else:
        _locked_sqlite(clean_database, tmp_path)


def _counts(database_url: str) -> tuple[int, int]:
    """(sessions, `s` events) as stored."""

    async def query() -> tuple[int, int]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                sessions = await conn.scalar(text("SELECT count(*) FROM sessions"))
                signed_in = await conn.scalar(text("SELECT count(*) FROM events WHERE type = 's'"))
                return int(sessions or 0), int(signed_in or 0)
        finally:
            await engine.dispose()

    return asyncio.run(query())


def _silent_postgresql(database_url: str, direct_url: str, proxy: TcpProxy, tmp_path: Path) -> None:
    port = free_port()
    env = {**TIMEOUTS, "KEYTURN_PUBLIC_URL": f"http://localhost:{port}"}
    with (
        running_server(port=port, data_dir=tmp_path, database_url=database_url, extra_env=env) as server,
        Person(server.base_url) as ada,
    ):
        _outage_then_recovery(ada, server.base_url, proxy)
    # The sign-up's session and the last sign-in's; `s` for both, none for the refused.
    assert _counts(direct_url) == (2, 2)


def _outage_then_recovery(ada: Person, base_url: str, proxy: TcpProxy) -> None:
    assert ada.ceremony("/signup", {"email": "ada@example.com"}).status_code == 200
    ada.http.cookies.delete("keyturn_session")
    page = ada.page("/login")  # a page opened before the outage

    proxy.stall()

    navigation, waited = _timed(lambda: ada.http.get("/login", headers={"accept": "text/html"}))
    assert navigation.status_code == 503 and waited < FAST, (navigation.status_code, waited)
    assert navigation.headers["retry-after"]
    assert "try again" in navigation.text.lower()
    call, waited = _timed(
        lambda: ada.http.post(
            f"/login/flows/{page['flow_id']}/identify",
            json={"email": "ada@example.com"},
            headers={"x-csrf-token": page["csrf"]},
        )
    )
    assert call.status_code == 503 and waited < FAST, (call.text, waited)
    assert call.json()["error"] == "temporarily_unavailable"
    assert call.headers["retry-after"]
    ready, waited = _timed(lambda: ada.http.get("/health/ready"))
    assert ready.status_code == 503 and waited < FAST
    assert ada.http.get("/health/live").status_code == 200
    assert _raw_get_twice(base_url, "/login") == [503, 503]
    refused = ada.http.post(
        f"/login/flows/{page['flow_id']}",
        json={"method": "password", "email": "ada@example.com", "password": "not relevant"},
        headers={"x-csrf-token": page["csrf"]},
    )
    assert refused.status_code == 503 and "keyturn_session" not in refused.cookies

    proxy.resume()
    _wait_ready(ada)

    assert ada.ceremony("/login").status_code == 200
    assert "ada@example.com" in ada.http.get("/account").text


def _locked_sqlite(clean_database: str, tmp_path: Path) -> None:
    database_file = make_url(clean_database).database
    assert database_file
    port = free_port()
    env = {**TIMEOUTS, "KEYTURN_PUBLIC_URL": f"http://localhost:{port}"}
    with (
        running_server(port=port, data_dir=tmp_path, database_url=clean_database, extra_env=env) as server,
        Person(server.base_url) as ada,
    ):
        _locked_then_released(ada, database_file)
    # The sign-up's session and the last sign-in's; `s` for both, none for the refused.
    assert _counts(clean_database) == (2, 2)


def _locked_then_released(ada: Person, database_file: str) -> None:
    assert ada.ceremony("/signup", {"email": "ada@example.com"}).status_code == 200
    ada.http.cookies.delete("keyturn_session")

    other = sqlite3.connect(database_file, isolation_level=None, timeout=1)
    other.execute("BEGIN IMMEDIATE")  # another process writes and does not let go
    try:
        refused, waited = _timed(lambda: ada.ceremony("/login"))
        assert refused.status_code == 503 and waited < FAST, (refused.text, waited)
        assert refused.json()["error"] == "temporarily_unavailable"
        assert refused.headers["retry-after"]
        assert "keyturn_session" not in refused.cookies
        assert ada.http.get("/health/live").status_code == 200
    finally:
        other.execute("ROLLBACK")
        other.close()

    assert ada.ceremony("/login").status_code == 200  # the same server, no restart
