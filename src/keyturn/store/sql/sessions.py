"""Sessions and spent challenges in SQL: the short-lived state that must live server-side.

Flows and challenges themselves are sealed and carried by the browser; only the fact that
a challenge was used is stored, so that it works once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, or_, select, update

from keyturn.domain.identity import User
from keyturn.domain.session import AuthEvent, Session
from keyturn.store.sql.base import SqlTxBase
from keyturn.store.sql.tables import sessions, spent_challenges, users
from keyturn.store.sql.users import user_from_row

_USER_COLUMNS = [c.label(f"u_{c.name}") for c in users.c]
# The statements every sign-in runs, built once (a statement is immutable; values are parameters).
_FIND_SESSION = (
    select(sessions, *_USER_COLUMNS)
    .join(users, users.c.id == sessions.c.user_id)
    .where(sessions.c.token_hash == bindparam("b_token_hash"), sessions.c.expires_at > bindparam("b_now"))
)
_INSERT_SESSION = insert(sessions)
_CHALLENGE_SPENT = select(spent_challenges.c.id).where(spent_challenges.c.id == bindparam("b_id"))
_USER_SESSIONS = (
    select(sessions)
    .where(sessions.c.user_id == bindparam("b_user_id"), sessions.c.expires_at > bindparam("b_now"))
    .order_by(
        func.coalesce(sessions.c.last_active_at, sessions.c.created_at).desc(),
        sessions.c.created_at.desc(),
        sessions.c.id,
    )
)
_USER_SESSIONS_LIMITED = _USER_SESSIONS.limit(bindparam("b_limit"))


def session_from_row(row: Any) -> Session:
    return Session(
        id=row.id,
        user_id=row.user_id,
        csrf_token=row.csrf_token,
        authenticated=tuple(_auth_event(e) for e in row.authenticated),
        created_at=row.created_at,
        expires_at=row.expires_at,
        user_agent=row.user_agent,
        ip=row.ip,
        last_active_at=row.last_active_at,
    )


def _auth_event(stored: dict[str, Any]) -> AuthEvent:
    return AuthEvent(
        method=stored["method"],
        at=datetime.fromisoformat(stored["at"]),
        user_verified=stored.get("uv", True),
        attested_device_bound=stored.get("hwk", False),
        multi_factor=stored.get("mfa", False),
    )


def _auth_json(authenticated: tuple[AuthEvent, ...]) -> list[dict[str, object]]:
    """Only what differs from the defaults is stored, so older rows read back unchanged."""
    stored: list[dict[str, object]] = []
    for e in authenticated:
        item: dict[str, object] = {"method": e.method, "at": e.at.isoformat()}
        if not e.user_verified:
            item["uv"] = False
        if e.attested_device_bound:
            item["hwk"] = True
        if e.multi_factor:
            item["mfa"] = True
        stored.append(item)
    return stored


class SqlSessions(SqlTxBase):
    async def find_session(self, token_hash: str, *, now: datetime) -> tuple[Session, User] | None:
        row = await self._first(_FIND_SESSION, {"b_token_hash": token_hash, "b_now": now})
        return (session_from_row(row), user_from_row(row, "u_")) if row else None

    async def create_session(self, session: Session, *, token_hash: str) -> None:
        await self._run(
            _INSERT_SESSION,
            {
                "id": session.id,
                "token_hash": token_hash,
                "user_id": session.user_id,
                "csrf_token": session.csrf_token,
                "authenticated": _auth_json(session.authenticated),
                "created_at": session.created_at,
                "expires_at": session.expires_at,
                "user_agent": session.user_agent,
                "ip": session.ip,
                "last_active_at": session.last_active_at,
            },
        )

    async def list_user_sessions(
        self, user_id: str, *, now: datetime, limit: int | None = None
    ) -> list[Session]:
        params = {"b_user_id": user_id, "b_now": now}
        if limit is None:
            result = await self._run(_USER_SESSIONS, params)
        else:
            result = await self._run(_USER_SESSIONS_LIMITED, {**params, "b_limit": limit})
        return [session_from_row(row) for row in result.all()]

    async def get_session(self, session_id: str, *, now: datetime) -> Session | None:
        row = await self._first(
            select(sessions).where(sessions.c.id == session_id, sessions.c.expires_at > now)
        )
        return session_from_row(row) if row else None

    async def delete_user_session(self, user_id: str, session_id: str) -> bool:
        result = await self._run(
            delete(sessions).where(sessions.c.id == session_id, sessions.c.user_id == user_id)
        )
        return bool(result.rowcount == 1)

    async def delete_user_sessions(self, user_id: str, *, keep: str | None = None) -> int:
        statement = delete(sessions).where(sessions.c.user_id == user_id)
        if keep is not None:
            statement = statement.where(sessions.c.id != keep)
        return int((await self._run(statement)).rowcount)

    async def touch_session(self, session_id: str, *, at: datetime, before: datetime) -> None:
        await self._run(
            update(sessions)
            .where(
                sessions.c.id == session_id,
                or_(sessions.c.last_active_at.is_(None), sessions.c.last_active_at < before),
            )
            .values(last_active_at=at)
        )

    async def add_session_auth(self, session_id: str, authenticated: tuple[AuthEvent, ...]) -> None:
        await self._run(
            update(sessions)
            .where(sessions.c.id == session_id)
            .values(authenticated=_auth_json(authenticated))
        )

    async def delete_session(self, session_id: str) -> bool:
        result = await self._run(delete(sessions).where(sessions.c.id == session_id))
        return bool(result.rowcount == 1)


class SqlChallenges(SqlTxBase):
    async def challenge_spent(self, challenge_id: bytes) -> bool:
        found = await self._scalar(_CHALLENGE_SPENT, {"b_id": challenge_id})
        return found is not None

    async def spend_challenge(self, challenge_id: bytes, *, expires_at: datetime) -> bool:
        # A ceremony spends its challenge in the transaction that completes it, and the unit of
        # work keeps it spent whatever the outcome (`keep_challenge_spent`), in the same
        # transaction: the second call is answered here, without a statement.
        if challenge_id in self.spent_here:
            return False
        if not await self._insert_new(spent_challenges, key="id", id=challenge_id, expires_at=expires_at):
            return False
        self.spent_here.add(challenge_id)
        return True
