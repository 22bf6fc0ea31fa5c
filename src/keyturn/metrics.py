"""Prometheus metrics (prometheus-client), safe with several worker processes.

With `keyturn serve --workers N` the supervisor sets PROMETHEUS_MULTIPROC_DIR before the
workers start, so every worker writes its samples there and `/metrics` on any worker
aggregates all of them (`render`). Labels are bounded sets: route templates, method ids,
event types, error codes.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter("keyturn_http_requests_total", "HTTP requests answered.", ["route", "method", "status"])
REQUEST_SECONDS = Histogram(
    "keyturn_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["route", "method"],
    buckets=_LATENCY_BUCKETS,
)
SIGN_INS = Counter("keyturn_sign_ins_total", "Sign-ins by method and result.", ["method", "result"])
SIGN_UPS = Counter("keyturn_sign_ups_total", "Sign-ups by method and result.", ["method", "result"])
CEREMONY_FAILURES = Counter(
    "keyturn_ceremony_failures_total", "Refused passkey ceremonies, by error code.", ["code"]
)
PASSKEY_CHALLENGES = Counter("keyturn_passkey_challenges_total", "Passkey challenges issued.", ["mode"])
EVENTS = Counter("keyturn_events_total", "Events stored in the event log, by type.", ["type"])
HOOK_CALLS = Counter("keyturn_hook_calls_total", "Post-login hook calls, by outcome.", ["result", "outcome"])
DB_TRANSACTIONS = Counter(
    "keyturn_db_transactions_total", "Database transactions, by kind and outcome.", ["kind", "outcome"]
)
DB_STATEMENTS = Counter(
    "keyturn_db_statements_total", "SQL statements executed, by transaction kind.", ["kind"]
)
DB_SECONDS = Histogram(
    "keyturn_db_transaction_seconds", "Database transaction time.", ["kind"], buckets=_LATENCY_BUCKETS
)
DB_POOL_CHECKED_OUT = Gauge(
    "keyturn_db_pool_connections_in_use",
    "Database connections checked out of this worker's pool.",
    multiprocess_mode="livesum",
)


def observe_transaction(kind: str, statements: int, seconds: float, committed: bool) -> None:
    """The database's transaction observer (`keyturn.store.sql.database`)."""
    outcome = "committed" if committed else "rolled_back"
    DB_TRANSACTIONS.labels(kind=kind, outcome="ok" if kind == "read" else outcome).inc()
    DB_STATEMENTS.labels(kind=kind).inc(statements)
    DB_SECONDS.labels(kind=kind).observe(seconds)


def render() -> bytes:
    """The exposition of every metric: of all workers when they share a multiprocess directory."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()
