"""Loopback stand-ins for the services the password defences call, speaking their protocols:

- `CaptchaProvider`: siteverify (POST form `secret`, `response`, `remoteip` → JSON `success`,
  `error-codes`, and for reCAPTCHA v3 `score` and `action`), each token good once, as the
  providers have it; it can also hang (a provider that does not answer) until closed. It
  serves a tiny stand-in for the provider's script (`/api.js`), which defines the provider's
  browser API (`turnstile`, `hcaptcha`, `grecaptcha`), renders a widget and fills the
  provider's form field with a token: the real scripts cannot load offline.
- `RangeServer`: the Pwned Passwords range API (`GET /range/<5 hex>` → `SUFFIX:COUNT` lines,
  padded with zero-count lines as `Add-Padding: true` asks), recording what was asked.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SECRET = "loopback-provider-secret"
GOOD_TOKEN = "good-token"
LOW_SCORE_TOKEN = "low-score-token"


@dataclass
class ProviderState:
    secret: str = SECRET
    v3_action: str | None = None  # reCAPTCHA v3: the action the token was made for
    hang: bool = False
    forms: list[dict[str, str]] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    release: threading.Event = field(default_factory=threading.Event)

    def verdict(self, form: dict[str, str]) -> dict[str, object]:
        token = form.get("response", "")
        if form.get("secret") != self.secret:
            return {"success": False, "error-codes": ["invalid-input-secret"]}
        if token in self.used:
            return {"success": False, "error-codes": ["timeout-or-duplicate"]}
        if token.startswith("widget-"):  # issued by the stand-in script in a browser
            token = GOOD_TOKEN
        if token not in (GOOD_TOKEN, LOW_SCORE_TOKEN):
            return {"success": False, "error-codes": ["invalid-input-response"]}
        self.used.add(form.get("response", ""))
        answer: dict[str, object] = {"success": True, "hostname": "localhost"}
        if self.v3_action is not None:
            answer |= {"score": 0.9 if token == GOOD_TOKEN else 0.1, "action": self.v3_action}
        return answer


STAND_IN_SCRIPT = """
(() => {
  let issued = 0;
  const fresh = () => `widget-${++issued}-${Math.random().toString(36).slice(2)}`;  // each good once
  const field = { turnstile: "cf-turnstile-response", hcaptcha: "h-captcha-response",
                  recaptcha: "g-recaptcha-response" }[%(provider)s];
  const api = {
    render(slot, options) {
      const widget = document.createElement("div");
      widget.className = "standin-captcha-widget";
      widget.dataset.sitekey = options.sitekey;
      const input = document.createElement(field === "cf-turnstile-response" ? "input" : "textarea");
      input.name = field; input.hidden = true; input.value = fresh();
      widget.append(input); slot.append(widget);
      return issued;
    },
    reset() {
      const input = document.querySelector(`[name="${field}"]`);
      if (input) input.value = fresh();
    },
    ready(callback) { callback(); },
    execute() { return Promise.resolve(fresh()); },
  };
  if (%(provider)s === "turnstile") window.turnstile = api;
  else if (%(provider)s === "hcaptcha") window.hcaptcha = api;
  else window.grecaptcha = api;
})();
"""


class _ProviderHandler(BaseHTTPRequestHandler):
    server: _ProviderServer

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        provider = parse_qs(parts.query).get("provider", ["turnstile"])[0]
        body = (STAND_IN_SCRIPT % {"provider": json.dumps(provider)}).encode()
        self.send_response(200)
        self.send_header("content-type", "text/javascript")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("content-length", "0"))
        raw = self.rfile.read(length).decode()
        form = {key: values[0] for key, values in parse_qs(raw).items()}
        state.forms.append(form)
        if state.hang:
            state.release.wait(30)
            return
        body = json.dumps(state.verdict(form)).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _ProviderServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: ProviderState) -> None:
        super().__init__(("127.0.0.1", 0), _ProviderHandler)
        self.state = state


@dataclass
class CaptchaProvider:
    state: ProviderState
    origin: str

    @property
    def verify_url(self) -> str:
        return f"{self.origin}/siteverify"

    def script_url(self, provider: str) -> str:
        return f"{self.origin}/api.js?provider={provider}"


@contextmanager
def running_captcha_provider() -> Iterator[CaptchaProvider]:
    state = ProviderState()
    server = _ProviderServer(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield CaptchaProvider(state=state, origin=f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def sha1(password: str) -> str:
    return hashlib.sha1(password.encode()).hexdigest().upper()  # noqa: S324 - the protocol's hash


@dataclass
class RangeState:
    breached: dict[str, int] = field(default_factory=dict)  # password SHA-1 → times seen
    down: bool = False
    paths: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


class _RangeHandler(BaseHTTPRequestHandler):
    server: _RangeServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        state = self.server.state
        state.paths.append(self.path)
        state.headers.append({k.lower(): v for k, v in self.headers.items()})
        prefix = self.path.rsplit("/", 1)[-1]
        if state.down:
            self.send_response(503)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        lines = [f"{h[5:]}:{n}" for h, n in sorted(state.breached.items()) if h.startswith(prefix)]
        if self.headers.get("add-padding") == "true":  # zero-count padding lines, never breaches
            lines += [f"{hashlib.sha1(str(i).encode()).hexdigest().upper()[5:]}:0" for i in range(20)]  # noqa: S324
        body = "\r\n".join(lines).encode()
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _RangeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: RangeState) -> None:
        super().__init__(("127.0.0.1", 0), _RangeHandler)
        self.state = state


@dataclass
class RangeApi:
    state: RangeState
    url: str  # ends with /range/

    def breach(self, password: str, count: int = 3) -> None:
        self.state.breached[sha1(password)] = count


@contextmanager
def running_range_api() -> Iterator[RangeApi]:
    state = RangeState()
    server = _RangeServer(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield RangeApi(state=state, url=f"http://127.0.0.1:{server.server_address[1]}/range/")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
