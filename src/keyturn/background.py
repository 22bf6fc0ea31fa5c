"""Background loops of a serving process (the outbox sender, the purge): they stop between
two rounds, never in the middle of a statement or a delivery.

A task cancelled while its database call runs in a driver thread (aiosqlite) leaves that
thread to answer an event loop that is gone; so shutdown sets `stopping`, gives the loops a
grace period to finish their round, and cancels only what is still running after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from contextlib import suppress
from contextvars import ContextVar, copy_context
from typing import Any

SHUTDOWN_GRACE_SECONDS = 5.0
# Set in a background loop's context, which the tasks it spawns (a delivery each) inherit: what
# a request did can be told apart from what a loop did meanwhile (tests count a request's SQL).
_IN_BACKGROUND: ContextVar[bool] = ContextVar("keyturn_in_background", default=False)


def start(name: str, loop: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    context = copy_context()
    context.run(_IN_BACKGROUND.set, True)
    return asyncio.create_task(loop, name=f"keyturn-background:{name}", context=context)


def in_background_task() -> bool:
    return _IN_BACKGROUND.get()


async def first_of(*events: asyncio.Event, seconds: float) -> None:
    """Wait until one of `events` is set, or `seconds` pass."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def stop(tasks: Sequence[asyncio.Task[None]], stopping: asyncio.Event) -> None:
    """Ask the loops to stop, wait for their round to end, then cancel what is left."""
    stopping.set()
    if not tasks:
        return
    _, late = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_SECONDS)
    for task in late:
        task.cancel()
    for task in late:
        with suppress(asyncio.CancelledError):
            await task


class ShutdownNotice:
    """Set when the server is asked to stop (SIGTERM, Ctrl-C), before it waits for responses
    in flight to finish: long-lived ones (the dashboard's live tail) end at their next beat
    instead of holding the shutdown open."""

    def __init__(self) -> None:
        self.requested = False

    def request(self) -> None:
        self.requested = True


SHUTDOWN = ShutdownNotice()
