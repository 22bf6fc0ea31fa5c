"""Tenant settings and instance-wide secrets in SQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update

from keyturn.domain.tenant import TenantSettings
from keyturn.errors import Conflict
from keyturn.store.sql.base import SqlRepository
from keyturn.store.sql.tables import secrets, tenant_settings

_TENANT_ROW = 1


class SqlTenantStore(SqlRepository):
    async def load_tenant(self) -> TenantSettings | None:
        async with self._read() as conn:
            data = await conn.scalar(
                select(tenant_settings.c.settings).where(tenant_settings.c.id == _TENANT_ROW)
            )
        return TenantSettings.model_validate(data) if data is not None else None

    async def save_tenant(self, tenant: TenantSettings, *, now: datetime) -> None:
        data = tenant.model_dump(mode="json")
        async with self._write() as conn:
            result = await conn.execute(
                update(tenant_settings)
                .where(tenant_settings.c.id == _TENANT_ROW)
                .values(settings=data, updated_at=now)
            )
            if result.rowcount == 0:
                await conn.execute(
                    insert(tenant_settings).values(id=_TENANT_ROW, settings=data, updated_at=now)
                )

    async def seed_tenant(self, tenant: TenantSettings, *, now: datetime) -> None:
        try:
            async with self._write() as conn:
                exists = await conn.scalar(
                    select(tenant_settings.c.id).where(tenant_settings.c.id == _TENANT_ROW)
                )
                if exists is None:
                    await conn.execute(
                        insert(tenant_settings).values(
                            id=_TENANT_ROW, settings=tenant.model_dump(mode="json"), updated_at=now
                        )
                    )
        except Conflict:
            pass  # another instance seeded it first: theirs stands

    async def get_or_create_secret(self, name: str, value: bytes) -> bytes:
        try:
            async with self._write() as conn:
                stored = await conn.scalar(select(secrets.c.value).where(secrets.c.name == name))
                if stored is not None:
                    return bytes(stored)
                await conn.execute(insert(secrets).values(name=name, value=value))
            return value
        except Conflict:  # another instance created it between our read and insert
            async with self._read() as conn:
                winner = await conn.scalar(select(secrets.c.value).where(secrets.c.name == name))
            assert winner is not None
            return bytes(winner)
