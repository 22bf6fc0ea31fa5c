"""Engines for SQLite (the embedded default) and PostgreSQL, tuned for each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

WRITE = "keyturn_write"
RECYCLE_SECONDS = 1800  # connections are replaced by age, never pinged per checkout


def _count_pool_use(engine: AsyncEngine) -> None:
    from keyturn import metrics  # metrics are optional for callers that only migrate

    event.listen(engine.sync_engine, "checkout", lambda *_: metrics.DB_POOL_CHECKED_OUT.inc())
    event.listen(engine.sync_engine, "checkin", lambda *_: metrics.DB_POOL_CHECKED_OUT.dec())


def create_engine(
    database_url: str, *, connect_timeout: float = 3.0, statement_timeout: float = 5.0, reads: bool = False
) -> AsyncEngine:
    """An async engine with bounded waits: connecting, checking out and every statement.

    `reads=True` makes the engine of read transactions: its connections are in autocommit
    mode from the start and are not reset when returned (there is nothing to roll back), so
    a checkout costs no isolation-level switching and no reset, both paid on every read.

    SQLite gets WAL, foreign keys and write transactions that lock up front: SQLite
    upgrades a read lock to a write lock lazily and fails at once (SQLITE_BUSY, the busy
    handler does not help) if another writer got in between; BEGIN IMMEDIATE makes writers
    of other processes queue instead. Writers of one process queue on an asyncio lock
    (`keyturn.store.sql.database`) before that.
    """
    url = make_url(database_url)
    mode: dict[str, Any] = {"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None} if reads else {}
    if url.get_backend_name() != "sqlite":
        pg = create_async_engine(
            url,
            **mode,
            pool_size=10 if reads else 5,
            max_overflow=10 if reads else 5,
            pool_pre_ping=False,
            pool_recycle=RECYCLE_SECONDS,
            pool_timeout=connect_timeout,
            connect_args={
                "timeout": connect_timeout,
                "command_timeout": statement_timeout,
                "server_settings": {
                    "statement_timeout": str(int(statement_timeout * 1000)),
                    "idle_in_transaction_session_timeout": str(int(statement_timeout * 4000)),
                },
            },
        )
        _count_pool_use(pg)
        return pg
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url, **mode, connect_args={"timeout": statement_timeout}, pool_timeout=connect_timeout, pool_size=5
    )
    busy_ms = int(statement_timeout * 1000)
    event.listen(engine.sync_engine, "connect", lambda conn, _rec: _sqlite_on_connect(conn, busy_ms))
    if not reads:  # reads: each statement on its own, no BEGIN/ROLLBACK round trips
        event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
    _count_pool_use(engine)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, busy_ms: int) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", f"busy_timeout={busy_ms}", "foreign_keys=ON", "synchronous=NORMAL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    options = connection.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        return  # a one-off autocommit connection of the writer's engine (migrations, tools)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(WRITE, True) else "BEGIN")
