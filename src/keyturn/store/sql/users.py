"""Users and passkeys in SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.domain.identity import Passkey, User
from keyturn.errors import Conflict
from keyturn.store.sql.base import SqlRepository
from keyturn.store.sql.tables import passkeys, users


def _user(row: Any) -> User:
    return User(
        id=row.id,
        email=row.email,
        user_handle=bytes(row.user_handle),
        password_hash=row.password_hash,
        created_at=row.created_at,
        updated_at=row.updated_at,
        name=row.name,
        email_verified=row.email_verified,
    )


def _passkey(row: Any) -> Passkey:
    return Passkey(
        id=row.id,
        user_id=row.user_id,
        credential_id=bytes(row.credential_id),
        public_key=bytes(row.public_key),
        sign_count=row.sign_count,
        aaguid=row.aaguid,
        transports=tuple(row.transports),
        backup_eligible=row.backup_eligible,
        backup_state=row.backup_state,
        user_handle=bytes(row.user_handle),
        rp_id=row.rp_id,
        name=row.name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        user_agent=row.user_agent,
    )


async def _count_user_passkeys(conn: AsyncConnection, user_id: str) -> int:
    count = await conn.scalar(select(func.count()).select_from(passkeys).where(passkeys.c.user_id == user_id))
    return int(count or 0)


def _last_method_error() -> Conflict:
    return Conflict(
        "This is your last way to sign in. Add another passkey or a password first.",
        code="last_sign_in_method",
    )


def _passkey_values(passkey: Passkey) -> dict[str, Any]:
    return {
        "id": passkey.id,
        "user_id": passkey.user_id,
        "credential_id": passkey.credential_id,
        "public_key": passkey.public_key,
        "sign_count": passkey.sign_count,
        "aaguid": passkey.aaguid,
        "transports": list(passkey.transports),
        "backup_eligible": passkey.backup_eligible,
        "backup_state": passkey.backup_state,
        "user_handle": passkey.user_handle,
        "rp_id": passkey.rp_id,
        "name": passkey.name,
        "created_at": passkey.created_at,
        "last_used_at": passkey.last_used_at,
        "user_agent": passkey.user_agent,
    }


class SqlUserStore(SqlRepository):
    async def create_user(self, user: User, *, passkey: Passkey | None = None) -> None:
        async with self._write(conflict="account_exists") as conn:
            await conn.execute(
                insert(users).values(
                    id=user.id,
                    email=user.email,
                    user_handle=user.user_handle,
                    password_hash=user.password_hash,
                    name=user.name,
                    email_verified=user.email_verified,
                    created_at=user.created_at,
                    updated_at=user.updated_at,
                )
            )
            if passkey is not None:
                await conn.execute(insert(passkeys).values(**_passkey_values(passkey)))

    async def get_user(self, user_id: str) -> User | None:
        async with self._read() as conn:
            row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
        return _user(row) if row else None

    async def find_user_by_email(self, email: str) -> User | None:
        async with self._read() as conn:
            row = (await conn.execute(select(users).where(users.c.email == email))).first()
        return _user(row) if row else None

    async def list_users(self, *, email: str | None, offset: int, limit: int) -> tuple[list[User], int]:
        condition = users.c.email == email if email is not None else true()
        async with self._read() as conn:
            total = await conn.scalar(select(func.count()).select_from(users).where(condition))
            rows = await conn.execute(
                select(users)
                .where(condition)
                .order_by(users.c.created_at, users.c.id)
                .offset(offset)
                .limit(limit)
            )
            return [_user(row) for row in rows], int(total or 0)

    async def update_profile(
        self, user_id: str, *, name: str | None, email_verified: bool | None, now: datetime
    ) -> None:
        values: dict[str, Any] = {"updated_at": now}
        if name is not None:
            values["name"] = name
        if email_verified is not None:
            values["email_verified"] = email_verified
        async with self._write() as conn:
            await conn.execute(update(users).where(users.c.id == user_id).values(**values))

    async def delete_user(self, user_id: str) -> bool:
        """Delete a user; passkeys, sessions, flows, consents, grants and their tokens go with them."""
        async with self._write() as conn:
            result = await conn.execute(delete(users).where(users.c.id == user_id))
        return result.rowcount == 1

    async def update_email(self, user_id: str, email: str, *, now: datetime) -> None:
        async with self._write(conflict="email_taken") as conn:
            await conn.execute(update(users).where(users.c.id == user_id).values(email=email, updated_at=now))

    async def set_password_hash(
        self, user_id: str, password_hash: str | None, *, now: datetime, allow_last: bool = False
    ) -> None:
        async with self._write() as conn:
            if password_hash is None and not allow_last and await _count_user_passkeys(conn, user_id) == 0:
                raise _last_method_error()
            await conn.execute(
                update(users).where(users.c.id == user_id).values(password_hash=password_hash, updated_at=now)
            )


class SqlPasskeyStore(SqlRepository):
    async def add_passkey(self, passkey: Passkey, *, limit: int) -> None:
        async with self._write(conflict="credential_exists") as conn:
            # Lock the owner's row (PostgreSQL) so two registrations cannot both pass the limit.
            await conn.execute(select(users.c.id).where(users.c.id == passkey.user_id).with_for_update())
            if await _count_user_passkeys(conn, passkey.user_id) >= limit:
                raise Conflict(
                    f"You already have {limit} passkeys, the most allowed. Remove one to add another.",
                    code="passkey_limit_reached",
                )
            await conn.execute(insert(passkeys).values(**_passkey_values(passkey)))

    async def list_passkeys(self, user_id: str) -> list[Passkey]:
        async with self._read() as conn:
            rows = await conn.execute(
                select(passkeys)
                .where(passkeys.c.user_id == user_id)
                .order_by(passkeys.c.created_at, passkeys.c.id)
            )
            return [_passkey(row) for row in rows]

    async def find_passkey(self, credential_id: bytes) -> Passkey | None:
        async with self._read() as conn:
            row = (
                await conn.execute(select(passkeys).where(passkeys.c.credential_id == credential_id))
            ).first()
        return _passkey(row) if row else None

    async def record_passkey_use(
        self, passkey_id: str, *, sign_count: int, backup_state: bool, used_at: datetime
    ) -> None:
        async with self._write() as conn:
            await conn.execute(
                update(passkeys)
                .where(passkeys.c.id == passkey_id)
                .values(sign_count=sign_count, backup_state=backup_state, last_used_at=used_at)
            )

    async def rename_passkey(self, user_id: str, passkey_id: str, name: str) -> bool:
        async with self._write() as conn:
            result = await conn.execute(
                update(passkeys)
                .where(passkeys.c.id == passkey_id, passkeys.c.user_id == user_id)
                .values(name=name)
            )
        return result.rowcount == 1

    async def delete_passkey(self, user_id: str, passkey_id: str, *, allow_last: bool = False) -> bool:
        """Delete one passkey; unless `allow_last` (an operator revoking it), never the last method."""
        async with self._write() as conn:
            owner = (await conn.execute(select(users).where(users.c.id == user_id).with_for_update())).first()
            if owner is None:
                return False
            remaining = await _count_user_passkeys(conn, user_id)
            if remaining <= 1 and owner.password_hash is None and not allow_last:
                exists = await conn.scalar(
                    select(func.count())
                    .select_from(passkeys)
                    .where(passkeys.c.id == passkey_id, passkeys.c.user_id == user_id)
                )
                if exists:
                    raise _last_method_error()
            result = await conn.execute(
                delete(passkeys).where(passkeys.c.id == passkey_id, passkeys.c.user_id == user_id)
            )
        return result.rowcount == 1

    async def delete_all_passkeys(self, user_id: str) -> int:
        async with self._write() as conn:
            result = await conn.execute(delete(passkeys).where(passkeys.c.user_id == user_id))
        return result.rowcount

    async def count_passkeys(self) -> int:
        async with self._read() as conn:
            return int(await conn.scalar(select(func.count()).select_from(passkeys)) or 0)
