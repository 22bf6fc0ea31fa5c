"""Recording events off the request path: `record` only queues; a background task writes
batches; `close` drains the queue, so a clean shutdown loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

from keyturn.clock import Clock
from keyturn.domain.events import DESCRIPTIONS, Event, EventType, RequestContext
from keyturn.store.protocols import EventStore

log = logging.getLogger("keyturn.events")
BATCH_SIZE = 200
FLUSH_INTERVAL_SECONDS = 0.2


def _storable(value: Any) -> Any:
    """Strip NUL characters (PostgreSQL text cannot hold them) from strings, however nested,
    so one odd input can never make an event unwritable."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    return value


def new_log_id(event_time_ms: int) -> str:
    """Millisecond time then randomness: sorts by time, unique across workers."""
    return f"{event_time_ms:013d}{secrets.token_hex(8)}"


class EventLog:
    def __init__(self, store: EventStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._wakeup = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    def record(
        self,
        type: EventType,
        ctx: RequestContext | None = None,
        *,
        user_id: str | None = None,
        user_name: str | None = None,
        client_id: str | None = None,
        description: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Event:
        now = self._clock.now()
        event = Event(
            log_id=new_log_id(int(now.timestamp() * 1000)),
            date=now,
            type=type,
            description=description or DESCRIPTIONS[type],
            ip=_storable(ctx.ip if ctx else "")[:64],
            user_agent=_storable(ctx.user_agent if ctx else "")[:512],
            user_id=user_id,
            user_name=_storable(user_name)[:320] if user_name else None,
            client_id=client_id or (ctx.client_id if ctx else None),
            details=_storable(details or {}),
        )
        self._queue.put_nowait(event)
        self._wakeup.set()
        return event

    def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_forever())

    async def flush(self) -> None:
        """Write everything queued so far (tests, shutdown)."""
        while not self._queue.empty():
            await self._write_batch()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        await self.flush()

    async def _write_forever(self) -> None:
        """Events stay in the queue until written, so cancelling this loses none."""
        while True:
            await self._wakeup.wait()
            await asyncio.sleep(FLUSH_INTERVAL_SECONDS)  # let a batch gather
            self._wakeup.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("writing events failed; retrying in a second")
                await asyncio.sleep(1)
                self._wakeup.set()

    async def _write_batch(self) -> None:
        batch: list[Event] = []
        while not self._queue.empty() and len(batch) < BATCH_SIZE:
            batch.append(self._queue.get_nowait())
        try:
            await self._store.append_events(batch)  # idempotent: a retried batch is not doubled
        except BaseException:
            for event in batch:  # nothing is lost: back in the queue for the next try
                self._queue.put_nowait(event)
            raise
