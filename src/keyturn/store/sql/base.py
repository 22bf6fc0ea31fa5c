"""The shared plumbing of the SQL repositories: one engine, read and write transactions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from keyturn.errors import Conflict, KeyturnError
from keyturn.store.sql.engine import WRITE


class SqlRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE: True})

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._engine.connect() as conn:
                yield conn
        except DBAPIError as exc:
            raise _unstorable(exc) if _is_data_error(exc) else exc from exc

    @asynccontextmanager
    async def _write(self, conflict: str = "conflict") -> AsyncIterator[AsyncConnection]:
        """A write transaction; a unique-constraint violation becomes Conflict(code=conflict)."""
        try:
            async with self._writer.begin() as conn:
                yield conn
        except IntegrityError as exc:
            raise Conflict(code=conflict, detail=str(exc.orig)) from exc
        except DBAPIError as exc:
            raise _unstorable(exc) if _is_data_error(exc) else exc from exc


def _is_data_error(exc: DBAPIError) -> bool:
    """A value the column cannot hold (SQLSTATE class 22, e.g. a NUL byte in PostgreSQL text)."""
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return isinstance(exc, DataError) or str(sqlstate or "").startswith("22")


def _unstorable(exc: DBAPIError) -> KeyturnError:
    """Input the database cannot hold (a NUL byte in text on PostgreSQL): the client's fault, a 400."""
    return KeyturnError(
        "The request contains characters that cannot be stored.",
        code="invalid_characters",
        detail=str(exc.orig),
    )
