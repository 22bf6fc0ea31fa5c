"""The SQL `Database`: read and write transactions over one engine, for SQLite and PostgreSQL.

- Reads run in autocommit mode: no BEGIN/ROLLBACK round trips and no locks. Under
  PostgreSQL's READ COMMITTED each statement sees its own snapshot anyway.
- Writes are one BEGIN … COMMIT. On SQLite, writers of this process queue on an asyncio
  lock before `BEGIN IMMEDIATE`, instead of spinning in SQLite's busy handler.
- A database that is down, unreachable or too slow fails fast: connect and statement
  timeouts bound every call, and for a moment after an outage is seen, calls fail at once
  (`Unavailable`, a 503 with Retry-After) instead of each waiting out its timeout.
- A pooled connection that proved dead on its first statement is replaced and the
  statement retried once: there is no pre-ping round trip per checkout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import datetime

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from keyturn.errors import Unavailable
from keyturn.store.sql.base import DATABASE_ERRORS, translate, unavailable
from keyturn.store.sql.blocks import SqlBlocks
from keyturn.store.sql.counters import SqlCounters
from keyturn.store.sql.email_codes import SqlEmailCodes
from keyturn.store.sql.enrollment import SqlEnrollment
from keyturn.store.sql.events import SqlEvents
from keyturn.store.sql.factors import SqlFactors
from keyturn.store.sql.hooks import SqlHooks
from keyturn.store.sql.mail import SqlMail
from keyturn.store.sql.mds import SqlMds
from keyturn.store.sql.oidc import SqlOidc
from keyturn.store.sql.operators import SqlOperators
from keyturn.store.sql.sessions import SqlChallenges, SqlSessions
from keyturn.store.sql.tables import (
    authorization_codes,
    authorization_requests,
    client_assertions,
    email_codes,
    events,
    oauth_tokens,
    operator_enrollments,
    operator_sessions,
    rate_limits,
    sessions,
    spent_challenges,
    user_blocks,
)
from keyturn.store.sql.tenant import SqlConfig
from keyturn.store.sql.users import SqlPasskeys

# Called after each transaction: (kind "read"|"write", statements, seconds, committed).
TransactionObserver = Callable[[str, int, float, bool], None]
OUTAGE_HOLD_SECONDS = 1.0  # after an outage is seen, fail at once for this long


class SqlTx(
    SqlPasskeys,
    SqlSessions,
    SqlChallenges,
    SqlConfig,
    SqlMds,
    SqlOidc,
    SqlEvents,
    SqlHooks,
    SqlMail,
    SqlCounters,
    SqlBlocks,
    SqlEmailCodes,
    SqlOperators,
    SqlEnrollment,
    SqlFactors,
):
    """Every repository on one transaction's connection (`ReadTx` / `WriteTx`)."""

    async def purge_expired(self, *, now: datetime, events_before: datetime) -> int:
        removed = 0
        for table in (
            sessions,
            spent_challenges,
            authorization_requests,
            authorization_codes,
            oauth_tokens,
            client_assertions,
            rate_limits,
            user_blocks,
            email_codes,
            operator_enrollments,
            operator_sessions,
        ):
            removed += int((await self._run(delete(table).where(table.c.expires_at <= now))).rowcount)
        removed += int((await self._run(delete(events).where(events.c.date < events_before))).rowcount)
        return removed


class SqlDatabase:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        reader: AsyncEngine,
        observer: TransactionObserver | None = None,
    ) -> None:
        """`engine` for writes; `reader` (`create_engine(…, reads=True)`) for reads."""
        self.engine = engine
        self.dialect = engine.dialect.name
        self._reader = reader
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None
        self._outage_until = 0.0
        self.observer = observer

    def _check_outage(self) -> None:
        if time.monotonic() < self._outage_until:
            raise Unavailable(detail="database outage seen moments ago")

    def _saw_outage(self) -> None:
        self._outage_until = time.monotonic() + OUTAGE_HOLD_SECONDS

    def _observe(self, kind: str, tx: SqlTx | None, started: float, committed: bool) -> None:
        if self.observer is not None:
            self.observer(kind, tx.statements if tx else 0, time.perf_counter() - started, committed)

    @asynccontextmanager
    async def _connection(self, engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
        self._check_outage()
        try:
            conn = await engine.connect()
        except DATABASE_ERRORS as exc:
            self._saw_outage()
            raise unavailable(exc) from exc
        try:
            yield conn
        finally:
            with suppress(*DATABASE_ERRORS):  # a connection gone with an outage: the pool forgets it
                await conn.close()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SqlTx]:
        started = time.perf_counter()
        tx: SqlTx | None = None
        try:
            async with self._connection(self._reader) as conn:
                tx = SqlTx(conn, reads_only=True)
                yield tx
        except Unavailable as error:
            if error.connection_lost:
                self._saw_outage()
            raise
        finally:
            self._observe("read", tx, started, True)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[SqlTx]:
        if self._write_lock is None:
            async with self._write_transaction() as tx:
                yield tx
            return
        async with self._write_lock, self._write_transaction() as tx:
            yield tx

    @asynccontextmanager
    async def _write_transaction(self) -> AsyncIterator[SqlTx]:
        started = time.perf_counter()
        tx: SqlTx | None = None
        committed = False
        try:
            async with self._connection(self.engine) as conn:
                tx = SqlTx(conn)
                try:
                    yield tx
                except BaseException:
                    await _quietly_rollback(conn)
                    raise
                try:
                    await conn.commit()
                except DATABASE_ERRORS as exc:
                    await _quietly_rollback(conn)
                    raise translate(exc) from exc
                committed = True
        except Unavailable as error:
            if error.connection_lost:
                self._saw_outage()
            raise
        finally:
            self._observe("write", tx, started, committed)

    async def ping(self) -> None:
        """The database answers, and its schema is at the migrations' head (readiness)."""
        from keyturn.store.sql.migrate import head_revision  # Alembic is only loaded when asked

        try:
            async with self._reader.connect() as conn:
                await conn.execute(select(text("1")))
                current = await conn.scalar(text("SELECT version_num FROM alembic_version"))
        except DATABASE_ERRORS as exc:
            self._saw_outage()
            raise unavailable(exc) from exc
        if current != head_revision():
            raise Unavailable(detail=f"schema at {current}, code expects {head_revision()}")
        self._outage_until = 0.0

    async def close(self) -> None:
        await self.engine.dispose()
        await self._reader.dispose()


async def _quietly_rollback(conn: AsyncConnection) -> None:
    with suppress(*DATABASE_ERRORS):  # a dead connection has nothing to roll back
        await conn.rollback()
