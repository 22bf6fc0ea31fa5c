"""A real HTTP hook receiver on 127.0.0.1, started by the tests, that records every request
and answers the way each test tells it to: allow, deny with a message, claims, too slowly,
HTTP 500 or a body that is not JSON.

Keyturn calls it over the network exactly as it calls an operator's hook. The e2e tests
import `running_hook_server` from here for the real `keyturn serve`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from keyturn.hooks.signing import SIGNATURE_HEADER


@dataclass(frozen=True)
class Received:
    """One request Keyturn made to the hook server."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.body)
        return event

    @property
    def signature(self) -> str:
        return self.headers[SIGNATURE_HEADER]


@dataclass(frozen=True)
class Answer:
    """What the hook server sends back: a status, a body, perhaps after a delay."""

    status: int = 200
    body: bytes = b'{"action": "allow"}'
    content_type: str = "application/json"
    delay_seconds: float = 0.0

    @classmethod
    def json(cls, value: object, *, status: int = 200, delay_seconds: float = 0.0) -> Answer:
        return cls(status=status, body=json.dumps(value).encode(), delay_seconds=delay_seconds)

    @classmethod
    def allow(cls) -> Answer:
        return cls.json({"action": "allow"})

    @classmethod
    def deny(cls, message: str) -> Answer:
        return cls.json({"action": "deny", "message": message})

    @classmethod
    def claims(cls, claims: dict[str, Any]) -> Answer:
        return cls.json({"action": "allow", "claims": claims})

    @classmethod
    def slow(cls, seconds: float) -> Answer:
        """Allows, but only after `seconds` (past the hook's timeout, in the tests)."""
        return cls.json({"action": "allow"}, delay_seconds=seconds)

    @classmethod
    def server_error(cls) -> Answer:
        return cls.json({"action": "allow"}, status=500)

    @classmethod
    def not_json(cls) -> Answer:
        return cls(status=200, body=b"<html>OK</html>", content_type="text/html")


Responder = Callable[[Received], Answer]


@dataclass
class HookServer:
    """The receiver's state: what it was sent, and how each path answers."""

    base_url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: dict[str, Answer | Responder] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str = "/hook") -> str:
        return f"{self.base_url}{path}"

    def answer(self, path: str, answer: Answer | Responder) -> str:
        """Answer POSTs to `path` with `answer` (or what the function returns); the URL."""
        self.answers[path] = answer
        return self.url(path)

    def requests_to(self, path: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.received if path is None or r.path == path]

    def paths(self) -> list[str]:
        """The paths called, in the order the calls arrived."""
        return [r.path for r in self.requests_to()]

    def _record(self, received: Received) -> Answer:
        with self.lock:
            self.received.append(received)
            answer = self.answers.get(received.path, Answer.allow())
        return answer(received) if callable(answer) else answer


def _handler(state: HookServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            answer = state._record(Received("POST", self.path, headers, body))
            if answer.delay_seconds and state.stopping.wait(answer.delay_seconds):
                return  # the test is over: nobody is waiting for this answer
            try:
                self.send_response(answer.status)
                self.send_header("content-type", answer.content_type)
                self.send_header("content-length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # Keyturn gave up waiting (a timeout): what a slow hook looks like

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a connection Keyturn dropped after a timeout is not the test's failure


@contextmanager
def running_hook_server() -> Iterator[HookServer]:
    """A hook server on a free port of 127.0.0.1, in a thread, stopped afterwards."""
    state = HookServer()
    server = _Server(("127.0.0.1", 0), _handler(state))
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def hook_server() -> Iterator[HookServer]:
    with running_hook_server() as server:
        yield server
