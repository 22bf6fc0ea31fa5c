"""Hooks in SQL."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import delete, select

from keyturn.domain.hooks import Hook
from keyturn.store.sql.base import SqlTxBase
from keyturn.store.sql.tables import hooks


class SqlHooks(SqlTxBase):
    async def add_hook(self, hook: Hook) -> None:
        await self._insert_row(hooks, asdict(hook))

    async def list_hooks(self, *, trigger: str | None = None) -> list[Hook]:
        query = select(hooks).order_by(hooks.c.created_at, hooks.c.id)
        if trigger is not None:
            query = query.where(hooks.c.trigger == trigger)
        return [Hook(**dict(row._mapping)) for row in await self._run(query)]

    async def delete_hook(self, hook_id: str) -> bool:
        result = await self._run(delete(hooks).where(hooks.c.id == hook_id))
        return bool(result.rowcount == 1)
