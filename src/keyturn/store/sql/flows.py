"""Flows, challenges and sessions in SQL: the short-lived state any worker can pick up."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from keyturn.domain.flow import Challenge, Flow
from keyturn.domain.session import AuthEvent, Session
from keyturn.store.sql.base import SqlRepository
from keyturn.store.sql.tables import challenges, flows, sessions


def _flow(row: Any) -> Flow:
    return Flow(
        id=row.id,
        kind=row.kind,
        binding_hash=row.binding_hash,
        csrf_token=row.csrf_token,
        expires_at=row.expires_at,
        created_at=row.created_at,
        user_id=row.user_id,
        return_to=row.return_to,
    )


def _challenge(row: Any) -> Challenge:
    return Challenge(
        challenge=bytes(row.challenge),
        flow_id=row.flow_id,
        ceremony=row.ceremony,
        expires_at=row.expires_at,
        user_id=row.user_id,
        allowed_credential_ids=tuple(base64url_to_bytes(c) for c in row.allowed_credential_ids),
        user_verification=row.user_verification,
        pending=dict(row.pending),
    )


def _session(row: Any) -> Session:
    return Session(
        id=row.id,
        user_id=row.user_id,
        csrf_token=row.csrf_token,
        authenticated=tuple(
            AuthEvent(method=e["method"], at=datetime.fromisoformat(e["at"])) for e in row.authenticated
        ),
        created_at=row.created_at,
        expires_at=row.expires_at,
        user_agent=row.user_agent,
        ip=row.ip,
    )


class SqlFlowStore(SqlRepository):
    async def create_flow(self, flow: Flow) -> None:
        async with self._write() as conn:
            await conn.execute(
                insert(flows).values(
                    id=flow.id,
                    kind=flow.kind,
                    binding_hash=flow.binding_hash,
                    csrf_token=flow.csrf_token,
                    user_id=flow.user_id,
                    return_to=flow.return_to,
                    created_at=flow.created_at,
                    expires_at=flow.expires_at,
                )
            )

    async def get_flow(self, flow_id: str) -> Flow | None:
        async with self._read() as conn:
            row = (await conn.execute(select(flows).where(flows.c.id == flow_id))).first()
        return _flow(row) if row else None

    async def put_challenge(self, challenge: Challenge) -> None:
        async with self._write() as conn:
            await conn.execute(
                insert(challenges).values(
                    challenge=challenge.challenge,
                    flow_id=challenge.flow_id,
                    ceremony=challenge.ceremony,
                    user_id=challenge.user_id,
                    allowed_credential_ids=[bytes_to_base64url(c) for c in challenge.allowed_credential_ids],
                    user_verification=challenge.user_verification,
                    pending=challenge.pending,
                    expires_at=challenge.expires_at,
                )
            )

    async def consume_challenge(self, flow_id: str, challenge: bytes, *, now: datetime) -> Challenge | None:
        async with self._write() as conn:
            row = (
                await conn.execute(
                    delete(challenges)
                    .where(challenges.c.challenge == challenge, challenges.c.flow_id == flow_id)
                    .returning(*challenges.c)
                )
            ).first()
        if row is None or row.expires_at <= now:
            return None
        return _challenge(row)

    async def purge_expired(self, *, now: datetime) -> int:
        async with self._write() as conn:
            removed = 0
            for table in (challenges, flows, sessions):
                result = await conn.execute(delete(table).where(table.c.expires_at <= now))
                removed += result.rowcount
        return removed


class SqlSessionStore(SqlRepository):
    async def create_session(self, session: Session, *, token_hash: str) -> None:
        async with self._write() as conn:
            await conn.execute(
                insert(sessions).values(
                    id=session.id,
                    token_hash=token_hash,
                    user_id=session.user_id,
                    csrf_token=session.csrf_token,
                    authenticated=[
                        {"method": e.method, "at": e.at.isoformat()} for e in session.authenticated
                    ],
                    created_at=session.created_at,
                    expires_at=session.expires_at,
                    user_agent=session.user_agent,
                    ip=session.ip,
                )
            )

    async def find_session(self, token_hash: str, *, now: datetime) -> Session | None:
        async with self._read() as conn:
            row = (
                await conn.execute(
                    select(sessions).where(sessions.c.token_hash == token_hash, sessions.c.expires_at > now)
                )
            ).first()
        return _session(row) if row else None

    async def delete_session(self, session_id: str) -> None:
        async with self._write() as conn:
            await conn.execute(delete(sessions).where(sessions.c.id == session_id))
