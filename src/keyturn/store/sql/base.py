"""The shared plumbing of the SQL repositories: one engine, read and write transactions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import DataError, IntegrityError
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
        except DataError as exc:
            raise _unstorable(exc) from exc

    @asynccontextmanager
    async def _write(self, conflict: str = "conflict") -> AsyncIterator[AsyncConnection]:
        """A write transaction; a unique-constraint violation becomes Conflict(code=conflict)."""
        try:
            async with self._writer.begin() as conn:
                yield conn
        except IntegrityError as exc:
            raise Conflict(code=conflict, detail=str(exc.orig)) from exc
        except DataError as exc:
            raise _unstorable(exc) from exc


def _unstorable(exc: DataError) -> KeyturnError:
    """Input the database cannot hold (a NUL byte in text on PostgreSQL): the client's fault, a 400."""
    return KeyturnError(
        "The request contains characters that cannot be stored.",
        code="invalid_characters",
        detail=str(exc.orig),
    )
