"""Start Keyturn, drive complete passkey sign-ins over HTTP from concurrent clients, print the figures.

A benchmark, not a test: it prints figures and asserts nothing about speed. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from webauthn import verify_authentication_response, verify_registration_response
from webauthn.helpers import base64url_to_bytes

from keyturn.passkeys.options import authentication_options, registration_options
from keyturn.store.sql.engine import create_engine
from keyturn.store.sql.migrate import upgrade_to_head
from keyturn.store.sql.tables import metadata
from keyturn.http.security import SESSION_COOKIE
from tests.support.soft_authenticator import SoftAuthenticator

PAGE_DATA = re.compile(r'<script type="application/json" id="kt-page">(.*?)</script>', re.S)
Run = tuple[list[float], list[str], float, float, float]  # latencies, errors, wall, server CPU, bench CPU


class StepFailed(Exception):
    """One HTTP step of a ceremony did not answer as a browser expects."""


class Browser:
    """One person's browser: its own cookie jar, keep-alive connection and passkey."""

    def __init__(self, base_url: str, origin: str) -> None:
        self.origin = origin
        self.http = httpx.AsyncClient(base_url=base_url, headers={"origin": origin}, timeout=60)
        self.authenticator = SoftAuthenticator(counter_step=1)

    async def _post(self, path: str, csrf: str, body: Any) -> httpx.Response:
        response = await self.http.post(path, json=body, headers={"x-csrf-token": csrf})
        if response.status_code != 200:
            raise StepFailed(f"POST {path}: {response.status_code} {response.text[:160]}")
        return response

    async def ceremony(self, page: str, body: dict[str, Any] | None = None) -> None:
        """Sign up (page /signup) or in (/login) as keyturn.js does, then sign out."""
        response = await self.http.get(page)
        match = PAGE_DATA.search(response.text)
        if response.status_code != 200 or match is None:
            raise StepFailed(f"GET {page}: {response.status_code} {response.text[:160]}")
        data = json.loads(match.group(1))
        flow, csrf = f"{page}/flows/{data['flow_id']}", data["csrf"]
        options = (await self._post(f"{flow}/passkey/options", csrf, body)).json()
        answer = self.authenticator.create if page == "/signup" else self.authenticator.get
        credential = answer(options, origin=self.origin)
        await self._post(flow, csrf, {"method": "passkey", "credential": credential})
        if SESSION_COOKIE not in self.http.cookies:
            raise StepFailed(f"POST {flow}: no session cookie")
        self.sign_out()

    def sign_out(self) -> None:  # the flow-binding cookie stays, as in a browser
        self.http.cookies.delete(SESSION_COOKIE)


async def drive(browsers: list[Browser], total: int) -> tuple[list[float], list[str], float]:
    """`total` sign-ins shared by the browsers, each back to back; (latencies, errors, wall seconds)."""
    latencies: list[float] = []
    errors: list[str] = []
    todo = iter(range(total))  # shared: each client takes the next sign-in until none is left

    async def one_client(browser: Browser) -> None:
        for _ in todo:
            start = time.perf_counter()
            try:
                await browser.ceremony("/login")
            except Exception as exc:  # counted and printed, never fatal
                errors.append(re.sub(r"/flows/[^/:]+", "/flows/{id}", f"{type(exc).__name__}: {exc}"))
                browser.sign_out()
            else:
                latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(one_client(b) for b in browsers))
    return latencies, errors, time.perf_counter() - start


def measure_floor(iterations: int) -> float:
    """Median seconds of one ES256 signature by the soft authenticator plus the library's verification."""
    rp_id, origin, authenticator = "localhost", "http://localhost", SoftAuthenticator(counter_step=1)
    creation = registration_options(
        rp_id=rp_id, rp_name="bench", user_handle=os.urandom(64), user_name="floor@example.com",
        challenge=os.urandom(32), exclude=(), user_verification="required",
    )  # fmt: skip
    public_key = verify_registration_response(
        credential=authenticator.create(creation, origin=origin), expected_rp_id=rp_id,
        expected_origin=origin, expected_challenge=base64url_to_bytes(creation["challenge"]),
    ).credential_public_key  # fmt: skip
    challenge = os.urandom(32)
    request = authentication_options(rp_id=rp_id, challenge=challenge, allow=(), user_verification="required")
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        verify_authentication_response(
            credential=authenticator.get(request, origin=origin), expected_challenge=challenge,
            expected_rp_id=rp_id, expected_origin=[origin], credential_public_key=public_key,
            credential_current_sign_count=0, require_user_verification=True,  # as Keyturn calls it
        )  # fmt: skip
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of a process and its children (uvicorn's workers), from Linux /proc."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()  # fields[1] is the parent's pid
            if root in (int(stat.parent.name), int(fields[1])):
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def reset_database(url: str) -> None:
    """Schema at head, every table empty: the run starts clean (the server seeds the tenant again)."""
    engine = create_engine(url)
    try:
        await upgrade_to_head(engine)
        async with engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                await conn.execute(text(f"DELETE FROM {table.name}"))  # noqa: S608 - our own table names
    finally:
        await engine.dispose()


@contextlib.contextmanager
def serving(args: argparse.Namespace, data_dir: Path) -> Iterator[tuple[int, int]]:
    """`keyturn serve` on a free port, configured only by what we pass: (port, pid) once healthy."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYTURN_")}
    env |= {"KEYTURN_DATA_DIR": str(data_dir), "KEYTURN_DATABASE_URL": args.database_url or ""}
    command = [sys.executable, "-m", "keyturn", "serve", "--port", str(port), "--workers", str(args.workers)]
    log = data_dir / "server.log"
    with log.open("wb") as out:  # a file, not a pipe nobody reads: a full pipe would block the server
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while server.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            time.sleep(0.05)
        else:
            raise SystemExit(f"keyturn serve did not become healthy:\n{log.read_text()[-3000:]}")
        yield port, server.pid
    finally:
        server.terminate()  # uvicorn shuts down gracefully, workers included
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


async def setup_and_drive(args: argparse.Namespace, port: int, pid: int) -> Run:
    """An account and a warm-up sign-in per browser (not timed), then the timed sign-ins and their CPU."""
    browsers = [Browser(f"http://127.0.0.1:{port}", f"http://localhost:{port}") for _ in range(args.clients)]
    try:
        for i, browser in enumerate(browsers):
            await browser.ceremony("/signup", {"email": f"bench-{i}@example.com"})
            await browser.ceremony("/login")
        server_cpu, client_cpu = tree_cpu_seconds(pid), time.process_time()
        latencies, errors, wall = await drive(browsers, args.signins)
        return latencies, errors, wall, tree_cpu_seconds(pid) - server_cpu, time.process_time() - client_cpu
    except StepFailed as exc:
        raise SystemExit(f"setup failed: {exc}") from exc
    finally:
        await asyncio.gather(*(b.http.aclose() for b in browsers))


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.database_url:
        asyncio.run(reset_database(args.database_url))
    floor = measure_floor(args.floor_iterations)  # before the server starts: no contention
    with tempfile.TemporaryDirectory(prefix="keyturn-bench-") as tmp, serving(args, Path(tmp)) as server:
        latencies, errors, wall, server_cpu, client_cpu = asyncio.run(setup_and_drive(args, *server))
    p50 = statistics.median(latencies) if latencies else 0.0
    p99 = statistics.quantiles(latencies, n=100, method="inclusive")[98] if len(latencies) > 1 else p50
    return {
        "database": (args.database_url or "sqlite").split(":")[0].split("+")[0],
        **{name: getattr(args, name) for name in ("workers", "clients", "signins")},
        "ok": len(latencies),
        "errors": len(errors),
        "error_messages": {m: errors.count(m) for m in sorted(set(errors))[:10]},
        "seconds": round(wall, 3),
        "signins_per_second": round(len(latencies) / wall, 1),
        "p50_ms": round(p50 * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
        "floor_ms": round(floor * 1000, 3),
        "p50_over_floor": round(p50 / floor, 1),
        "server_cpu_percent": round(100 * server_cpu / wall),  # of one core; PostgreSQL's own not included
        "client_cpu_percent": round(100 * client_cpu / wall),
    }


def print_table(f: dict[str, Any]) -> None:
    errors = "".join(f"\n  error x{count}: {message}" for message, count in f["error_messages"].items())
    print(f"""Keyturn passkey sign-ins: {f["database"]}, {f["workers"]} worker(s), {f["clients"]} clients
  sign-ins per second  {f["signins_per_second"]:>10.1f}      {f["ok"]} in {f["seconds"]:.2f} s
  latency p50          {f["p50_ms"]:>10.1f} ms   GET /login, options, sign, submit
  latency p99          {f["p99_ms"]:>10.1f} ms
  errors               {f["errors"]:>10}{errors}
  floor                {f["floor_ms"]:>10.3f} ms   one ES256 signature + library verification
  p50 / floor          {f["p50_over_floor"]:>10.0f}x
  CPU, % of one core   server {f["server_cpu_percent"]}%, bench {f["client_cpu_percent"]}%""")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="PostgreSQL URL (postgresql+asyncpg://…): EMPTIED first")
    parser.add_argument("--clients", type=int, default=8, help="concurrent browsers (default 8)")
    parser.add_argument("--signins", type=int, default=400, help="timed sign-ins in all (default 400)")
    parser.add_argument("--workers", type=int, default=1, help="keyturn serve --workers (default 1)")
    parser.add_argument("--floor-iterations", type=int, default=500, help="floor samples (default 500)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = run(args)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print_table(figures)


if __name__ == "__main__":
    main()
