"""The event log in SQL: batch inserts, filtered and checkpoint reads, retention."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from keyturn.domain.events import Event, EventType
from keyturn.store.sql.base import SqlRepository
from keyturn.store.sql.tables import events


def _event(row: Any) -> Event:
    values = dict(row._mapping)
    values["type"] = EventType(values["type"])
    return Event(**values)


class SqlEventStore(SqlRepository):
    async def append_events(self, batch: list[Event]) -> None:
        """Insert a batch; events already stored (a retried batch) are skipped, not doubled."""
        if not batch:
            return
        rows = [{**asdict(e), "type": e.type.value} for e in batch]
        async with self._write() as conn:
            dialect_insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
            await conn.execute(dialect_insert(events).on_conflict_do_nothing(index_elements=["log_id"]), rows)

    async def query_events(
        self,
        *,
        types: tuple[str, ...] = (),
        user_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after_log_id: str | None = None,
        offset: int = 0,
        limit: int = 50,
        newest_first: bool = True,
    ) -> tuple[list[Event], int]:
        """A page of events and the total matching (for include_totals)."""
        conditions: list[ColumnElement[bool]] = []
        if types:
            conditions.append(events.c.type.in_(types))
        if user_id:
            conditions.append(events.c.user_id == user_id)
        if since:
            conditions.append(events.c.date >= since)
        if until:
            conditions.append(events.c.date <= until)
        if after_log_id:
            conditions.append(events.c.log_id > after_log_id)
        order = events.c.log_id.desc() if newest_first else events.c.log_id.asc()
        async with self._read() as conn:
            total = await conn.scalar(select(func.count()).select_from(events).where(*conditions))
            rows = await conn.execute(
                select(events).where(*conditions).order_by(order).offset(offset).limit(limit)
            )
            return [_event(row) for row in rows], int(total or 0)

    async def get_event(self, log_id: str) -> Event | None:
        async with self._read() as conn:
            row = (await conn.execute(select(events).where(events.c.log_id == log_id))).first()
        return _event(row) if row else None

    async def delete_events_before(self, cutoff: datetime) -> int:
        async with self._write() as conn:
            result = await conn.execute(delete(events).where(events.c.date < cutoff))
        return result.rowcount
