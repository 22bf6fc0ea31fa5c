"""Keyturn's own CPU per operation, measured in-process: the ASGI app called directly.

`python -m bench.run` measures a real server under concurrent load, which on a 2-core machine
shares the CPU with its clients, PostgreSQL and whatever else runs. This one takes the sockets,
the server and the load away: one client, the same scenarios (`bench/scenarios.py`), and each
request's CPU (`time.process_time`, so the aiosqlite and driver threads count too) summed over
the app calls only, so the authenticator's signature and the client's parsing do not count.
What is left is what Keyturn's own Python costs per request, the figure to compare between
commits.

    python -m bench.inprocess [--operations 300] [--database-url postgresql+asyncpg://…/keyturn_bench]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message

from bench import scenarios
from bench.client import Connection, Response
from bench.run import reset_database
from keyturn.app import create_app
from keyturn.operations import clients
from keyturn.operations.audit import CLI
from keyturn.runtime import Runtime
from keyturn.settings import Settings
from keyturn.wiring import command_context

PUBLIC_URL = "http://localhost:8000"
ROUTE_OF_ID = ("/flows/", "/resume/")


def route_of(method: str, target: str) -> str:
    """The request's route with its ids blanked, to group samples."""
    path = target.split("?", 1)[0]
    for marker in ROUTE_OF_ID:
        head, found, _ = path.partition(marker)
        if found:
            rest = path[len(head) + len(marker) :].split("/", 1)
            path = head + marker + "{id}" + (f"/{rest[1]}" if len(rest) > 1 else "")
    return f"{method} {path}" + ("?…" if "?" in target else "")


class AsgiConnection(Connection):
    """The bench client's connection, answered by calling the ASGI app: no socket, no server."""

    def __init__(self, app: ASGIApp, samples: dict[str, list[float]]) -> None:
        super().__init__("127.0.0.1", 8000)
        self.app = app
        self.samples = samples

    async def request(self, head: bytes, body: bytes) -> Response:
        start, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
        method, target, _ = start.split(" ", 2)
        path, _, query = target.partition("?")
        headers = [
            (name.strip().lower().encode("latin-1"), value.strip().encode("latin-1"))
            for name, _, value in (line.partition(":") for line in lines)
        ]
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode("latin-1"),
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        received = False
        status = 0
        answer_headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never disconnects
            raise AssertionError("unreachable")

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    answer_headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        before = time.process_time()
        await self.app(scope, receive, send)
        self.samples[route_of(method, target)].append((time.process_time() - before) * 1000)
        return Response(status, answer_headers, b"".join(chunks))

    async def close(self) -> None:
        return None


@contextlib.asynccontextmanager
async def serving_in_process(settings: Settings) -> AsyncIterator[tuple[ASGIApp, Runtime]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app, app.state.runtime


async def _register_clients(rt: Runtime) -> dict[str, scenarios.OidcClient]:
    async with command_context(rt) as ctx:
        public = await clients.register_client(
            ctx, actor=CLI, name="bench", redirect_uris=[scenarios.REDIRECT_URI], public=True,
            first_party=True,
        )  # fmt: skip
    async with command_context(rt) as ctx:
        m2m = await clients.register_client(
            ctx,
            actor=CLI,
            name="bench-m2m",
            redirect_uris=[],
            grant_types=["client_credentials"],
            scopes=["read:users"],
        )
    return {
        "oidc": scenarios.OidcClient(public.client.client_id, None),
        "client_credentials": scenarios.OidcClient(m2m.client.client_id, m2m.secret),
    }


async def bench(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    if args.database_url:
        await reset_database(args.database_url)
    url = args.database_url or f"sqlite+aiosqlite:///{data_dir / 'keyturn.db'}"
    settings = Settings(database_url=url, data_dir=data_dir, public_url=PUBLIC_URL, access_log=False)
    results: dict[str, Any] = {"database": "postgresql" if args.database_url else "sqlite"}
    async with serving_in_process(settings) as (app, rt):
        known = await _register_clients(rt)
        for scenario in args.scenarios:
            samples: dict[str, list[float]] = defaultdict(list)
            person = scenarios.Person.new(8000, 0)
            person.browser.connection = AsgiConnection(app, samples)
            person.email = f"bench-{scenario}@example.com"
            await scenarios.sign_up(person)
            operation = scenarios.operation(scenario, known)
            for _ in range(args.warmup):
                await operation(person)
            samples.clear()
            per_operation: list[float] = []
            for _ in range(args.operations):
                before = sum(sum(s) for s in samples.values())
                await operation(person)
                per_operation.append(sum(sum(s) for s in samples.values()) - before)
            results[scenario] = {
                "operations": args.operations,
                "cpu_ms_per_op_median": round(statistics.median(per_operation), 3),
                "cpu_ms_per_op_mean": round(statistics.fmean(per_operation), 3),
                "per_request_median_ms": {
                    route: round(statistics.median(values), 3) for route, values in sorted(samples.items())
                },
            }
    return results


def print_results(results: dict[str, Any]) -> None:
    print(f"Keyturn in-process CPU per operation ({results['database']}, one client, no sockets)")
    for scenario, figures in results.items():
        if not isinstance(figures, dict):
            continue
        print(f"\n{scenario}: {scenarios.describe(scenario)}")
        median, mean = figures["cpu_ms_per_op_median"], figures["cpu_ms_per_op_mean"]
        print(f"  CPU ms/op   median {median:.3f}   mean {mean:.3f}   ({figures['operations']} operations)")
        for route, median in figures["per_request_median_ms"].items():
            print(f"    {median:8.3f} ms  {route}")


def main() -> None:
    description = (__doc__ or "").splitlines()[0]
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess", description=description)
    parser.add_argument(
        "--database-url", help="PostgreSQL URL (postgresql+asyncpg://…): its public schema is DROPPED"
    )
    parser.add_argument(
        "--operations", type=int, default=300, help="timed operations per scenario (default 300)"
    )
    parser.add_argument("--warmup", type=int, default=20, help="untimed operations first (default 20)")
    parser.add_argument(
        "--scenario", dest="scenarios", action="append", choices=["signin", "oidc", "client_credentials"]
    )
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    args.scenarios = args.scenarios or ["signin", "oidc", "client_credentials"]
    with tempfile.TemporaryDirectory(prefix="keyturn-inprocess-") as data_dir:
        results = asyncio.run(bench(args, Path(data_dir)))
    if args.json:
        print(json.dumps(results))
    else:
        print_results(results)


if __name__ == "__main__":
    main()
