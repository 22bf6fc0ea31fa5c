"""Window counters in SQL (the throttles' storage without Redis): one row per window, expiring."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import Executable, Integer, bindparam, case, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from keyturn.store.sql.base import SqlTxBase
from keyturn.store.sql.tables import rate_limits

# The suspicious-IP peek of every sign-in: built once, its keys an expanding parameter.
_COUNTERS = select(rate_limits.c.key, rate_limits.c.count).where(
    rate_limits.c.key.in_(bindparam("b_keys", expanding=True)), rate_limits.c.expires_at > bindparam("b_now")
)


@lru_cache(maxsize=2)
def _add_to_counter(dialect: str) -> Executable:
    """The upsert of every counted hit, built once per dialect (its values are parameters)."""
    dialect_insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    at = rate_limits.c.expires_at.type
    now, expires = bindparam("b_now", type_=at), bindparam("b_expires", type_=at)
    fresh, amount = bindparam("b_fresh", type_=Integer()), bindparam("b_amount", type_=Integer())
    stale = rate_limits.c.expires_at <= now
    return (
        dialect_insert(rate_limits)
        .values(key=bindparam("b_key"), count=fresh, expires_at=expires)
        .on_conflict_do_update(
            index_elements=["key"],
            set_={
                "count": case((stale, fresh), else_=rate_limits.c.count + amount),
                "expires_at": case((stale, expires), else_=rate_limits.c.expires_at),
            },
        )
        .returning(rate_limits.c.count)
    )


class SqlCounters(SqlTxBase):
    async def counter(self, key: str, *, now: datetime) -> tuple[int, datetime | None]:
        row = await self._first(
            select(rate_limits.c.count, rate_limits.c.expires_at).where(
                rate_limits.c.key == key, rate_limits.c.expires_at > now
            )
        )
        return (int(row.count), row.expires_at) if row else (0, None)

    async def counters(self, *keys: str, now: datetime) -> dict[str, int]:
        result = await self._run(_COUNTERS, {"b_keys": list(keys), "b_now": now})
        return {row.key: int(row.count) for row in result.all()}

    async def add_to_counter(self, key: str, amount: int, *, lives_seconds: int, now: datetime) -> int:
        """Add `amount` (may be negative) to a counter, starting a fresh one that lives
        `lives_seconds` if there is none or it expired; its new value, in one statement."""
        params = {
            "b_key": key,
            "b_fresh": max(amount, 0),
            "b_amount": amount,
            "b_now": now,
            "b_expires": now + timedelta(seconds=lives_seconds),
        }
        return int(await self._scalar(_add_to_counter(self.dialect), params))

    async def clear_counters(self, *keys: str) -> None:
        await self._run(delete(rate_limits).where(rate_limits.c.key.in_(keys)))

    async def clear_all_counters(self) -> int:
        return int((await self._run(delete(rate_limits))).rowcount)
