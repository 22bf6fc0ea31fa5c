"""The email outbox in SQL: enqueue with the change that caused it, claim, mark."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update

from keyturn.domain.mail import OutboxEntry
from keyturn.store.sql.base import SqlTxBase
from keyturn.store.sql.tables import outbox


def _entry(row: Any) -> OutboxEntry:
    values = dict(row._mapping)
    values["sealed"] = bytes(values["sealed"])
    return OutboxEntry(**values)


def _due(now: datetime) -> ColumnElement[bool]:
    """Queued, or claimed by a worker whose lease ran out, and its time has come."""
    return and_(or_(outbox.c.state == "queued", outbox.c.state == "sending"), outbox.c.next_attempt_at <= now)


class SqlMail(SqlTxBase):
    async def enqueue_mail(self, entry: OutboxEntry) -> None:
        await self._insert_row(outbox, asdict(entry))

    async def mail_due(self, *, now: datetime) -> bool:
        due = select(outbox.c.id).where(_due(now)).limit(1)
        return await self._scalar(due) is not None

    async def claim_mail(self, *, now: datetime, lease_until: datetime, limit: int) -> list[OutboxEntry]:
        """Due messages (queued, or claimed by a worker whose lease ran out), now claimed by this
        one until `lease_until`; other workers skip rows another is claiming (SKIP LOCKED)."""
        due = (
            select(outbox.c.id)
            .where(_due(now))
            .order_by(outbox.c.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        rows = await self._run(
            update(outbox)
            .where(outbox.c.id.in_(due))
            .values(state="sending", next_attempt_at=lease_until, attempts=outbox.c.attempts + 1)
            .returning(*outbox.c)
        )
        return [_entry(row) for row in rows]

    async def mark_mail_sent(self, mail_id: str, *, now: datetime) -> bool:
        result = await self._run(
            update(outbox)
            .where(outbox.c.id == mail_id, outbox.c.state == "sending")
            .values(state="sent", sent_at=now, last_error=None)
        )
        return bool(result.rowcount == 1)

    async def retry_mail(self, mail_id: str, *, next_attempt_at: datetime, error: str, give_up: bool) -> None:
        await self._run(
            update(outbox)
            .where(outbox.c.id == mail_id)
            .values(
                state="failed" if give_up else "queued",
                next_attempt_at=next_attempt_at,
                last_error=error[:500],
            )
        )

    async def list_mail(self, *, to_address: str | None = None, limit: int = 100) -> list[OutboxEntry]:
        query = select(outbox).order_by(outbox.c.created_at).limit(limit)
        if to_address is not None:
            query = query.where(outbox.c.to_address == to_address)
        return [_entry(row) for row in await self._run(query)]

    async def mail_waiting(self) -> int:
        """Messages not yet sent (queued or being sent): what /metrics and tests watch."""
        waiting = or_(outbox.c.state == "queued", outbox.c.state == "sending")
        return int(await self._scalar(select(func.count()).select_from(outbox).where(waiting)) or 0)
