"""The stored FIDO Metadata Service blob: one row, replaced whole by `keyturn mds update`."""

from __future__ import annotations

from sqlalchemy import delete, insert, select

from keyturn.domain.mds import StoredMetadataBlob
from keyturn.store.sql.base import SqlTxBase
from keyturn.store.sql.tables import mds_blobs

_ROW = 1
_SERIAL = select(mds_blobs.c.serial).where(mds_blobs.c.id == _ROW)


class SqlMds(SqlTxBase):
    async def mds_serial(self) -> int | None:
        serial = await self._scalar(_SERIAL)
        return int(serial) if serial is not None else None

    async def load_mds_blob(self) -> StoredMetadataBlob | None:
        row = await self._first(select(mds_blobs).where(mds_blobs.c.id == _ROW))
        if row is None:
            return None
        return StoredMetadataBlob(
            serial=int(row.serial),
            next_update=row.next_update,
            entry_count=int(row.entry_count),
            blob=row.blob,
            stored_at=row.stored_at,
        )

    async def store_mds_blob(self, stored: StoredMetadataBlob) -> None:
        await self._run(delete(mds_blobs).where(mds_blobs.c.id == _ROW))
        await self._run(
            insert(mds_blobs).values(
                id=_ROW,
                serial=stored.serial,
                next_update=stored.next_update,
                entry_count=stored.entry_count,
                blob=stored.blob,
                stored_at=stored.stored_at,
            )
        )
