"""Tenant settings, the config version every cache compares, and instance-wide secrets in SQL."""

from __future__ import annotations

from datetime import datetime
from secrets import randbelow

from sqlalchemy import insert, select, update

from keyturn.domain.tenant import TenantSettings
from keyturn.store.sql.base import SqlTxBase
from keyturn.store.sql.tables import instance_facts, secrets, tenant_settings

_TENANT_ROW = 1
# Read by every request: built once (a statement is immutable; building it costs more than running it).
_VERSION = select(tenant_settings.c.version).where(tenant_settings.c.id == _TENANT_ROW)


def new_version() -> int:
    """A version no earlier state had: random, so a restored or re-created row cannot repeat one."""
    return randbelow(2**62) + 1


class SqlConfig(SqlTxBase):
    async def config_version(self) -> int:
        version = await self._scalar(_VERSION)
        return int(version or 0)

    async def load_tenant(self) -> TenantSettings | None:
        data = await self._scalar(
            select(tenant_settings.c.settings).where(tenant_settings.c.id == _TENANT_ROW)
        )
        return TenantSettings.model_validate(data) if data is not None else None

    async def save_tenant(self, tenant: TenantSettings, *, now: datetime) -> None:
        data = tenant.model_dump(mode="json")
        result = await self._run(
            update(tenant_settings)
            .where(tenant_settings.c.id == _TENANT_ROW)
            .values(settings=data, updated_at=now, version=new_version())
        )
        if result.rowcount == 0:
            await self._run(
                insert(tenant_settings).values(
                    id=_TENANT_ROW, settings=data, updated_at=now, version=new_version()
                )
            )

    async def seed_tenant(self, tenant: TenantSettings, *, now: datetime) -> None:
        await self._insert_new(
            tenant_settings,
            key="id",
            id=_TENANT_ROW,
            settings=tenant.model_dump(mode="json"),
            updated_at=now,
            version=new_version(),
        )

    async def bump_config_version(self) -> None:
        await self._run(
            update(tenant_settings).where(tenant_settings.c.id == _TENANT_ROW).values(version=new_version())
        )

    async def get_secret(self, name: str) -> bytes | None:
        stored = await self._scalar(select(secrets.c.value).where(secrets.c.name == name))
        return bytes(stored) if stored is not None else None

    async def get_or_create_secret(self, name: str, value: bytes) -> bytes:
        await self._insert_new(secrets, key="name", name=name, value=value)
        stored = await self.get_secret(name)  # ours, or the one another instance stored first
        assert stored is not None
        return stored

    async def get_fact(self, name: str) -> str | None:
        value = await self._scalar(select(instance_facts.c.value).where(instance_facts.c.name == name))
        return str(value) if value is not None else None

    async def set_fact(self, name: str, value: str) -> None:
        if not await self._insert_new(instance_facts, key="name", name=name, value=value):
            await self._run(update(instance_facts).where(instance_facts.c.name == name).values(value=value))
