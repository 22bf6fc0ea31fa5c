"""The event log in SQL: batch inserts, filtered and checkpoint reads."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, insert, select

from keyturn.domain.events import Event, EventType
from keyturn.store.sql.base import SqlTxBase
from keyturn.store.sql.tables import events


def _event(row: Any) -> Event:
    values = dict(row._mapping)
    values["type"] = EventType(values["type"])
    return Event(**values)


class SqlEvents(SqlTxBase):
    async def append_events(self, batch: list[Event]) -> None:
        """One multi-row INSERT, in the transaction of what the events record."""
        if batch:
            await self._run(insert(events), [{**asdict(e), "type": e.type.value} for e in batch])

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
        total = await self._scalar(select(func.count()).select_from(events).where(*conditions))
        rows = await self._run(select(events).where(*conditions).order_by(order).offset(offset).limit(limit))
        return [_event(row) for row in rows], int(total or 0)

    async def get_event(self, log_id: str) -> Event | None:
        row = await self._first(select(events).where(events.c.log_id == log_id))
        return _event(row) if row else None
