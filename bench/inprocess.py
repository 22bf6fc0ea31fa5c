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
import cProfile
import json
import random
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
from keyturn.domain.tenant import CONNECTION_NAME
from keyturn.errors import KeyturnError
from keyturn.operations import clients, tenant_config, users
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
        self.client_ip = "127.0.0.1"  # the peer address the app sees (throttles count per address)
        self.profiler: cProfile.Profile | None = None  # --profile: enabled around the app calls only

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
            "client": (self.client_ip, 50000),
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
        if self.profiler is not None:
            self.profiler.enable()
        try:
            await self.app(scope, receive, send)
        finally:
            if self.profiler is not None:
                self.profiler.disable()
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


RECOVERY_USES_PER_ADDRESS = 5  # rate_limits.recovery.per_identifier: requests one address may make per hour


async def bench_recovery(app: ASGIApp, rt: Runtime, args: argparse.Namespace) -> dict[str, Any]:
    """A known and an unknown address in turn, each request from a fresh browser and address
    (so no throttle answers instead); their CPU medians and ratio, which should be 1."""
    known_count = (args.warmup + args.operations) // RECOVERY_USES_PER_ADDRESS + 2
    known = []
    for index in range(known_count):
        email = f"bench-recovery-{index}@example.com"
        async with command_context(rt) as ctx:
            await users.create_user(
                ctx, actor=CLI, email=email, password=None, name=None, email_verified=True,
                connection=CONNECTION_NAME,
            )  # fmt: skip
        known.append(email)
    samples: dict[str, list[float]] = defaultdict(list)
    person = scenarios.Person.new(8000, 0)
    connection = AsgiConnection(app, samples)
    person.browser.connection = connection
    per_kind: dict[str, list[float]] = {"known": [], "unknown": []}
    wall: dict[str, list[float]] = {"known": [], "unknown": []}  # what a prober could time
    # In a shuffled order (fixed seed): the background sender delivers each queued message
    # during a later request, which a strict alternation would charge to one kind only.
    total = args.warmup + args.operations
    kinds = ["known", "unknown"] * (total // 2 + 1)
    random.Random(8).shuffle(kinds)
    used = 0
    for index, kind in enumerate(kinds[:total]):
        if kind == "known":
            email, used = known[used // RECOVERY_USES_PER_ADDRESS % known_count], used + 1
        else:
            email = f"nobody-{index}@example.com"
        connection.client_ip = f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}"
        before, started = sum(sum(s) for s in samples.values()), time.perf_counter()
        await scenarios.recovery_request(person, email)
        if index >= args.warmup:
            per_kind[kind].append(sum(sum(s) for s in samples.values()) - before)
            wall[kind].append((time.perf_counter() - started) * 1000)
    medians = {kind: statistics.median(values) for kind, values in per_kind.items()}
    walls = {kind: statistics.median(values) for kind, values in wall.items()}
    return {
        "operations": args.operations,
        "cpu_ms_per_op_median": round(statistics.median(per_kind["known"] + per_kind["unknown"]), 3),
        "cpu_ms_per_op_mean": round(statistics.fmean(per_kind["known"] + per_kind["unknown"]), 3),
        "per_request_median_ms": {
            f"known address ({len(per_kind['known'])})": round(medians["known"], 3),
            f"unknown address ({len(per_kind['unknown'])})": round(medians["unknown"], 3),
        },
        "known_to_unknown_ratio": round(medians["known"] / medians["unknown"], 3),
        "wall_ms_median": {kind: round(value, 3) for kind, value in walls.items()},
        "wall_known_to_unknown_ratio": round(walls["known"] / walls["unknown"], 3),
    }


async def _patch_tenant(rt: Runtime, assignments: list[str]) -> bool:
    """`keyturn config patch --replace` in-process; False from a Keyturn without these settings."""
    operations = [tenant_config.parse_assignment("replace", text) for text in assignments]
    try:
        async with command_context(rt) as ctx:
            await tenant_config.patch_tenant(ctx, operations, actor=CLI)
    except KeyturnError:
        return False
    return True


THROTTLES_OFF = (
    "/attack_protection/rate_limits/enabled=false",
    "/attack_protection/suspicious_ip/enabled=false",
)
THROTTLES_ON = (
    "/attack_protection/rate_limits/enabled=true",
    "/attack_protection/suspicious_ip/enabled=true",
)
BLOCK = 10  # sign-ins per block when throttles on and off alternate


async def _timed(
    operation: scenarios.Operation, person: scenarios.Person, samples: dict[str, list[float]]
) -> float:
    before = sum(sum(s) for s in samples.values())
    await operation(person)
    return sum(sum(s) for s in samples.values()) - before


async def throttles_share(
    rt: Runtime, operation: scenarios.Operation, person: scenarios.Person, operations: int
) -> dict[str, Any] | None:
    """What the throttles add to a passkey sign-in: blocks of sign-ins with every throttle on
    (rate limits, suspicious-IP) and off, alternating so that the machine's drift hits both."""
    connection = person.browser.connection
    assert isinstance(connection, AsgiConnection)
    on: list[float] = []
    off: list[float] = []
    on_samples: dict[str, list[float]] = defaultdict(list)
    off_samples: dict[str, list[float]] = defaultdict(list)
    while len(on) < operations:
        for assignments, into, samples in ((THROTTLES_ON, on, on_samples), (THROTTLES_OFF, off, off_samples)):
            if not await _patch_tenant(rt, list(assignments)):
                return None
            connection.samples = samples
            into.extend([await _timed(operation, person, samples) for _ in range(BLOCK)])
    await _patch_tenant(rt, list(THROTTLES_ON))
    with_throttles, without = statistics.median(on), statistics.median(off)
    return {
        "operations": len(on),
        "with_ms": round(with_throttles, 3),
        "without_ms": round(without, 3),
        "added_ms": round(with_throttles - without, 3),
        "added_share": round((with_throttles - without) / without, 4) if without else None,
        "per_request_median_ms": {
            route: [round(statistics.median(on_samples[route]), 3), round(statistics.median(values), 3)]
            for route, values in sorted(off_samples.items())
        },
    }


async def _flush_redis(url: str) -> None:
    from redis.asyncio import Redis

    connection = Redis.from_url(url)
    try:
        await connection.flushdb()
    finally:
        await connection.aclose()


async def bench(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    if args.database_url:
        await reset_database(args.database_url)
    if args.redis_url:
        await _flush_redis(args.redis_url)
    url = args.database_url or f"sqlite+aiosqlite:///{data_dir / 'keyturn.db'}"
    settings = Settings(
        database_url=url, data_dir=data_dir, public_url=PUBLIC_URL, access_log=False, redis_url=args.redis_url
    )
    results: dict[str, Any] = {
        "database": "postgresql" if args.database_url else "sqlite",
        "counters": "redis" if args.redis_url else "database",
    }
    async with serving_in_process(settings) as (app, rt):
        known = await _register_clients(rt)
        await _patch_tenant(rt, list(scenarios.UNREFUSING_RATE_LIMITS))
        for scenario in args.scenarios:
            if scenario == "recovery":
                results[scenario] = await bench_recovery(app, rt, args)
                continue
            samples: dict[str, list[float]] = defaultdict(list)
            person = scenarios.Person.new(8000, 0)
            connection = AsgiConnection(app, samples)
            person.browser.connection = connection
            person.email = f"bench-{scenario}@example.com"
            await scenarios.sign_up(person)
            operation = scenarios.operation(scenario, known)
            for _ in range(args.warmup):
                await operation(person)
            samples.clear()
            profiler = connection.profiler = cProfile.Profile() if args.profile else None
            per_operation = [await _timed(operation, person, samples) for _ in range(args.operations)]
            connection.profiler = None
            if profiler is not None:
                profiler.dump_stats(f"{args.profile}.{scenario}")
            results[scenario] = {
                "operations": args.operations,
                "cpu_ms_per_op_median": round(statistics.median(per_operation), 3),
                "cpu_ms_per_op_mean": round(statistics.fmean(per_operation), 3),
                "per_request_median_ms": {
                    route: round(statistics.median(values), 3) for route, values in sorted(samples.items())
                },
            }
            if scenario == "signin" and args.throttles:
                results["throttles"] = await throttles_share(rt, operation, person, args.operations)
    return results


def print_results(results: dict[str, Any]) -> None:
    where = f"{results['database']}, counters in {results.get('counters', 'database')}"
    print(f"Keyturn in-process CPU per operation ({where}, one client, no sockets)")
    for scenario, figures in results.items():
        if not isinstance(figures, dict):
            continue
        print(f"\n{scenario}: {scenarios.describe(scenario)}")
        if scenario == "throttles":
            print(
                f"  passkey sign-in with every throttle on {figures['with_ms']:.3f} ms, off"
                f" {figures['without_ms']:.3f} ms: they add {figures['added_ms']:.3f} ms"
                f" ({figures['added_share']:.1%}); medians of {figures['operations']} each, alternating"
            )
            for route, (on, off) in figures["per_request_median_ms"].items():
                print(f"    {on:8.3f} ms on, {off:8.3f} ms off  {route}")
            continue
        median, mean = figures["cpu_ms_per_op_median"], figures["cpu_ms_per_op_mean"]
        print(f"  CPU ms/op   median {median:.3f}   mean {mean:.3f}   ({figures['operations']} operations)")
        for route, median in figures["per_request_median_ms"].items():
            print(f"    {median:8.3f} ms  {route}")
        if "known_to_unknown_ratio" in figures:
            wall = figures["wall_ms_median"]
            print(f"  known / unknown CPU median: {figures['known_to_unknown_ratio']:.3f}")
            print(
                f"  wall median (client included): known {wall['known']:.3f} ms, unknown "
                f"{wall['unknown']:.3f} ms, ratio {figures['wall_known_to_unknown_ratio']:.3f}"
            )


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
        "--scenario",
        dest="scenarios",
        action="append",
        choices=["signin", "oidc", "client_credentials", "recovery"],
    )
    parser.add_argument(
        "--redis-url", help="keep the throttles' counters in this Redis (redis://…/db: it is flushed)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="cProfile the timed app calls into FILE.<scenario> (the figures then include its overhead)",
    )
    parser.add_argument(
        "--no-throttles",
        dest="throttles",
        action="store_false",
        help="skip the sign-ins with the throttles on and off that show what they add",
    )
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
