"""Hooks in SQL."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import delete, insert, select

from keyturn.domain.hooks import Hook
from keyturn.store.sql.base import SqlRepository
from keyturn.store.sql.tables import hooks


class SqlHookStore(SqlRepository):
    async def add_hook(self, hook: Hook) -> None:
        async with self._write() as conn:
            await conn.execute(insert(hooks).values(**asdict(hook)))

    async def list_hooks(self, *, trigger: str | None = None) -> list[Hook]:
        query = select(hooks).order_by(hooks.c.created_at, hooks.c.id)
        if trigger is not None:
            query = query.where(hooks.c.trigger == trigger)
        async with self._read() as conn:
            return [Hook(**dict(row._mapping)) for row in await conn.execute(query)]

    async def delete_hook(self, hook_id: str) -> bool:
        async with self._write() as conn:
            result = await conn.execute(delete(hooks).where(hooks.c.id == hook_id))
        return result.rowcount == 1
