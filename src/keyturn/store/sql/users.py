"""Users and passkeys in SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, select, true, update

from keyturn.domain.identity import NO_ATTESTATION, Passkey, PasskeyAttestation, User
from keyturn.errors import Conflict
from keyturn.store.sql.base import SqlTxBase
from keyturn.store.sql.tables import passkeys, spent_challenges, users

_USER_COLUMNS = [c.label(f"u_{c.name}") for c in users.c]
# The statements every passkey sign-in runs, built once (values are parameters).
_PASSKEY_WITH_OWNER = (
    select(
        passkeys,
        *_USER_COLUMNS,
        select(spent_challenges.c.id)
        .where(spent_challenges.c.id == bindparam("b_challenge_id"))
        .exists()
        .label("challenge_spent"),
    )
    .join(users, users.c.id == passkeys.c.user_id)
    .where(passkeys.c.credential_id == bindparam("b_credential_id"))
)
_LIST_PASSKEYS = (
    select(passkeys)
    .where(passkeys.c.user_id == bindparam("b_user_id"))
    .order_by(passkeys.c.created_at, passkeys.c.id)
)
_RECORD_PASSKEY_USE = update(passkeys).where(
    passkeys.c.id == bindparam("b_id"), passkeys.c.sign_count == bindparam("b_previous_count")
)


def user_from_row(row: Any, prefix: str = "") -> User:
    get = row._mapping
    return User(
        id=get[f"{prefix}id"],
        email=get[f"{prefix}email"],
        user_handle=bytes(get[f"{prefix}user_handle"]),
        password_hash=get[f"{prefix}password_hash"],
        created_at=get[f"{prefix}created_at"],
        updated_at=get[f"{prefix}updated_at"],
        name=get[f"{prefix}name"],
        email_verified=get[f"{prefix}email_verified"],
        traits=dict(get[f"{prefix}traits"] or {}),
        user_metadata=dict(get[f"{prefix}user_metadata"] or {}),
        app_metadata=dict(get[f"{prefix}app_metadata"] or {}),
    )


def passkey_from_row(row: Any, *, owner: str | None = None) -> Passkey:
    """A passkey row (the `passkeys` table, or a table of its columns whose owner column has
    another name: dashboard operators' credentials pass `owner`)."""
    return Passkey(
        id=row.id,
        user_id=row.user_id if owner is None else owner,
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
        attestation=_attestation_from_row(row._mapping),
    )


def _attestation_from_row(columns: Any) -> PasskeyAttestation:
    """The passkey's attestation columns; operators' credentials have none (never attested)."""
    if "attestation_format" not in columns:
        return NO_ATTESTATION
    return PasskeyAttestation(
        format=columns["attestation_format"],
        type=columns["attestation_type"],
        verified=bool(columns["attestation_verified"]),
        provider=columns["attestation_provider"],
        certification_level=columns["certification_level"],
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
        "attestation_format": passkey.attestation.format,
        "attestation_type": passkey.attestation.type,
        "attestation_verified": passkey.attestation.verified,
        "attestation_provider": passkey.attestation.provider,
        "certification_level": passkey.attestation.certification_level,
    }


def _last_method_error() -> Conflict:
    return Conflict(code="last_sign_in_method")


class SqlUsers(SqlTxBase):
    async def get_user(self, user_id: str) -> User | None:
        row = await self._first(select(users).where(users.c.id == user_id))
        return user_from_row(row) if row else None

    async def find_user_by_email(self, email: str) -> User | None:
        row = await self._first(select(users).where(users.c.email == email))
        return user_from_row(row) if row else None

    async def list_users(
        self, *, email: str | None, offset: int, limit: int, email_prefix: str | None = None
    ) -> tuple[list[User], int]:
        condition = users.c.email == email if email is not None else true()
        if email_prefix:
            escaped = email_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            condition = and_(condition, users.c.email.like(escaped + "%", escape="\\"))
        total = await self._scalar(select(func.count()).select_from(users).where(condition))
        rows = await self._run(
            select(users)
            .where(condition)
            .order_by(users.c.created_at, users.c.id)
            .offset(offset)
            .limit(limit)
        )
        return [user_from_row(row) for row in rows], int(total or 0)

    async def _lock_owner(self, user_id: str) -> Any:
        """The user's row, locked until the transaction ends (PostgreSQL; SQLite has one writer)."""
        return await self._first(select(users).where(users.c.id == user_id).with_for_update())

    async def _count_user_passkeys(self, user_id: str) -> int:
        count = await self._scalar(
            select(func.count()).select_from(passkeys).where(passkeys.c.user_id == user_id)
        )
        return int(count or 0)

    async def create_user(self, user: User, *, passkey: Passkey | None = None) -> None:
        await self._insert_row(
            users,
            {
                "id": user.id,
                "email": user.email,
                "user_handle": user.user_handle,
                "password_hash": user.password_hash,
                "name": user.name,
                "email_verified": user.email_verified,
                "traits": user.traits,
                "user_metadata": user.user_metadata,
                "app_metadata": user.app_metadata,
                "created_at": user.created_at,
                "updated_at": user.updated_at,
            },
            conflict="account_exists",
        )
        if passkey is not None:
            await self._insert_row(passkeys, _passkey_values(passkey), conflict="credential_exists")

    async def update_profile(
        self, user_id: str, *, name: str | None, email_verified: bool | None, now: datetime
    ) -> None:
        values: dict[str, Any] = {"updated_at": now}
        if name is not None:
            values["name"] = name
        if email_verified is not None:
            values["email_verified"] = email_verified
        await self._run(update(users).where(users.c.id == user_id).values(**values))

    async def update_traits(
        self,
        user_id: str,
        *,
        now: datetime,
        traits: dict[str, Any] | None = None,
        user_metadata: dict[str, Any] | None = None,
        app_metadata: dict[str, Any] | None = None,
    ) -> None:
        values: dict[str, Any] = {"updated_at": now}
        for column, value in (
            ("traits", traits),
            ("user_metadata", user_metadata),
            ("app_metadata", app_metadata),
        ):
            if value is not None:
                values[column] = value
        await self._run(update(users).where(users.c.id == user_id).values(**values))

    async def iter_users(self, *, after: str | None, limit: int) -> list[User]:
        condition = users.c.id > after if after is not None else true()
        rows = await self._run(select(users).where(condition).order_by(users.c.id).limit(limit))
        return [user_from_row(row) for row in rows]

    async def delete_user(self, user_id: str) -> bool:
        """Passkeys, sessions, consents, grants and their tokens go with the user (ON DELETE CASCADE)."""
        result = await self._run(delete(users).where(users.c.id == user_id))
        return bool(result.rowcount == 1)

    async def update_email(self, user_id: str, email: str, *, now: datetime) -> None:
        await self._run(
            update(users).where(users.c.id == user_id).values(email=email, updated_at=now),
            conflict="email_taken",
        )

    async def set_password_hash(
        self, user_id: str, password_hash: str | None, *, now: datetime, allow_last: bool = False
    ) -> None:
        if password_hash is None and not allow_last:
            await self._lock_owner(user_id)
            if await self._count_user_passkeys(user_id) == 0:
                raise _last_method_error()
        await self._run(
            update(users).where(users.c.id == user_id).values(password_hash=password_hash, updated_at=now)
        )


class SqlPasskeys(SqlUsers):
    async def list_passkeys(self, user_id: str) -> list[Passkey]:
        rows = await self._run(_LIST_PASSKEYS, {"b_user_id": user_id})
        return [passkey_from_row(row) for row in rows]

    async def find_passkey(self, credential_id: bytes) -> Passkey | None:
        row = await self._first(select(passkeys).where(passkeys.c.credential_id == credential_id))
        return passkey_from_row(row) if row else None

    async def find_passkey_with_owner(
        self, credential_id: bytes, *, challenge_id: bytes
    ) -> tuple[Passkey, User, bool] | None:
        row = await self._first(
            _PASSKEY_WITH_OWNER, {"b_credential_id": credential_id, "b_challenge_id": challenge_id}
        )
        return (passkey_from_row(row), user_from_row(row, "u_"), bool(row.challenge_spent)) if row else None

    async def count_passkeys(self) -> int:
        return int(await self._scalar(select(func.count()).select_from(passkeys)) or 0)

    async def passkey_shapes(
        self, *, sample: int
    ) -> tuple[dict[int, int], list[tuple[int, tuple[str, ...]]]]:
        per_user = (
            select(func.count().label("n")).select_from(passkeys).group_by(passkeys.c.user_id).subquery()
        )
        histogram = {
            int(n): int(users_with_n)
            for n, users_with_n in await self._run(select(per_user.c.n, func.count()).group_by(per_user.c.n))
        }
        rows = await self._run(
            select(func.length(passkeys.c.credential_id), passkeys.c.transports)
            .order_by(func.random())
            .limit(sample)
        )
        return histogram, [(int(length), tuple(transports)) for length, transports in rows]

    async def add_passkey(self, passkey: Passkey, *, limit: int) -> None:
        await self._lock_owner(passkey.user_id)  # two registrations cannot both pass the limit
        if await self._count_user_passkeys(passkey.user_id) >= limit:
            raise Conflict(code="passkey_limit_reached", limit=limit)
        await self._insert_row(passkeys, _passkey_values(passkey), conflict="credential_exists")

    async def record_passkey_use(
        self, passkey_id: str, *, previous_count: int, sign_count: int, backup_state: bool, used_at: datetime
    ) -> bool:
        # WebAuthn L3 §7.2 step 21, decided by the database: a concurrent sign-in that stored
        # another count since this one was verified makes this update match no row.
        result = await self._run(
            _RECORD_PASSKEY_USE,
            {
                "b_id": passkey_id,
                "b_previous_count": previous_count,
                "sign_count": sign_count,
                "backup_state": backup_state,
                "last_used_at": used_at,
            },
        )
        return bool(result.rowcount == 1)

    async def rename_passkey(self, user_id: str, passkey_id: str, name: str) -> bool:
        result = await self._run(
            update(passkeys)
            .where(passkeys.c.id == passkey_id, passkeys.c.user_id == user_id)
            .values(name=name)
        )
        return bool(result.rowcount == 1)

    async def delete_passkey(self, user_id: str, passkey_id: str, *, allow_last: bool = False) -> bool:
        owner = await self._lock_owner(user_id)
        if owner is None:
            return False
        mine = and_(passkeys.c.id == passkey_id, passkeys.c.user_id == user_id)
        only_way = owner.password_hash is None and await self._count_user_passkeys(user_id) <= 1
        if not allow_last and only_way:
            exists = await self._scalar(select(func.count()).select_from(passkeys).where(mine))
            if exists:
                raise _last_method_error()
        result = await self._run(delete(passkeys).where(mine))
        return bool(result.rowcount == 1)

    async def delete_all_passkeys(self, user_id: str) -> int:
        result = await self._run(delete(passkeys).where(passkeys.c.user_id == user_id))
        return int(result.rowcount)
