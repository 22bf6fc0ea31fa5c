"""Brute-force blocks in SQL."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from keyturn.domain.blocks import UserBlock
from keyturn.store.sql.base import SqlTxBase
from keyturn.store.sql.tables import user_blocks

_t = user_blocks.c


def _live(now: datetime) -> ColumnElement[bool]:
    return or_(_t.expires_at.is_(None), _t.expires_at > now)


def _which(identifier: str | None, user_id: str | None, ip: str | None) -> ColumnElement[bool]:
    conditions = []
    if identifier is not None:
        conditions.append(_t.identifier == identifier)
    if user_id is not None:
        conditions.append(_t.user_id == user_id)
    if ip is not None:
        conditions.append(_t.ip == ip)
    assert conditions, "name the blocks to touch"
    return and_(*conditions)


class SqlBlocks(SqlTxBase):
    async def find_block(self, identifier: str, ip: str, *, now: datetime) -> UserBlock | None:
        row = await self._first(
            select(user_blocks).where(_t.identifier == identifier, _t.ip == ip, _live(now))
        )
        return UserBlock(**dict(row._mapping)) if row else None

    async def list_blocks(
        self, *, identifier: str | None = None, user_id: str | None = None, now: datetime
    ) -> list[UserBlock]:
        query = (
            select(user_blocks)
            .where(_which(identifier, user_id, None), _live(now))
            .order_by(_t.blocked_at, _t.ip)
        )
        return [UserBlock(**dict(row._mapping)) for row in await self._run(query)]

    async def add_block(self, block: UserBlock) -> bool:
        """True if this call blocked the pair (an expired block of it is replaced; a live one kept)."""
        await self._run(
            delete(user_blocks).where(
                _t.identifier == block.identifier, _t.ip == block.ip, ~_live(block.blocked_at)
            )
        )
        dialect_insert = postgresql_insert if self.dialect == "postgresql" else sqlite_insert
        statement = (
            dialect_insert(user_blocks)
            .values(**asdict(block))
            .on_conflict_do_nothing(index_elements=["identifier", "ip"])
        )
        return bool((await self._run(statement)).rowcount == 1)

    async def remove_blocks(
        self, *, identifier: str | None = None, user_id: str | None = None, ip: str | None = None
    ) -> int:
        return int((await self._run(delete(user_blocks).where(_which(identifier, user_id, ip)))).rowcount)
