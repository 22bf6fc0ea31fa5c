"""`keyturn hooks add|list|delete` and `keyturn logs tail` against the test database: the hooks
commands in-process through typer's CliRunner (tests/support/cli.py), `logs tail`, which runs
until stopped, as an operator runs it: `python -m keyturn ...` in a subprocess.

The `client` fixture's app shares that database and data directory (so the same key-encryption
key): it reads what the CLI stored, and records the events `logs tail` must show.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import pytest
from starlette.testclient import TestClient

from keyturn.clock import FrozenClock
from keyturn.context import open_context
from keyturn.domain.events import EventType, Requester
from keyturn.domain.hooks import Hook
from keyturn.runtime import Runtime
from keyturn.sealing import unseal
from tests.support import browser, store
from tests.support.cli import Keyturn

REQUESTER = Requester(ip="203.0.113.9", user_agent="cli-test")
HOOK_URL = "http://127.0.0.1:9/x"


@pytest.fixture
def keyturn(clean_database: str, tmp_path: Path) -> Keyturn:
    return Keyturn(tmp_path, clean_database)


def stored_hooks(client: TestClient) -> list[Hook]:
    return store.read(client, lambda tx: tx.list_hooks())


# --- hooks add ----------------------------------------------------------------------------------


def test_hooks_add_prints_the_hook_and_its_secret_as_json(keyturn: Keyturn, client: TestClient) -> None:
    added = keyturn.json("hooks", "add", "--url", HOOK_URL, "--timeout", "1", "--on-failure", "allow")

    assert isinstance(added["id"], str) and added["id"]
    assert isinstance(added["secret"], str) and len(added["secret"]) >= 43
    assert added["url"] == HOOK_URL
    assert added["trigger"] == "post-login"
    assert added["timeout_seconds"] == 1.0
    assert added["failure_policy"] == "allow"
    assert added["enabled"] is True
    [hook] = stored_hooks(client)
    assert hook.id == added["id"]
    assert hook.url == HOOK_URL
    assert hook.timeout_ms == 1000
    assert hook.failure_policy == "allow"
    assert hook.enabled
    assert added["secret"].encode() not in hook.secret_sealed  # kept only sealed
    kek = browser.runtime(client).kek
    assert unseal(kek, hook.secret_sealed, bound_to=hook.id) == added["secret"].encode()


def test_hooks_add_defaults_to_post_login_two_seconds_and_deny(keyturn: Keyturn) -> None:
    added = keyturn.json("hooks", "add", "--url", "https://hooks.example/login")

    assert (added["trigger"], added["timeout_seconds"], added["failure_policy"]) == (
        "post-login",
        2.0,
        "deny",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "ftp://hooks.example/x"], "http(s) URL"),
        (["--url", "hooks.example/x"], "http(s) URL"),
        (["--url", "https://"], "http(s) URL"),
        (["--url", HOOK_URL, "--on-failure", "retry"], "failure policy"),
        (["--url", HOOK_URL, "--trigger", "pre-login"], "trigger"),
        (["--url", HOOK_URL, "--timeout", "0.01"], "timeout"),
        (["--url", HOOK_URL, "--timeout", "30"], "timeout"),
    ],
)
def test_hooks_add_refuses_bad_input_and_stores_nothing(
    keyturn: Keyturn, client: TestClient, args: list[str], message: str
) -> None:
    done = keyturn("hooks", "add", *args)

    assert done.returncode == 1, done.stdout
    assert done.stdout == ""
    assert done.stderr.startswith("error: ")
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert stored_hooks(client) == []


# --- hooks list and delete --------------------------------------------------------------------------


def test_hooks_list_shows_every_hook_in_order_without_its_secret(
    keyturn: Keyturn, client: TestClient
) -> None:
    first = keyturn.json("hooks", "add", "--url", "https://hooks.example/first")
    second = keyturn.json("hooks", "add", "--url", "https://hooks.example/second", "--on-failure", "allow")

    out = keyturn.ok("hooks", "list")

    listed = json.loads(out)
    assert [h["id"] for h in listed] == [first["id"], second["id"]]
    assert [h["url"] for h in listed] == ["https://hooks.example/first", "https://hooks.example/second"]
    assert [h["failure_policy"] for h in listed] == ["deny", "allow"]
    for hook in listed:
        assert set(hook) == {
            "id",
            "trigger",
            "url",
            "timeout_seconds",
            "failure_policy",
            "enabled",
            "created_at",
        }
    assert first["secret"] not in out
    assert second["secret"] not in out
    assert "secret" not in out


def test_hooks_list_with_no_hooks_is_an_empty_list(keyturn: Keyturn) -> None:
    assert keyturn.json("hooks", "list") == []


def test_hooks_delete_removes_the_hook(keyturn: Keyturn, client: TestClient) -> None:
    kept = keyturn.json("hooks", "add", "--url", "https://hooks.example/kept")
    gone = keyturn.json("hooks", "add", "--url", "https://hooks.example/gone")

    assert keyturn.ok("hooks", "delete", gone["id"]).strip() == f"deleted {gone['id']}"

    assert [h["id"] for h in keyturn.json("hooks", "list")] == [kept["id"]]
    assert [h.id for h in stored_hooks(client)] == [kept["id"]]
    again = keyturn("hooks", "delete", gone["id"])
    assert again.returncode == 1
    assert "no hook" in again.stderr


def test_hooks_delete_of_an_unknown_id_fails(keyturn: Keyturn) -> None:
    done = keyturn("hooks", "delete", "no-such-hook")
    assert done.returncode == 1
    assert "no hook 'no-such-hook'" in done.stderr


def test_hooks_add_and_delete_are_logged_as_sapi_by_the_cli(keyturn: Keyturn, client: TestClient) -> None:
    """Operator changes from the CLI are in the log as the management API's are, naming "cli";
    a refused one logs no change."""
    added = keyturn.json("hooks", "add", "--url", HOOK_URL)
    keyturn.ok("hooks", "delete", added["id"])
    assert keyturn("hooks", "delete", added["id"]).returncode == 1
    assert keyturn("hooks", "add", "--url", "ftp://hooks.example/x").returncode == 1

    changes = store.events_of(client, "sapi")

    assert [e.details for e in changes] == [
        {"operation": "create_hook", "actor": "cli", "hook_id": added["id"]},
        {"operation": "delete_hook", "actor": "cli", "hook_id": added["id"]},
    ]
    assert {(e.client_id, e.user_id, e.user_agent) for e in changes} == {(None, None, "keyturn-cli")}
    assert added["secret"] not in json.dumps([e.details for e in changes])
    assert store.events_of(client) == changes  # nothing else was logged


# --- logs tail ----------------------------------------------------------------------------------------


def record(
    client: TestClient, clock: FrozenClock, name: str, event_type: EventType = EventType.SUCCESS_LOGIN
) -> str:
    """One event, recorded as a request from REQUESTER records it, and stored when that
    request's context ends (as before a response is sent); its log id. The clock moves on a
    second first, so events sort in the order they are recorded."""
    clock.advance(seconds=1)

    async def work(rt: Runtime) -> str:
        async with open_context(rt, REQUESTER) as ctx:
            return ctx.record(event_type, user_id=name, user_name=name).log_id

    log_id = browser.call(client, work)
    assert store.read(client, lambda tx: tx.get_event(log_id)) is not None, "stored, with no waiting"
    return log_id


class Tail:
    """A running `keyturn logs tail`, its stdout lines collected by a thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        self.reader = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self.reader.start()

    def _read(self, stream: TextIO) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))

    def next_events(self, count: int, *, within: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + within
        found: list[dict[str, Any]] = []
        while len(found) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0 and self.process.poll() is not None and self.process.stderr is not None:
                stderr = self.process.stderr.read()
                raise AssertionError(f"logs tail exited {self.process.returncode}: {stderr}")
            assert remaining > 0, f"got {len(found)} of {count} lines within {within}s: {found}"
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            found.append(json.loads(line))
        return found

    def quiet_for(self, seconds: float) -> list[str]:
        """Lines printed during the next `seconds` (none expected)."""
        time.sleep(seconds)
        printed = []
        while not self.lines.empty():
            printed.append(self.lines.get_nowait())
        return printed


@contextmanager
def tailing(keyturn: Keyturn, *args: str) -> Iterator[Tail]:
    process = subprocess.Popen(
        keyturn.args("logs", "tail", *args),
        env=keyturn.process_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield Tail(process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        process.stderr.close()


def test_logs_tail_prints_the_last_events_then_new_ones_as_they_come(
    keyturn: Keyturn, client: TestClient, clock: FrozenClock
) -> None:
    earlier = [record(client, clock, f"user-{i}") for i in range(7)]

    with tailing(keyturn, "--last", "5", "--json", "--interval", "0.2") as tail:
        shown = tail.next_events(5, within=20)
        assert [e["log_id"] for e in shown] == earlier[2:]  # the newest five, oldest first
        assert [e["user_name"] for e in shown] == [f"user-{i}" for i in range(2, 7)]
        first = shown[0]
        assert first["type"] == "s"
        assert first["description"] == "Successful login"
        assert first["ip"] == "203.0.113.9"
        assert first["connection"] == "Username-Password-Authentication"
        assert tail.quiet_for(0.5) == []

        fresh = record(client, clock, "newcomer", EventType.HOOK_CALLED)
        [new] = tail.next_events(1, within=15)

        assert new["log_id"] == fresh
        assert new["type"] == "hook_called"
        assert new["user_name"] == "newcomer"
        assert tail.process.poll() is None  # still following


def test_logs_tail_in_text_prints_one_line_per_event(
    keyturn: Keyturn, client: TestClient, clock: FrozenClock
) -> None:
    record(client, clock, "ada@example.com")

    with tailing(keyturn, "--last", "3", "--interval", "0.2") as tail:
        deadline = time.monotonic() + 20
        line = ""
        while not line:
            assert time.monotonic() < deadline, "no line"
            try:
                line = tail.lines.get(timeout=1)
            except queue.Empty:
                continue
    assert "ada@example.com" in line
    assert "Successful login" in line
    assert line.startswith(clock.now().isoformat(timespec="seconds"))
