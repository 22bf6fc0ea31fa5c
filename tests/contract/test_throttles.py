"""The throttles' counters, on the configured database and on Redis (127.0.0.1:6379).

Both storages must agree: a rate admits exactly its limit, a look does not count, clearing
forgets, and concurrent hits (separate connections, as separate workers would use) never
admit more than the limit.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import pytest

from keyturn.store.sql.store import open_database
from keyturn.throttles import Rate, Throttles, throttles_for
from tests.support.redis import TEST_REDIS_URL

T = TypeVar("T")
REDIS_URL = TEST_REDIS_URL


@pytest.fixture(params=["database", "redis"])
def counting(request: pytest.FixtureRequest, clean_database: str) -> Iterator[Callable[..., object]]:
    """Run a coroutine with a Throttles on the database or Redis, fresh keys per test."""
    backend = request.param

    def run(work: Callable[[Throttles, str], Awaitable[T]]) -> T:
        async def main() -> T:
            db = await open_database(clean_database)
            try:
                throttles = throttles_for(db, redis_url=REDIS_URL if backend == "redis" else None)
                try:
                    return await work(throttles, f"test-{secrets.token_hex(6)}")
                finally:
                    await throttles.close()
            finally:
                await db.close()

        return asyncio.run(main())

    yield run


def test_a_rate_admits_its_limit_then_refuses_with_a_retry_after(counting: Callable[..., object]) -> None:
    rate = Rate(limit=3, per_seconds=60)

    async def work(throttles: Throttles, key: str) -> tuple[list[tuple[bool, int]], int]:
        verdicts = [await throttles.hit(rate, key, "198.51.100.7") for _ in range(4)]
        return [(v.allowed, v.remaining) for v in verdicts], verdicts[-1].retry_after

    outcome = counting(work)
    assert isinstance(outcome, tuple)
    seen, retry_after = outcome
    assert seen == [(True, 2), (True, 1), (True, 0), (False, 0)]
    assert isinstance(retry_after, int) and 1 <= retry_after <= 120


def test_looking_does_not_count_and_clearing_forgets(counting: Callable[..., object]) -> None:
    rate = Rate(limit=2, per_seconds=60)

    async def work(throttles: Throttles, key: str) -> list[bool]:
        seen = [(await throttles.peek(rate, key)).allowed for _ in range(5)]
        seen += [(await throttles.hit(rate, key)).allowed for _ in range(3)]
        await throttles.clear(rate, key)
        seen.append((await throttles.hit(rate, key)).allowed)
        other = (await throttles.hit(rate, key, "another")).allowed  # keys are independent
        return [*seen, other]

    assert counting(work) == [True] * 5 + [True, True, False, True, True]


def test_concurrent_hits_never_admit_more_than_the_limit(counting: Callable[..., object]) -> None:
    rate = Rate(limit=10, per_seconds=60)

    async def work(throttles: Throttles, key: str) -> int:
        verdicts = await asyncio.gather(*(throttles.hit(rate, key) for _ in range(40)))
        return sum(v.allowed for v in verdicts)

    assert counting(work) == 10


def test_admit_counts_like_hit_and_peek_agrees(counting: Callable[..., object]) -> None:
    """`admit` (the endpoint rate limits' cheap hit) admits exactly the limit, concurrent ones
    too; a peek after it sees the window full with the same retry-after bound."""
    rate = Rate(limit=5, per_seconds=60)

    async def work(throttles: Throttles, key: str) -> tuple[int, list[int], bool, int]:
        admitted = await asyncio.gather(*(throttles.admit(rate, key) for _ in range(12)))
        later = [await throttles.admit(rate, key) for _ in range(2)]
        look = await throttles.peek(rate, key)
        return sum(1 for retry in admitted if retry == 0), later, look.allowed, look.retry_after

    outcome = counting(work)
    assert isinstance(outcome, tuple)
    allowed, later, peek_allowed, peek_retry = outcome
    assert allowed == 5
    assert all(1 <= retry <= 120 for retry in later)
    assert peek_allowed is False and 1 <= peek_retry <= 120
