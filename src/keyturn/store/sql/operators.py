"""Dashboard operators, their credentials, enrollment links and sessions, in SQL."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, update

from keyturn.domain.events import EventType
from keyturn.domain.identity import Passkey
from keyturn.domain.operators import Operator, OperatorEnrollment, OperatorSession
from keyturn.store.sql.base import SqlTxBase
from keyturn.store.sql.tables import (
    events,
    operator_credentials,
    operator_enrollments,
    operator_sessions,
    operators,
    passkeys,
    users,
)
from keyturn.store.sql.users import passkey_from_row

_o = operators.c
_c = operator_credentials.c
_e = operator_enrollments.c
_s = operator_sessions.c


def _operator(row: Any, prefix: str = "") -> Operator:
    get = row._mapping
    return Operator(
        id=get[f"{prefix}id"],
        email=get[f"{prefix}email"],
        role=get[f"{prefix}role"],
        user_handle=bytes(get[f"{prefix}user_handle"]),
        created_at=get[f"{prefix}created_at"],
    )


_OPERATOR_COLUMNS = [column.label(f"op_{column.name}") for column in operators.c]


def _credential(row: Any) -> Passkey:
    return passkey_from_row(row, owner=row.operator_id)


class SqlOperators(SqlTxBase):
    # --- reads
    async def get_operator(self, operator_id: str) -> Operator | None:
        row = await self._first(select(operators).where(_o.id == operator_id))
        return _operator(row) if row else None

    async def find_operator_by_email(self, email: str) -> Operator | None:
        row = await self._first(select(operators).where(_o.email == email))
        return _operator(row) if row else None

    async def list_operator_credentials(self, operator_id: str) -> list[Passkey]:
        query = select(operator_credentials).where(_c.operator_id == operator_id).order_by(_c.created_at)
        return [_credential(row) for row in await self._run(query)]

    async def find_operator_credential(self, credential_id: bytes) -> tuple[Passkey, Operator] | None:
        query = (
            select(operator_credentials, *_OPERATOR_COLUMNS)
            .join(operators, _o.id == _c.operator_id)
            .where(_c.credential_id == credential_id)
        )
        row = await self._first(query)
        return (_credential(row), _operator(row, "op_")) if row else None

    async def find_operator_enrollment(self, token_hash: str) -> tuple[OperatorEnrollment, Operator] | None:
        query = (
            select(operator_enrollments, *_OPERATOR_COLUMNS)
            .join(operators, _o.id == _e.operator_id)
            .where(_e.token_hash == token_hash)
        )
        row = await self._first(query)
        if row is None:
            return None
        get = row._mapping
        enrollment = OperatorEnrollment(
            token_hash=get["token_hash"],
            operator_id=get["operator_id"],
            created_at=get["created_at"],
            expires_at=get["expires_at"],
            used_at=get["used_at"],
        )
        return enrollment, _operator(row, "op_")

    async def find_operator_session(self, token_hash: str) -> tuple[OperatorSession, Operator] | None:
        query = (
            select(operator_sessions, *_OPERATOR_COLUMNS)
            .join(operators, _o.id == _s.operator_id)
            .where(_s.token_hash == token_hash)
        )
        row = await self._first(query)
        if row is None:
            return None
        get = row._mapping
        session = OperatorSession(**{column.name: get[column.name] for column in operator_sessions.c})
        return session, _operator(row, "op_")

    async def count_operators(self) -> int:
        return int(await self._scalar(select(func.count()).select_from(operators)))

    async def dashboard_figures(self, *, since: datetime) -> dict[str, Any]:
        """The Overview's numbers: users, passkeys by kind, sign-ins since `since` by method."""
        users_count = await self._scalar(select(func.count()).select_from(users))
        kinds = await self._run(
            select(passkeys.c.backup_eligible, func.count()).group_by(passkeys.c.backup_eligible)
        )
        by_kind = {bool(eligible): int(count) for eligible, count in kinds}
        method = events.c.details["authentication_method"].as_string()
        rows = await self._run(
            select(method, func.count())
            .where(events.c.type == EventType.SUCCESS_LOGIN.value, events.c.date >= since)
            .group_by(method)
        )
        return {
            "users": int(users_count),
            "passkeys_synced": by_kind.get(True, 0),
            "passkeys_device_bound": by_kind.get(False, 0),
            "sign_ins": {str(name or "unknown"): int(count) for name, count in rows},
        }

    async def sign_ins_by_day(self, *, since: datetime) -> list[tuple[str, str, int]]:
        if self.dialect == "postgresql":
            day: Any = func.to_char(func.timezone("UTC", events.c.date), "YYYY-MM-DD")
        else:  # SQLite keeps UTC datetimes as ISO text
            day = func.substr(events.c.date, 1, 10)
        method = events.c.details["authentication_method"].as_string()
        rows = await self._run(
            select(day, method, func.count())
            .where(events.c.type == EventType.SUCCESS_LOGIN.value, events.c.date >= since)
            .group_by(day, method)
            .order_by(day)
        )
        return [(str(d), str(m or "unknown"), int(c)) for d, m, c in rows]

    async def enrollment_outcomes(self, *, since: datetime, journey: str) -> dict[str, int]:
        kinds = (
            EventType.ENROLLMENT_OFFERED.value,
            EventType.ENROLLMENT_COMPLETE.value,
            EventType.WEBAUTHN_ENROLLMENT_FAILED.value,
        )
        rows = await self._run(
            select(events.c.type, func.count())
            .where(
                events.c.type.in_(kinds),
                events.c.date >= since,
                events.c.details["enrollment"].as_string() == journey,
            )
            .group_by(events.c.type)
        )
        return {str(t): int(c) for t, c in rows}

    # --- writes
    async def add_operator(self, operator: Operator) -> None:
        await self._insert_row(operators, asdict(operator), conflict="operator_exists")

    async def add_operator_enrollment(self, enrollment: OperatorEnrollment) -> None:
        await self._insert_row(operator_enrollments, asdict(enrollment))

    async def use_operator_enrollment(self, token_hash: str, *, now: datetime) -> bool:
        statement = (
            update(operator_enrollments)
            .where(_e.token_hash == token_hash, _e.used_at.is_(None), _e.expires_at > now)
            .values(used_at=now)
        )
        return bool((await self._run(statement)).rowcount == 1)

    async def add_operator_credential(self, credential: Passkey) -> None:
        values = {**asdict(credential), "transports": list(credential.transports)}
        values["operator_id"] = values.pop("user_id")
        del values["attestation"]  # operators' credentials are registered without attestation
        await self._insert_row(operator_credentials, values, conflict="credential_exists")

    async def record_operator_credential_use(
        self,
        credential_id: str,
        *,
        previous_count: int,
        sign_count: int,
        backup_state: bool,
        used_at: datetime,
    ) -> bool:
        statement = (
            update(operator_credentials)
            .where(_c.id == credential_id, _c.sign_count == previous_count)
            .values(sign_count=sign_count, backup_state=backup_state, last_used_at=used_at)
        )
        return bool((await self._run(statement)).rowcount == 1)

    async def add_operator_session(self, session: OperatorSession) -> None:
        await self._insert_row(operator_sessions, asdict(session))

    async def touch_operator_session(self, session_id: str, *, now: datetime) -> None:
        await self._run(
            update(operator_sessions)
            .where(and_(_s.id == session_id, _s.last_active_at < now))
            .values(last_active_at=now)
        )

    async def delete_operator_session(self, token_hash: str) -> None:
        await self._run(delete(operator_sessions).where(_s.token_hash == token_hash))
