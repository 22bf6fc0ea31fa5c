"""Rate counters every worker and instance shares: in Redis when `redis_url` is set, else in
Keyturn's own database. The counting is the `limits` library's sliding-window counter (two
fixed windows, weighted: nearly exact, and cheap); this module gives it a storage on the
database and the few calls the protections make.

A hit is atomic across processes: the current window's counter is incremented first and
only then compared with the limit (an increment that lost a race is taken back, in the
same transaction), so concurrent hits never admit more than the limit.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from limits import RateLimitItem, RateLimitItemPerSecond, WindowStats
from limits.aio.storage import SlidingWindowCounterSupport, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage.base import TimestampedSlidingWindow

from keyturn.errors import KeyturnError
from keyturn.store.protocols import CounterReads, CounterWrites, Database

# The read transaction a `peek` may borrow (set only for the duration of that call).
_REQUEST_READER: ContextVar[CounterReads | None] = ContextVar("keyturn_request_reader", default=None)
REDIS_TIMEOUT = 2.0  # seconds: a Redis that does not answer fails the hit (StorageError), fast


@dataclass(frozen=True)
class Rate:
    """At most `limit` hits per `per_seconds` (a sliding window)."""

    limit: int
    per_seconds: int

    def item(self) -> RateLimitItem:
        return RateLimitItemPerSecond(self.limit, self.per_seconds)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    remaining: int
    retry_after: int  # seconds until a hit would be allowed again (0 when allowed)
    reset_at: float  # epoch seconds at which the window has room again


def _now(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class DatabaseCounters(Storage, SlidingWindowCounterSupport, TimestampedSlidingWindow):
    """A `limits` storage on Keyturn's database (table `rate_limits`): wall-clock windows, as
    the library's own storages keep them."""

    STORAGE_SCHEME = ["keyturn+database"]  # noqa: RUF012 - the library declares it so

    def __init__(self, db: Database, **options: Any) -> None:
        self.db = db
        super().__init__(None, wrap_exceptions=False, **options)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return (KeyturnError,)

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        async with self.db.write() as tx:
            return await tx.add_to_counter(key, amount, lives_seconds=expiry, now=_now(time.time()))

    async def decr(self, key: str, amount: int = 1) -> int:
        async with self.db.write() as tx:
            return await tx.add_to_counter(key, -amount, lives_seconds=1, now=_now(time.time()))

    async def get(self, key: str) -> int:
        async with self.db.read() as tx:
            return (await tx.counter(key, now=_now(time.time())))[0]

    async def get_expiry(self, key: str) -> float:
        now = time.time()
        async with self.db.read() as tx:
            _, expires = await tx.counter(key, now=_now(now))
        return expires.timestamp() if expires is not None else now

    async def check(self) -> bool:
        try:
            await self.db.ping()
        except KeyturnError:
            return False
        return True

    async def reset(self) -> int | None:
        async with self.db.write() as tx:
            return await tx.clear_all_counters()

    async def clear(self, key: str) -> None:
        async with self.db.write() as tx:
            await tx.clear_counters(key)

    async def acquire_sliding_window_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """Increment first, then compare, in one transaction (a lost race is taken back)."""
        if amount > limit:
            return False
        now = time.time()
        previous_key, current_key = self.sliding_window_keys(key, expiry, now)
        async with self.db.write() as tx:
            current = await tx.add_to_counter(current_key, amount, lives_seconds=2 * expiry, now=_now(now))
            previous = (await tx.counters(previous_key, now=_now(now))).get(previous_key, 0)
            weight = (1 - (((now - expiry) / expiry) % 1)) if previous else 0.0
            if math.floor(previous * weight + current) > limit:
                await tx.add_to_counter(current_key, -amount, lives_seconds=2 * expiry, now=_now(now))
                return False
        return True

    async def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        now = time.time()
        previous_key, current_key = self.sliding_window_keys(key, expiry, now)
        async with self._reading() as tx:
            counts = await tx.counters(previous_key, current_key, now=_now(now))  # one statement
        previous, current = counts.get(previous_key, 0), counts.get(current_key, 0)
        previous_ttl = (1 - (((now - expiry) / expiry) % 1)) * expiry if previous else 0.0
        current_ttl = (1 - ((now / expiry) % 1)) * expiry + expiry
        return previous, previous_ttl, current, current_ttl

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[CounterReads]:
        """The request's own read transaction when `Throttles.peek` was given one, else a new one."""
        borrowed = _REQUEST_READER.get()
        if borrowed is not None:
            yield borrowed
            return
        async with self.db.read() as tx:
            yield tx

    async def clear_sliding_window(self, key: str, expiry: int) -> None:
        previous_key, current_key = self.sliding_window_keys(key, expiry, time.time())
        async with self.db.write() as tx:
            await tx.clear_counters(previous_key, current_key)


class Throttles:
    """What the protections ask: count a hit, look without counting, forget a key."""

    def __init__(self, storage: Storage, *, on_close: Callable[[], Awaitable[None]] | None = None) -> None:
        self.storage = storage
        self.in_database = isinstance(storage, DatabaseCounters)  # each hit is a write transaction
        self.limiter = SlidingWindowCounterRateLimiter(storage)
        self._on_close = on_close

    async def close(self) -> None:
        """Let go of the storage's connections (Redis: its pool)."""
        if self._on_close is not None:
            await self._on_close()

    async def hit(self, rate: Rate, *key: str, cost: int = 1) -> Verdict:
        item = rate.item()
        allowed = await self.limiter.hit(item, *key, cost=cost)
        return await self._verdict(item, key, allowed)

    async def admit(self, rate: Rate, *key: str) -> int:
        """Count one hit: 0 when it is allowed, else the seconds until one would be. `hit`'s
        cheap twin for callers that need no counts: the window is read only for a refusal."""
        item = rate.item()
        if await self.limiter.hit(item, *key):
            return 0
        stats = await self.limiter.get_window_stats(item, *key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    def deferred_hit(self, rate: Rate, *key: str) -> Callable[[CounterWrites], Awaitable[None]]:
        """`admit`'s count as a change for the caller's own write transaction (database
        counters only): a request that writes anyway counts its hit there instead of in a
        transaction of its own. The caller peeks first; concurrent requests at the limit's
        edge may then pass it by a few, which a quota allows (brute-force counting uses `hit`)."""
        if not isinstance(self.storage, DatabaseCounters):
            raise TypeError("deferred hits are for counters in the database")
        item = rate.item()
        expiry = item.get_expiry()
        now = time.time()
        _, current = self.storage.sliding_window_keys(item.key_for(*key), expiry, now)

        async def count(tx: CounterWrites) -> None:
            await tx.add_to_counter(current, 1, lives_seconds=2 * expiry, now=_now(now))

        return count

    async def peek(self, rate: Rate, *key: str, reader: CounterReads | None = None) -> Verdict:
        """Look without counting, in one storage read: the window's stats say it all (a hit
        is allowed exactly when at least one remains, which is what `limiter.test` checks).
        On the database, `reader` (the request's read transaction) saves opening another."""
        item = rate.item()
        token = _REQUEST_READER.set(reader)
        try:
            stats = await self.limiter.get_window_stats(item, *key)
        finally:
            _REQUEST_READER.reset(token)
        return self._verdict_of(stats, allowed=stats.remaining > 0)

    async def clear(self, rate: Rate, *key: str) -> None:
        await self.limiter.clear(rate.item(), *key)

    async def _verdict(self, item: RateLimitItem, key: tuple[str, ...], allowed: bool) -> Verdict:
        return self._verdict_of(await self.limiter.get_window_stats(item, *key), allowed=allowed)

    @staticmethod
    def _verdict_of(stats: WindowStats, *, allowed: bool) -> Verdict:
        retry = 0 if allowed else max(1, math.ceil(stats.reset_time - time.time()))
        return Verdict(
            allowed=allowed, remaining=stats.remaining, retry_after=retry, reset_at=stats.reset_time
        )


def throttles_for(db: Database, *, redis_url: str | None) -> Throttles:
    """Redis when configured (several instances share it); else the database."""
    if redis_url:
        from limits.aio.storage import RedisStorage
        from redis.asyncio import ConnectionPool

        pool = ConnectionPool.from_url(
            redis_url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
        )
        options: dict[str, Any] = {"connection_pool": pool}  # typed as scalars, passed to redis-py
        storage: Storage = RedisStorage(
            f"async+{redis_url}",
            implementation="redispy",
            wrap_exceptions=True,
            key_prefix="keyturn",
            **options,
        )

        async def close() -> None:
            await pool.aclose()

        return Throttles(storage, on_close=close)
    return Throttles(DatabaseCounters(db))
