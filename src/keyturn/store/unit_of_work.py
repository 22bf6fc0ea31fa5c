"""One request's (or one command's) work with the database, opened by the transport and
handed down to flows and operations inside their `Context`.

- `reader()`: the read transaction, opened on first use and shared by the request's reads.
- `writing()`: the write transaction; a request normally has one. Events recorded inside
  it commit with it, and vanish with it if it rolls back: they described what it did.
- `record(event)` outside a write block: the event is queued and written with the next
  write transaction, or by `finish()` in a small one of its own. A refusal's failure event
  is stored that way even though the refused work was not.
- `keep(change)`: a write that must persist whatever the outcome (a spent challenge): it
  runs in the request's write transaction, or in `finish()`'s if that never committed.

Nothing is held in memory past `finish()`: what a response says happened has happened.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from keyturn import metrics
from keyturn.domain.events import Event
from keyturn.store.protocols import Database, ReadTx, WriteTx

KeptChange = Callable[[WriteTx], Awaitable[None]]


class UnitOfWork:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._reader_cm: AbstractAsyncContextManager[ReadTx] | None = None
        self._reader: ReadTx | None = None
        self._events: list[Event] = []
        self._kept: list[KeptChange] = []
        self._writing = False
        self.writes = 0  # write transactions committed (for tests and metrics)

    @property
    def has_reader(self) -> bool:
        """Whether this unit of work has opened a read connection (so far)."""
        return self._reader is not None

    async def reader(self) -> ReadTx:
        if self._reader is None:
            cm = self._db.read()
            self._reader = await cm.__aenter__()
            self._reader_cm = cm
        return self._reader

    async def release(self) -> None:
        """Give the read connection back before slow work (a hook call); reads reopen it."""
        cm, self._reader_cm, self._reader = self._reader_cm, None, None
        if cm is not None:
            await cm.__aexit__(None, None, None)

    def record(self, event: Event) -> None:
        self._events.append(event)

    def keep(self, change: KeptChange) -> None:
        self._kept.append(change)

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[WriteTx]:
        if self._writing:
            raise RuntimeError("a write transaction is already open in this unit of work")
        await self.release()
        queued = len(self._events)
        self._writing = True
        try:
            async with self._db.write() as tx:
                yield tx
                for change in self._kept:
                    await change(tx)
                await tx.append_events(self._events)
        except BaseException:
            del self._events[queued:]  # what was recorded inside the block did not happen
            raise
        finally:
            self._writing = False
        for event in self._events:
            metrics.EVENTS.labels(type=event.type.value).inc()
        self._events.clear()
        self._kept.clear()
        self.writes += 1

    async def finish(self) -> None:
        """Close the reader and store what is left (events, kept changes) in one small transaction."""
        await self.release()
        if self._events or self._kept:
            async with self.writing():
                pass

    async def abandon(self) -> None:
        """After an unexpected error: close the reader and keep nothing."""
        self._events.clear()
        self._kept.clear()
        await self.release()

    @property
    def pending_events(self) -> tuple[Event, ...]:
        return tuple(self._events)
