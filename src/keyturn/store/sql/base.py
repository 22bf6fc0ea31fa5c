"""What every SQL repository mixin shares: the transaction's connection and error mapping.

A mixin method never opens a transaction of its own; it runs on the connection of the
transaction it belongs to (`keyturn.store.sql.database`).
"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Any

from sqlalchemy import Executable, Table, insert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.errors import Conflict, KeyturnError, Unavailable

# What a database that is down, unreachable, too slow or out of space raises.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeout,
    asyncio.TimeoutError,
    TimeoutError,
    ConnectionError,
    OSError,
)
DATABASE_ERRORS: tuple[type[BaseException], ...] = (DBAPIError, *OUTAGE_ERRORS)
# What `_run` maps besides DBAPI errors: an outage, or a value the driver cannot encode.
_MAPPED: tuple[type[BaseException], ...] = (*OUTAGE_ERRORS, UnicodeEncodeError)
_MAPPED_AGAIN: tuple[type[BaseException], ...] = (DBAPIError, *_MAPPED)


def is_data_error(exc: DBAPIError) -> bool:
    """A value the column cannot hold (SQLSTATE class 22, e.g. a NUL byte in PostgreSQL text;
    sqlite3 has no SQLSTATE and says "the query contains a null character")."""
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return str(sqlstate or "").startswith("22") or "null character" in str(exc.orig)


def is_unencodable(exc: BaseException) -> bool:
    """A parameter the driver could not encode before sending it: a lone surrogate
    (UnicodeEncodeError, raised as-is by sqlite3 and asyncpg, not as a DBAPI error)."""
    return isinstance(exc, UnicodeEncodeError)


# Errors that mean the database cannot be reached at all (not one statement's trouble, such
# as a full disk): for a moment after one, every call fails at once instead of waiting.
_CONNECTION_LOST: tuple[type[BaseException], ...] = (
    InterfaceError,
    PoolTimeout,
    asyncio.TimeoutError,
    TimeoutError,
    ConnectionError,
)


def unavailable(exc: BaseException, *, connection_lost: bool = True) -> Unavailable:
    error = Unavailable(detail=f"{type(exc).__name__}: {exc}"[:500])
    error.connection_lost = connection_lost
    return error


def translate(exc: BaseException, *, conflict: str = "conflict") -> BaseException:
    """A database error as the KeyturnError it means, or the error itself if it means nothing to users."""
    if isinstance(exc, IntegrityError):
        return Conflict(code=conflict, detail=str(exc.orig))
    if isinstance(exc, DBAPIError) and is_data_error(exc):
        return KeyturnError(code="invalid_characters", detail=str(exc.orig))
    if is_unencodable(exc):
        return KeyturnError(code="invalid_characters", detail=str(exc))
    lost = isinstance(exc, _CONNECTION_LOST) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)
    if lost or isinstance(exc, OUTAGE_ERRORS):
        return unavailable(exc, connection_lost=lost)
    return exc


@lru_cache(maxsize=64)
def _insert_if_new(table: Table, key: str, dialect: str) -> Executable:
    """Built once per table: the values come as parameters (building costs more than running)."""
    dialect_insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return dialect_insert(table).on_conflict_do_nothing(index_elements=[key])


@lru_cache(maxsize=64)
def _insert(table: Table) -> Executable:
    """INSERT INTO table, built once: the row comes as parameters (building one per call, with
    `.values(...)`, costs more than running it)."""
    return insert(table)


class SqlTxBase:
    """One transaction's connection; every statement goes through `_run` for error mapping."""

    def __init__(self, conn: AsyncConnection, *, reads_only: bool = False) -> None:
        self._conn = conn
        self.statements = 0
        self.spent_here: set[bytes] = set()  # challenges this transaction spent (`spend_challenge`)
        self.consumed_here: dict[str, Any] = {}  # codes this transaction consumed (`consume_code`)
        # A read transaction remembers what several layers of one request look up alike (the
        # parked authorization of a sign-in). A request's reader is let go before it writes,
        # so nothing it wrote is ever answered from here.
        self.read_memo: dict[tuple[str, str], Any] | None = {} if reads_only else None

    @property
    def dialect(self) -> str:
        return self._conn.dialect.name

    async def _run(self, statement: Executable, params: Any = None, *, conflict: str = "conflict") -> Any:
        first = self.statements == 0
        self.statements += 1
        try:
            result: CursorResult[Any] = await self._conn.execute(statement, params)
        except DBAPIError as exc:
            if not (first and exc.connection_invalidated):
                raise translate(exc, conflict=conflict) from exc
            # A pooled connection that died while idle, found by the very first statement:
            # nothing ran yet, so reconnect and try once more (instead of pinging every checkout).
            await self._conn.rollback()
            try:
                result = await self._conn.execute(statement, params)
            except _MAPPED_AGAIN as again:
                raise translate(again, conflict=conflict) from again
        except _MAPPED as exc:
            # The safety net behind the input checks: a value no database stores is the
            # same 400 on both, whichever way the driver reports it.
            raise translate(exc, conflict=conflict) from exc
        return result

    async def _insert_new(self, table: Table, *, key: str, **values: Any) -> bool:
        """INSERT … ON CONFLICT DO NOTHING: True if this call inserted the row (its key was new)."""
        statement = _insert_if_new(table, key, self.dialect)
        return bool((await self._run(statement, values)).rowcount == 1)

    async def _insert_row(self, table: Table, values: dict[str, Any], *, conflict: str = "conflict") -> None:
        await self._run(_insert(table), values, conflict=conflict)

    async def _scalar(self, statement: Executable, params: Any = None) -> Any:
        return (await self._run(statement, params)).scalar()

    async def _first(self, statement: Executable, params: Any = None) -> Any:
        return (await self._run(statement, params)).first()
