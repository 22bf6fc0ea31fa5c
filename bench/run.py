"""Keyturn's benchmark: what a passkey sign-in, an OIDC code flow and a client_credentials grant cost.

It starts `keyturn serve`, drives each operation from concurrent clients and prints, per
operation, the rate, latency, server and PostgreSQL CPU and the SQL it ran.

A benchmark, not a test: it prints figures and asserts nothing about speed. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from webauthn import verify_authentication_response, verify_registration_response
from webauthn.helpers import base64url_to_bytes

from bench import promtext, scenarios, system
from bench.client import Browser, Connection, HttpError, Response
from bench.promtext import Samples
from bench.scenarios import OidcClient, Person, StepFailed
from keyturn.http.security import BINDING_COOKIE
from keyturn.passkeys.options import authentication_options, registration_options
from tests.support.soft_authenticator import SoftAuthenticator

SCENARIOS = ("signin", "oidc", "client_credentials")
DEFAULT_OPERATIONS = {"signin": 400, "oidc": 200, "client_credentials": 1000}
STARTUP_SECONDS = 60


# --- the floor ---------------------------------------------------------------------------


def measure_floor(iterations: int) -> tuple[float, float]:
    """One ES256 signature by the soft authenticator plus the library's verification: the median
    seconds, and the median CPU seconds (a gauge of how fast this machine is right now)."""
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
    samples, cpu_samples = [], []
    for _ in range(iterations):
        start, cpu = time.perf_counter(), time.thread_time()
        verify_authentication_response(
            credential=authenticator.get(request, origin=origin), expected_challenge=challenge,
            expected_rp_id=rp_id, expected_origin=[origin], credential_public_key=public_key,
            credential_current_sign_count=0, require_user_verification=True,  # as Keyturn calls it
        )  # fmt: skip
        samples.append(time.perf_counter() - start)
        cpu_samples.append(time.thread_time() - cpu)
    return statistics.median(samples), statistics.median(cpu_samples)


# --- the server --------------------------------------------------------------------------


@dataclass
class Server:
    port: int
    pid: int
    env: dict[str, str]
    data_dir: Path
    database_url: str | None
    metrics_connection: Connection = field(init=False)

    def __post_init__(self) -> None:
        self.metrics_connection = Connection("127.0.0.1", self.port)

    @property
    def is_postgres(self) -> bool:
        return (
            self.database_url is not None and make_url(self.database_url).get_backend_name() == "postgresql"
        )

    @property
    def database_name(self) -> str | None:
        return make_url(self.database_url).database if self.is_postgres and self.database_url else None

    async def get(self, path: str) -> Response:
        head = f"GET {path} HTTP/1.1\r\nHost: localhost:{self.port}\r\n\r\n".encode()
        return await self.metrics_connection.request(head, b"")

    async def scrape(self) -> Samples | None:
        """The server's /metrics; None from a Keyturn that has none (one from before issue 8)."""
        response = await self.get("/metrics")
        if response.status == 404:
            return None
        if response.status != 200:
            raise SystemExit(f"/metrics answered {response.status}: {response.text[:200]}")
        return Samples.parse(response.text)

    def processes(self) -> list[system.Proc]:
        return system.tree(self.pid)

    async def keyturn(self, *arguments: str, json_flag: bool = True, required: bool = True) -> dict[str, Any]:
        """A `keyturn` CLI command on the server's database; its --json answer ({} without
        `json_flag`). A failure ends the run, unless not `required`."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "keyturn", *arguments, *(["--json"] if json_flag else []),
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await process.communicate()
        if process.returncode != 0 and required:
            raise SystemExit(f"keyturn {' '.join(arguments)} failed:\n{output.decode(errors='replace')}")
        return scenarios.parse_cli_json(output.decode()) if json_flag and process.returncode == 0 else {}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serving(args: argparse.Namespace, data_dir: Path) -> AsyncIterator[Server]:
    """`keyturn serve` on a free port, configured only by what we pass; yields once /health/live is 200
    (or /health, for a Keyturn from before issue 8)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYTURN_", "PROMETHEUS_"))}
    env |= {"KEYTURN_DATA_DIR": str(data_dir), "KEYTURN_PORT": str(port), "PYTHONUNBUFFERED": "1"}
    if args.database_url:
        env["KEYTURN_DATABASE_URL"] = args.database_url
    if args.keyturn_src:  # another checkout's Keyturn, e.g. the previous commit's, for old-beside-new
        env["PYTHONPATH"] = os.pathsep.join([args.keyturn_src, *filter(None, [env.get("PYTHONPATH")])])
    env |= dict(item.split("=", 1) for item in args.server_env)
    command = ["-m", "keyturn", "serve", "--port", str(port), "--workers", str(args.workers)]
    if args.profile:  # cProfile sees the main thread of a single worker (not aiosqlite's threads)
        command = ["-m", "cProfile", "-o", args.profile, *command]
    log = data_dir / "server.log"
    with log.open("wb") as out:  # a file, not a pipe nobody reads: a full pipe would block the server
        process = await asyncio.create_subprocess_exec(
            sys.executable, *command, env=env, stdout=out, stderr=out
        )
    server = Server(port, process.pid, env, data_dir, args.database_url)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.returncode is not None or time.monotonic() > deadline:
                raise SystemExit(f"keyturn serve did not become live:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(HttpError, OSError):
                if 200 in [(await server.get(path)).status for path in ("/health/live", "/health")]:
                    break
            await asyncio.sleep(0.05)
        if args.workers > 1:
            await _wait_for_workers(server, args.workers)
        yield server
    finally:
        await server.metrics_connection.close()
        if process.returncode is None:
            # SIGTERM: the supervisor stops its workers. SIGINT under cProfile: uvicorn re-raises
            # the signal after its shutdown, and only KeyboardInterrupt lets cProfile write.
            process.send_signal(signal.SIGINT if args.profile else signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=30)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _wait_for_workers(server: Server, workers: int) -> None:
    """Every worker bound its socket: each answers /health/live on a connection of its own."""
    for _ in range(200):
        if sum(1 for p in server.processes() if system.describe(p) == "worker") >= workers:
            await asyncio.sleep(1.0)  # importing the app takes a moment after the process exists
            return
        await asyncio.sleep(0.05)


async def reset_database(url: str) -> None:
    """An empty public schema: `keyturn serve` migrates and seeds it, so every run starts clean.
    Never the database named `test`, which the test suites use."""
    if make_url(url).database == "test":
        raise SystemExit("refusing to empty the database named test: other runs use it")
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


async def pg_transactions(server: Server) -> int:
    """Transactions PostgreSQL counted for the database (pg_stat_database), however Keyturn labels them.

    An idle backend reports its counts within PGSTAT_IDLE_INTERVAL (10 s): wait before reading."""
    await asyncio.sleep(11)
    assert server.database_url is not None
    engine = create_async_engine(server.database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            query = (
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
            )
            return int((await conn.execute(text(query))).scalar_one())
    finally:
        await engine.dispose()


# --- database size -----------------------------------------------------------------------


async def database_size(server: Server) -> dict[str, int]:
    """Rows in `sessions`, bytes of that table with its indexes, and bytes of the whole database."""
    if server.is_postgres:
        assert server.database_url is not None
        engine = create_async_engine(server.database_url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                row = (
                    await conn.execute(
                        text(
                            "SELECT (SELECT count(*) FROM sessions), pg_total_relation_size('sessions'),"
                            " pg_database_size(current_database())"
                        )
                    )
                ).one()
        finally:
            await engine.dispose()
        return {"rows": row[0], "table_bytes": row[1], "database_bytes": row[2]}
    path = server.data_dir / "keyturn.db"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'sessions'")]
        marks = ",".join("?" * len(names))
        table = conn.execute(f"SELECT sum(pgsize) FROM dbstat WHERE name IN ({marks})", names).fetchone()[0]  # noqa: S608
        page_count = conn.execute("PRAGMA page_count").fetchone()[0]
        pages = page_count * conn.execute("PRAGMA page_size").fetchone()[0]
    return {"rows": rows, "table_bytes": table or 0, "database_bytes": pages}


# --- measuring ---------------------------------------------------------------------------


@dataclass
class Reading:
    """Everything read at one edge of a measured window."""

    wall: float
    server: list[system.Proc]
    postgres: list[system.Proc]
    postgres_all: list[system.Proc]
    client_cpu: float

    @classmethod
    def take(cls, server: Server) -> Reading:
        database = server.database_name
        return cls(
            wall=time.perf_counter(),
            server=server.processes(),
            postgres=system.postgres_processes(database) if database else [],
            postgres_all=system.postgres_processes(None) if database else [],
            client_cpu=time.process_time(),
        )


def _cpu_ms(before: Iterable[system.Proc], after: Iterable[system.Proc]) -> dict[int, float]:
    return system.cpu_delta_ms(system.ticks_by_pid(list(before)), system.ticks_by_pid(list(after)))


async def drive(
    people: list[Person], operation: scenarios.Operation, total: int
) -> tuple[list[float], list[str]]:
    """`total` operations shared by the clients, each back to back; (latencies, error messages)."""
    latencies: list[float] = []
    errors: list[str] = []
    todo = iter(range(total))  # shared: each client takes the next operation until none is left

    async def one_client(person: Person) -> None:
        for _ in todo:
            start = time.perf_counter()
            try:
                await operation(person)
            except (StepFailed, HttpError, KeyError, ValueError) as exc:  # counted, never fatal
                errors.append(re.sub(r"/flows/[^/:]+", "/flows/{id}", f"{type(exc).__name__}: {exc}"))
            else:
                latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(one_client(p) for p in people))
    return latencies, errors


def _per_op(value: float, operations: int, digits: int = 2) -> float:
    return round(value / operations, digits) if operations else 0.0


def _percentile(samples: list[float], q: int) -> float:
    if len(samples) < 2:
        return samples[0] if samples else 0.0
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def sql_figures(delta: Samples, operations: int) -> dict[str, Any]:
    transactions = delta.by(promtext.TRANSACTIONS, "kind", "outcome")
    statements = delta.by(promtext.STATEMENTS, "kind")
    return {
        "transactions_per_op": _per_op(sum(transactions.values()), operations),
        "statements_per_op": _per_op(sum(statements.values()), operations),
        "transactions_by_kind_per_op": {
            "/".join(k): _per_op(v, operations) for k, v in sorted(transactions.items())
        },
        "statements_by_kind_per_op": {k[0]: _per_op(v, operations) for k, v in sorted(statements.items())},
    }


def request_figures(delta: Samples, operations: int) -> dict[str, Any]:
    requests = {
        k: v
        for k, v in delta.by(promtext.REQUESTS, "method", "route", "status").items()
        if k[1] != "/metrics"
    }
    seconds = delta.by(promtext.REQUEST_SECONDS_SUM, "method", "route")
    counts: dict[tuple[str, str], float] = defaultdict(float)
    for (method, route, _), n in requests.items():
        counts[(method, route)] += n
    return {
        "requests_per_op": {" ".join(k): _per_op(v, operations) for k, v in sorted(requests.items())},
        "server_ms_per_request": {  # in-server time (latency, not CPU) under this load, by route
            f"{m} {r}": round(1000 * seconds.get((m, r), 0.0) / n, 2) for (m, r), n in sorted(counts.items())
        },
    }


async def measure(
    server: Server,
    people: list[Person],
    scenario: str,
    operation: scenarios.Operation,
    total: int,
    floor: float,
) -> dict[str, Any]:
    pg_before = await pg_transactions(server) if server.is_postgres else 0
    metrics_before = await server.scrape()
    opened_before = sum(p.browser.connection.opened for p in people)
    before = Reading.take(server)
    latencies, errors = await drive(people, operation, total)
    after = Reading.take(server)
    metrics_after = await server.scrape()
    delta = metrics_after.minus(metrics_before) if metrics_after and metrics_before else None
    wall, ok = after.wall - before.wall, len(latencies)
    server_cpu = _cpu_ms(before.server, after.server)
    roles = {p.pid: system.describe(p) for p in after.server}
    total_cpu = sum(server_cpu.values())
    p50, p99 = _percentile(latencies, 50), _percentile(latencies, 99)
    figures: dict[str, Any] = {
        "steps": scenarios.describe(scenario),
        "operations": total,
        "ok": ok,
        "errors": len(errors),
        "error_messages": {m: errors.count(m) for m in sorted(set(errors))[:10]},
        "seconds": round(wall, 3),
        "ops_per_second": round(ok / wall, 1) if wall else 0.0,
        "p50_ms": round(p50 * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
        "p50_over_floor": round(p50 / floor, 1) if scenario != "client_credentials" else None,
        "server_cpu_ms_per_op": _per_op(total_cpu, ok),
        "server_cpu_percent_of_one_core": round(100 * total_cpu / 1000 / wall) if wall else 0,
        "server_cpu_by_process": [
            {"pid": pid, "role": roles.get(pid, "?"), "cpu_ms": round(ms), "share": round(ms / total_cpu, 3)}
            for pid, ms in sorted(server_cpu.items())
            if total_cpu
        ],
        "client_cpu_ms_per_op": _per_op(1000 * (after.client_cpu - before.client_cpu), ok),
        "connections_opened": sum(p.browser.connection.opened for p in people) - opened_before,
        **(sql_figures(delta, ok) if delta is not None else {}),
        **(request_figures(delta, ok) if delta is not None else {}),
    }
    if server.is_postgres:
        # The database's own count (our reading's transaction included): a cross-check of
        # keyturn_db_transactions_total, and the only count for a Keyturn without /metrics.
        figures["pg_transactions_per_op"] = _per_op(await pg_transactions(server) - pg_before, ok)
        figures["pg_backend_cpu_ms_per_op"] = _per_op(
            sum(_cpu_ms(before.postgres, after.postgres).values()), ok
        )
        figures["pg_all_cpu_ms_per_op"] = _per_op(
            sum(_cpu_ms(before.postgres_all, after.postgres_all).values()), ok
        )
    return figures


class ProbingBrowser(Browser):
    """A browser that brackets every request with the server's on-CPU time and its /metrics.

    One request at a time and nothing else running against the server, so what changes
    between the two readings is that request's: its route, its SQL and its CPU.
    """

    def __init__(self, server: Server, records: list[dict[str, Any]]) -> None:
        super().__init__(server.port)
        self.server, self.records = server, records
        self.previous: Samples | None = None
        self.started = False

    def _pids(self) -> tuple[list[int], list[int]]:
        database = self.server.database_name
        postgres = [p.pid for p in system.postgres_processes(database)] if database else []
        return [p.pid for p in self.server.processes()], postgres

    async def request(self, method: str, target: str, **options: Any) -> Response:
        if not self.started:
            self.previous, self.started = await self.server.scrape(), True
        await asyncio.sleep(0.002)  # let the last answer's after-work (logs, metrics) finish
        server_pids, pg_pids = self._pids()
        cpu, pg = system.run_ns(server_pids), system.run_ns(pg_pids)
        response = await super().request(method, target, **options)
        await asyncio.sleep(0.003)
        cpu, pg = system.run_ns(server_pids) - cpu, system.run_ns(pg_pids) - pg
        now = await self.server.scrape()
        delta = now.minus(self.previous) if now is not None and self.previous is not None else Samples()
        self.previous = now
        routes = [k for k in delta.by(promtext.REQUESTS, "method", "route", "status") if k[1] != "/metrics"]
        self.records.append(
            {
                "request": " ".join(routes[0]) if len(routes) == 1 else f"{method} {_template(target)}",
                "cpu_ms": cpu / 1e6,
                "pg_cpu_ms": pg / 1e6,
                "transactions": delta.by(promtext.TRANSACTIONS, "kind"),
                "statements": delta.by(promtext.STATEMENTS, "kind"),
            }
        )
        return response


def _template(target: str) -> str:
    """A request path with its ids left out, for a server without route-labelled metrics."""
    return "/".join("{id}" if len(part) > 24 else part for part in target.split("?")[0].split("/"))


async def probe(
    server: Server, template: Person, operation: scenarios.Operation, repeats: int
) -> list[dict[str, Any]]:
    """Each request of `repeats` operations, one at a time: CPU, PostgreSQL CPU and SQL per request."""
    records: list[dict[str, Any]] = []
    browser = ProbingBrowser(server, records)
    browser.cookies = {k: v for k, v in template.browser.cookies.items() if k == BINDING_COOKIE}
    person = Person(browser, template.authenticator, template.email)
    try:
        for _ in range(repeats):
            await operation(person)
    finally:
        await browser.close()
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        grouped[record["request"]].append(record)

    def mean(rows: list[dict[str, Any]], key: str) -> float:
        return statistics.fmean(r[key] for r in rows)

    def kinds(rows: list[dict[str, Any]], key: str) -> dict[str, float]:
        found = sorted({k for r in rows for k in r[key]})
        return {"/".join(k): round(sum(r[key].get(k, 0.0) for r in rows) / len(rows), 2) for k in found}

    result = []
    for request, rows in grouped.items():
        row: dict[str, Any] = {
            "request": request,
            "n": len(rows),
            "cpu_ms": round(mean(rows, "cpu_ms"), 2),
            "cpu_ms_median": round(statistics.median(r["cpu_ms"] for r in rows), 2),
            "transactions": kinds(rows, "transactions"),
            "statements": kinds(rows, "statements"),
        }
        if server.is_postgres:
            row["pg_cpu_ms"] = round(mean(rows, "pg_cpu_ms"), 2)
        result.append(row)
    return result


def _rss(server: Server) -> dict[int, int]:
    return {p.pid: system.rss_bytes(p.pid) for p in server.processes()}


def _ratio(numerator: int, rows: int) -> int | None:
    return round(numerator / rows) if rows else None


async def memory(server: Server, people: list[Person], sessions: int) -> dict[str, Any]:
    """Server RSS and database bytes before and after `sessions` more sign-ins (one session each)."""
    await asyncio.sleep(0.5)
    size_before, rss_before = await database_size(server), _rss(server)
    start = time.perf_counter()
    latencies, errors = await drive(people, scenarios.signin_only, sessions)
    seconds = time.perf_counter() - start
    await asyncio.sleep(0.5)
    size_after, rss_after = await database_size(server), _rss(server)
    rows = size_after["rows"] - size_before["rows"]
    rss_delta = sum(rss_after.values()) - sum(rss_before.values())
    return {
        "sign_ins": sessions,
        "errors": len(errors),
        "seconds": round(seconds, 1),
        "session_rows_added": rows,
        "server_rss_before_mb": round(sum(rss_before.values()) / 2**20, 1),
        "server_rss_after_mb": round(sum(rss_after.values()) / 2**20, 1),
        "server_rss_bytes_per_session": _ratio(rss_delta, rows),
        "server_rss_by_process_mb": {
            str(pid): [round(rss_before.get(pid, 0) / 2**20, 1), round(rss / 2**20, 1)]
            for pid, rss in sorted(rss_after.items())
        },
        "sessions_table_bytes_per_row": _ratio(size_after["table_bytes"] - size_before["table_bytes"], rows),
        "database_bytes_per_sign_in": _ratio(
            size_after["database_bytes"] - size_before["database_bytes"], rows
        ),
        "sessions_table_mb_after": round(size_after["table_bytes"] / 2**20, 2),
        "session_rows_after": size_after["rows"],
        "p50_ms": round(_percentile(latencies, 50) * 1000, 2),
    }


# --- the run -----------------------------------------------------------------------------


async def register_clients(server: Server, wanted: list[str]) -> dict[str, OidcClient]:
    found: dict[str, OidcClient] = {}
    if "oidc" in wanted:
        made = await server.keyturn(
            "clients", "create", "--name", "bench", "--redirect-uri", scenarios.REDIRECT_URI,
            "--public", "--first-party",
        )  # fmt: skip
        found["oidc"] = OidcClient(made["client_id"], None)
    if "client_credentials" in wanted:
        made = await server.keyturn(
            "clients", "create", "--name", "bench-m2m", "--grant", "client_credentials",
            "--scope", "read:users",
        )  # fmt: skip
        found["client_credentials"] = OidcClient(made["client_id"], made["client_secret"])
    return found


async def bench(args: argparse.Namespace, data_dir: Path, floor: float) -> dict[str, Any]:
    wanted = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    results: dict[str, Any] = {}
    async with serving(args, data_dir) as server:
        clients = await register_clients(server, wanted)
        replacements = [f"--replace={assignment}" for assignment in scenarios.UNREFUSING_RATE_LIMITS]
        # a Keyturn from before the rate limits refuses the patch, and needs none
        await server.keyturn("config", "patch", *replacements, json_flag=False, required=False)
        people = [Person.new(server.port, i) for i in range(args.clients)]
        try:
            try:
                for person in people:  # setup, not timed: an account each, and a warm-up of each scenario
                    await scenarios.sign_up(person)
                for scenario in wanted:
                    await asyncio.gather(*(scenarios.operation(scenario, clients)(p) for p in people))
            except (StepFailed, HttpError) as exc:
                log = (data_dir / "server.log").read_text()[-2000:]
                raise SystemExit(f"setup failed: {exc}\n{log}") from exc
            if args.probe:  # what a request costs that reaches no database
                results["baseline"] = await probe(server, people[0], scenarios.health, args.probe)
            for scenario in wanted:
                operation = scenarios.operation(scenario, clients)
                total = args.operations or DEFAULT_OPERATIONS[scenario]
                results[scenario] = await measure(server, people, scenario, operation, total, floor)
                if args.probe:
                    results[scenario]["per_request"] = await probe(server, people[0], operation, args.probe)
            if args.sessions and args.scenario in ("all", "signin"):
                results["memory"] = await memory(server, people, args.sessions)
        finally:
            await asyncio.gather(*(p.browser.close() for p in people))
    return results


def commit(keyturn_src: str | None) -> str:
    """The commit of the Keyturn served (a --keyturn-src outside a git checkout shows its path)."""
    if keyturn_src is not None:
        return keyturn_src
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        root = Path(__file__).resolve().parent.parent
        head = subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True).strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "src"], cwd=root, check=False)
        return head + ("+dirty src" if dirty.returncode else "")
    return "?"


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.client_cpu is not None:
        os.sched_setaffinity(0, {args.client_cpu})
    if args.database_url:
        asyncio.run(reset_database(args.database_url))
    floor, floor_cpu = measure_floor(args.floor_iterations)  # before the server starts
    with tempfile.TemporaryDirectory(prefix="keyturn-bench-") as tmp:
        results = asyncio.run(bench(args, Path(tmp), floor))
    database = make_url(args.database_url).get_backend_name() if args.database_url else "sqlite"
    return {
        "database": database,
        "workers": args.workers,
        "clients": args.clients,
        "commit": commit(args.keyturn_src),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "floor_ms": round(floor * 1000, 3),
        "floor_cpu_ms": round(floor_cpu * 1000, 3),
        **results,
    }


# --- output ------------------------------------------------------------------------------


def _scenario_lines(scenario: str, s: dict[str, Any]) -> list[str]:
    processes = ", ".join(f"{p['role']} {p['pid']} {p['cpu_ms']} ms" for p in s["server_cpu_by_process"])
    lines = [
        "",
        f"{scenario}: {s['steps']}",
        f"  operations/s          {s['ops_per_second']:>8.1f}      {s['ok']} in {s['seconds']:.2f} s, "
        f"errors {s['errors']}",
        *(f"    error x{n}: {m}" for m, n in s["error_messages"].items()),
        f"  latency p50 / p99     {s['p50_ms']:>8.1f} / {s['p99_ms']:.1f} ms"
        + (f"   p50/floor {s['p50_over_floor']:.0f}x" if s["p50_over_floor"] else ""),
        f"  server CPU/op         {s['server_cpu_ms_per_op']:>8.2f} ms   "
        f"({s['server_cpu_percent_of_one_core']}% of one core: {processes})",
    ]
    if "pg_backend_cpu_ms_per_op" in s:
        lines.append(f"  PostgreSQL xacts/op   {s['pg_transactions_per_op']:>8.2f}      pg_stat_database")
        lines.append(
            f"  PostgreSQL CPU/op     {s['pg_backend_cpu_ms_per_op']:>8.2f} ms   this database's backends "
            f"({s['pg_all_cpu_ms_per_op']:.2f} ms: every postgres process)"
        )
    lines.append(f"  client CPU/op         {s['client_cpu_ms_per_op']:>8.2f} ms")
    if "transactions_per_op" in s:
        lines += [
            f"  SQL per op            {s['transactions_per_op']:>8.2f} transactions "
            f"{s['transactions_by_kind_per_op']}",
            f"{'':24}{s['statements_per_op']:>8.2f} statements   {s['statements_by_kind_per_op']}",
        ]
    lines.append(f"  connections opened    {s['connections_opened']:>8}")
    if "requests_per_op" in s:
        lines.append("  requests per op, and mean in-server ms per request under this load:")
    for request, n in s.get("requests_per_op", {}).items():
        method, route, _ = request.split(" ")
        server_ms = s["server_ms_per_request"].get(f"{method} {route}", 0)
        lines.append(f"    {n:>5.2f} x {request:<55} {server_ms:>7.2f} ms")
    delta_known = "transactions_per_op" in s
    if "per_request" in s:
        lines.append("  one request at a time (probe): server CPU ms mean/median, SQL by transaction kind")
        for r in s["per_request"]:
            pg_cpu = f", PostgreSQL {r['pg_cpu_ms']:.2f} ms" if "pg_cpu_ms" in r else ""
            sql = f"  transactions {r['transactions']}  statements {r['statements']}" if delta_known else ""
            lines.append(
                f"    {r['request']:<55} {r['cpu_ms']:>6.2f}/{r['cpu_ms_median']:.2f} ms{pg_cpu}{sql}"
            )
    return lines


def _memory_lines(m: dict[str, Any]) -> list[str]:
    return [
        "",
        f"memory: {m['sign_ins']} more sign-ins in {m['seconds']} s ({m['errors']} errors), "
        f"{m['session_rows_added']} session rows added",
        f"  server RSS            {m['server_rss_before_mb']} MB -> {m['server_rss_after_mb']} MB: "
        f"{m['server_rss_bytes_per_session']} bytes per session",
        f"  sessions table        {m['sessions_table_bytes_per_row']} bytes per row, indexes included "
        f"({m['sessions_table_mb_after']} MB for {m['session_rows_after']} rows)",
        f"  whole database        {m['database_bytes_per_sign_in']} bytes per sign-in "
        "(session, event, spent challenge)",
    ]


def print_table(f: dict[str, Any]) -> None:
    lines = [
        f"Keyturn bench: {f['database']}, {f['workers']} worker(s), {f['clients']} clients, "
        f"commit {f['commit']}, {f['cpus']} CPUs, load average {f['load_average']}",
        f"  floor: {f['floor_ms']:.3f} ms, {f['floor_cpu_ms']:.3f} ms CPU "
        "(ES256 assertion signed + webauthn.verify_authentication_response)",
    ]
    for row in f.get("baseline", []):
        lines.append(
            f"  baseline, one request at a time: {row['request']} "
            f"{row['cpu_ms']:.2f}/{row['cpu_ms_median']:.2f} ms server CPU (mean/median)"
        )
    for scenario in SCENARIOS:
        if scenario in f:
            lines += _scenario_lines(scenario, f[scenario])
    if "memory" in f:
        lines += _memory_lines(f["memory"])
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--database-url", help="PostgreSQL URL (postgresql+asyncpg://…): its public schema is DROPPED first"
    )
    parser.add_argument("--workers", type=int, default=1, help="keyturn serve --workers (default 1)")
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument(
        "--operations",
        type=int,
        help="timed operations per scenario (default: signin 400, oidc 200, client_credentials 1000)",
    )
    parser.add_argument("--sessions", type=int, default=10_000, help="sign-ins of the memory phase (0: skip)")
    parser.add_argument(
        "--probe", type=int, default=20, help="operations probed one request at a time (0: skip)"
    )
    parser.add_argument("--floor-iterations", type=int, default=500, help="floor samples (default 500)")
    parser.add_argument(
        "--keyturn-src",
        metavar="DIR",
        help="serve the Keyturn in DIR (its src/) instead of the installed one",
    )
    parser.add_argument("--client-cpu", type=int, help="pin the benchmark process to this CPU")
    parser.add_argument(
        "--server-env", action="append", default=[], metavar="KEY=VALUE", help="extra server env"
    )
    parser.add_argument("--json", action="store_true", help="print every figure as one JSON object")
    parser.add_argument(
        "--profile", metavar="FILE", help="run the server (1 worker) under cProfile into FILE"
    )
    args = parser.parse_args()
    if args.profile and args.workers != 1:
        parser.error("--profile needs --workers 1")
    if args.profile:
        args.profile = os.path.abspath(args.profile)
    if args.keyturn_src:
        args.keyturn_src = os.path.abspath(args.keyturn_src)
    figures = run(args)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print_table(figures)


if __name__ == "__main__":
    main()
