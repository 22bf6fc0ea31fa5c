"""/admin/logs: the log filtered with Auth0's query syntax, and the live tail (server-sent
events) against a real `keyturn serve`: it streams a new event as it commits, refuses
anyone without an operator session, and ends when the server shuts down."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
from starlette.testclient import TestClient

from tests.support import admin, browser
from tests.support.server import RunningServer, free_port, running_server
from tests.support.soft_authenticator import SoftAuthenticator

PASSWORD = "correct horse battery"


def test_logs_filter_by_type(client: TestClient) -> None:
    browser.signup_with_password(client, "ada@example.com", PASSWORD)
    browser.sign_out(client)
    assert browser.login_with_password(client, "ada@example.com", PASSWORD).status_code == 200
    admin.operator_signed_in(client)
    everything = client.get("/admin/logs")
    assert {"ss", "s", "sapi"} <= set(re.findall(r'data-type="([^"]+)"', everything.text))
    page = client.get("/admin/logs", params={"q": "type:s"})
    assert page.status_code == 200
    rows = re.findall(r'data-type="([^"]+)"', page.text)
    assert set(rows) == {"s"}
    assert f"{len(rows)} event{'' if len(rows) == 1 else 's'}." in page.text
    either = client.get("/admin/logs", params={"q": "type:(s OR ss)"})
    assert set(re.findall(r'data-type="([^"]+)"', either.text)) == {"s", "ss"}
    user = browser.storage(client)["users"][0][0]
    mine = client.get("/admin/logs", params={"q": f"user_id:{user}"})
    assert "sapi" not in set(re.findall(r'data-type="([^"]+)"', mine.text))
    by_email = client.get("/admin/logs", params={"q": "type:s", "user": "ADA@example.com"})
    assert set(re.findall(r'data-type="([^"]+)"', by_email.text)) == {"s"}
    assert re.findall(r'data-type="([^"]+)"', by_email.text) == rows  # ada made every sign-in
    nobody = client.get("/admin/logs", params={"user": "nobody@example.com"})
    assert nobody.status_code == 200 and "0 events." in nobody.text
    future = client.get("/admin/logs", params={"q": "date:[2099-01-01 TO *]"})
    assert "0 events." in future.text


def test_a_bad_query_is_shown_next_to_the_field(client: TestClient) -> None:
    admin.operator_signed_in(client)
    for q, message in (
        ("colour:red", "Cannot search logs by &#39;colour&#39;."),
        ("date:[x TO *]", "is not a date"),
    ):
        page = client.get("/admin/logs", params={"q": q})
        assert page.status_code == 400
        assert 'id="q-error"' in page.text and message in page.text
        assert 'aria-invalid="true"' in page.text


def test_the_stream_is_behind_the_operator_check(client: TestClient) -> None:
    answer = client.get("/admin/logs/stream")
    assert (answer.status_code, answer.text) == (403, "Forbidden.")
    assert browser.signup_with_passkey(client, SoftAuthenticator(), "user@example.com").status_code == 200
    assert client.get("/admin/logs/stream").status_code == 403  # an end user's session


# --- against a real server ---------------------------------------------------------------------


def _cli(server: RunningServer, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "keyturn", *args], env=server.env, capture_output=True, text=True, check=True
    )
    return done.stdout


def _signed_in_operator(server: RunningServer, client: httpx2.Client) -> None:
    output = _cli(server, "admin", "create", "--email", "owner@example.com")
    [link] = re.findall(r"^http\S+(/admin/enroll\?token=\S+)$", output, re.M)
    key = SoftAuthenticator(backup_eligible=False, backup_state=False, transports=("usb",))
    assert admin.enroll(client, key, link, origin=server.base_url).status_code == 200  # type: ignore[arg-type]
    assert admin.sign_in(client, key, origin=server.base_url).status_code == 200  # type: ignore[arg-type]


def _events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(event name, data) of each server-sent event, as they arrive."""
    name, data = "message", ""
    for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif line == "" and data:
            yield name, data
            name, data = "message", ""


def test_the_live_tail_streams_new_events_and_ends_at_shutdown(clean_database: str, tmp_path: Path) -> None:
    port = free_port()
    with (
        running_server(port=port, data_dir=tmp_path, database_url=clean_database) as server,
        httpx2.Client(base_url=server.base_url, headers={"origin": server.base_url}, timeout=10) as client,
    ):
        _signed_in_operator(server, client)
        with client.stream("GET", "/admin/logs/stream", params={"q": "type:sapi"}) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            events = _events(stream.iter_lines())
            backlog = [next(events), next(events)]  # create_operator, enroll_operator
            assert [json.loads(d)["type"] for _, d in backlog] == ["sapi", "sapi"]
            csrf = admin.form_csrf(client.get("/admin/users").text)
            made = client.post("/admin/users", data={"email": "new@example.com", "csrf": csrf})
            assert made.status_code == 303
            name, data = next(events)  # waits for the event itself, no sleep
            assert name == "log"
            assert json.loads(data)["description"]
            started = time.monotonic()
            subprocess.run(["kill", "-TERM", str(server.pid)], check=True)
            assert next(events) == ("end", "shutdown")
            assert list(events) == []  # the server closed the stream
        assert time.monotonic() - started < 5
