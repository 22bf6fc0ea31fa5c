"""Second factors in SQL: authenticator apps, recovery codes and security keys.

The rules that must hold under concurrency are the database's: a TOTP time step is accepted
by a conditional UPDATE over the last one accepted (two sign-ins with one code: one wins),
a recovery code is consumed by a DELETE whose row count says who was first, and the
security-key limit is checked with the owner's row locked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, bindparam, delete, func, insert, or_, select, update

from keyturn.domain.factors import Factors, RecoveryCodes, TotpCredential
from keyturn.domain.identity import Passkey
from keyturn.errors import Conflict
from keyturn.store.sql.base import SqlTxBase
from keyturn.store.sql.tables import recovery_codes, security_keys, totp_credentials, users
from keyturn.store.sql.users import passkey_from_row

_totp = totp_credentials.c
_codes = recovery_codes.c
_keys = security_keys.c
_USE_STEP = update(totp_credentials).where(
    _totp.id == bindparam("b_id"),
    or_(_totp.last_used_step.is_(None), _totp.last_used_step < bindparam("b_step")),
)
_USE_KEY = update(security_keys).where(
    _keys.id == bindparam("b_id"), _keys.sign_count == bindparam("b_previous_count")
)
_OWNER: BindParameter[str] = bindparam("b_user_id")
# Everything /account shows of a user's second factors, in one round trip: the app (if any),
# how many security keys, how many recovery codes are left and since when.
_FACTORS = (
    select(
        *[c.label(f"t_{c.name}") for c in totp_credentials.c],
        select(func.count()).where(_keys.user_id == _OWNER).scalar_subquery().label("keys"),
        select(func.count()).where(_codes.user_id == _OWNER).scalar_subquery().label("codes"),
        select(func.min(_codes.created_at))
        .where(_codes.user_id == _OWNER)
        .scalar_subquery()
        .label("codes_at"),
    )
    .select_from(users.outerjoin(totp_credentials, _totp.user_id == users.c.id))
    .where(users.c.id == _OWNER)
)


def _totp_from_row(row: Any, prefix: str = "") -> TotpCredential:
    get = row._mapping
    return TotpCredential(
        id=get[f"{prefix}id"],
        user_id=get[f"{prefix}user_id"],
        secret_sealed=bytes(get[f"{prefix}secret_sealed"]),
        created_at=get[f"{prefix}created_at"],
        last_used_step=get[f"{prefix}last_used_step"],
        last_used_at=get[f"{prefix}last_used_at"],
    )


class SqlFactors(SqlTxBase):
    # --- reads ---------------------------------------------------------------------------

    async def get_totp(self, user_id: str) -> TotpCredential | None:
        row = await self._first(select(totp_credentials).where(_totp.user_id == user_id))
        return _totp_from_row(row) if row else None

    async def get_factors(self, user_id: str) -> Factors:
        row = await self._first(_FACTORS, {"b_user_id": user_id})
        if row is None:  # no such user: nothing enrolled
            return Factors(totp=None, security_keys=0, recovery=None)
        totp = _totp_from_row(row, "t_") if row.t_id is not None else None
        recovery = RecoveryCodes(remaining=int(row.codes), created_at=row.codes_at) if row.codes else None
        return Factors(totp=totp, security_keys=int(row.keys or 0), recovery=recovery)

    async def list_security_keys(self, user_id: str) -> list[Passkey]:
        rows = await self._run(
            select(security_keys).where(_keys.user_id == user_id).order_by(_keys.created_at, _keys.id)
        )
        return [passkey_from_row(row) for row in rows]

    async def find_security_key(self, credential_id: bytes) -> Passkey | None:
        row = await self._first(select(security_keys).where(_keys.credential_id == credential_id))
        return passkey_from_row(row) if row else None

    # --- writes --------------------------------------------------------------------------

    async def add_totp(self, credential: TotpCredential) -> None:
        """One authenticator app per user: Conflict(totp_exists) for a second one."""
        values = {
            "id": credential.id,
            "user_id": credential.user_id,
            "secret_sealed": credential.secret_sealed,
            "last_used_step": credential.last_used_step,
            "created_at": credential.created_at,
            "last_used_at": credential.last_used_at,
        }
        await self._insert_row(totp_credentials, values, conflict="totp_exists")

    async def use_totp_step(self, credential_id: str, *, step: int, used_at: datetime) -> bool:
        result = await self._run(
            _USE_STEP,
            {"b_id": credential_id, "b_step": step, "last_used_step": step, "last_used_at": used_at},
        )
        return bool(result.rowcount == 1)

    async def delete_totp(self, user_id: str) -> bool:
        result = await self._run(delete(totp_credentials).where(_totp.user_id == user_id))
        return bool(result.rowcount == 1)

    async def replace_recovery_codes(self, user_id: str, code_hashes: list[bytes], *, now: datetime) -> None:
        await self._run(delete(recovery_codes).where(_codes.user_id == user_id))
        rows = [{"code_hash": h, "user_id": user_id, "created_at": now} for h in code_hashes]
        await self._run(insert(recovery_codes), rows)

    async def use_recovery_code(self, user_id: str, code_hash: bytes) -> bool:
        result = await self._run(
            delete(recovery_codes).where(_codes.user_id == user_id, _codes.code_hash == code_hash)
        )
        return bool(result.rowcount == 1)

    async def delete_recovery_codes(self, user_id: str) -> int:
        return int((await self._run(delete(recovery_codes).where(_codes.user_id == user_id))).rowcount)

    async def add_security_key(self, key: Passkey, *, limit: int) -> None:
        await self._first(select(users.c.id).where(users.c.id == key.user_id).with_for_update())
        count = await self._scalar(
            select(func.count()).select_from(security_keys).where(_keys.user_id == key.user_id)
        )
        if int(count or 0) >= limit:
            raise Conflict(code="security_key_limit_reached", limit=limit)
        values = {
            "id": key.id,
            "user_id": key.user_id,
            "credential_id": key.credential_id,
            "public_key": key.public_key,
            "sign_count": key.sign_count,
            "aaguid": key.aaguid,
            "transports": list(key.transports),
            "backup_eligible": key.backup_eligible,
            "backup_state": key.backup_state,
            "user_handle": key.user_handle,
            "rp_id": key.rp_id,
            "name": key.name,
            "created_at": key.created_at,
            "last_used_at": key.last_used_at,
            "user_agent": key.user_agent,
        }
        await self._insert_row(security_keys, values, conflict="credential_exists")

    async def record_security_key_use(
        self, key_id: str, *, previous_count: int, sign_count: int, used_at: datetime
    ) -> bool:
        result = await self._run(
            _USE_KEY,
            {
                "b_id": key_id,
                "b_previous_count": previous_count,
                "sign_count": sign_count,
                "last_used_at": used_at,
            },
        )
        return bool(result.rowcount == 1)

    async def delete_security_key(self, user_id: str, key_id: str) -> bool:
        result = await self._run(delete(security_keys).where(_keys.id == key_id, _keys.user_id == user_id))
        return bool(result.rowcount == 1)
