"""Email codes in SQL, and the account-wide sign-outs a recovery can ask for."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update

from keyturn.domain.email_code import MAX_WRONG_CODES, EmailCode
from keyturn.store.sql.base import SqlTxBase
from keyturn.store.sql.tables import email_codes, oauth_grants, oauth_tokens

_LIVE_CODE = (  # /account asks for it on every view: built once
    select(email_codes)
    .where(
        email_codes.c.user_id == bindparam("b_user_id"),
        email_codes.c.purpose == bindparam("b_purpose"),
        email_codes.c.used_at.is_(None),
        email_codes.c.expires_at > bindparam("b_now"),
    )
    .order_by(email_codes.c.created_at.desc(), email_codes.c.id)
    .limit(1)
)


def _code(row: Any) -> EmailCode:
    return EmailCode(**dict(row._mapping))


class SqlEmailCodes(SqlTxBase):
    async def create_email_code(self, code: EmailCode) -> None:
        await self._insert_row(email_codes, asdict(code))

    async def get_email_code(self, code_id: str) -> EmailCode | None:
        row = await self._first(select(email_codes).where(email_codes.c.id == code_id))
        return _code(row) if row else None

    async def live_email_code(self, user_id: str, purpose: str, *, now: datetime) -> EmailCode | None:
        row = await self._first(_LIVE_CODE, {"b_user_id": user_id, "b_purpose": purpose, "b_now": now})
        return _code(row) if row else None

    async def retire_email_codes(self, user_id: str, purpose: str, *, now: datetime) -> None:
        await self._run(
            update(email_codes)
            .where(
                email_codes.c.user_id == user_id,
                email_codes.c.purpose == purpose,
                email_codes.c.used_at.is_(None),
                email_codes.c.expires_at > now,
            )
            .values(expires_at=now)
        )

    async def lock_email_code(self, code_id: str) -> EmailCode | None:
        row = await self._first(select(email_codes).where(email_codes.c.id == code_id).with_for_update())
        return _code(row) if row else None

    async def lock_email_code_by_link(self, link_hash: str) -> EmailCode | None:
        row = await self._first(
            select(email_codes).where(email_codes.c.link_hash == link_hash).with_for_update()
        )
        return _code(row) if row else None

    async def count_wrong_code(self, code_id: str) -> int:
        rows = await self._run(
            update(email_codes)
            .where(email_codes.c.id == code_id)
            .values(attempts=email_codes.c.attempts + 1)
            .returning(email_codes.c.attempts)
        )
        return int(rows.scalar_one())

    async def use_email_code(self, code_id: str, *, now: datetime, expires_at: datetime) -> bool:
        result = await self._run(
            update(email_codes)
            .where(
                email_codes.c.id == code_id,
                email_codes.c.used_at.is_(None),
                email_codes.c.attempts < MAX_WRONG_CODES,
                email_codes.c.expires_at > now,
            )
            .values(used_at=now, expires_at=expires_at)
        )
        return bool(result.rowcount == 1)

    async def complete_email_code(self, code_id: str, *, now: datetime) -> bool:
        result = await self._run(
            update(email_codes)
            .where(
                email_codes.c.id == code_id,
                email_codes.c.used_at.is_not(None),
                email_codes.c.completed_at.is_(None),
                email_codes.c.expires_at > now,
            )
            .values(completed_at=now)
        )
        return bool(result.rowcount == 1)

    async def revoke_user_grants(self, user_id: str, *, now: datetime) -> int:
        """Revoke every grant of the user and every token they produced (refresh tokens included)."""
        grant_ids = select(oauth_grants.c.id).where(oauth_grants.c.user_id == user_id).scalar_subquery()
        await self._run(
            update(oauth_tokens)
            .where(oauth_tokens.c.grant_id.in_(grant_ids), oauth_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        result = await self._run(
            update(oauth_grants)
            .where(oauth_grants.c.user_id == user_id, oauth_grants.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return int(result.rowcount)
