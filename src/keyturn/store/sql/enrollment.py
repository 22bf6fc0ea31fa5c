"""Each user's answer to the progressive-enrollment offer, in SQL."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from keyturn.domain.enrollment import EnrollmentChoice
from keyturn.store.sql.base import SqlTxBase
from keyturn.store.sql.tables import enrollment_choices

_t = enrollment_choices.c


class SqlEnrollment(SqlTxBase):
    async def get_enrollment_choice(self, user_id: str) -> EnrollmentChoice | None:
        row = await self._first(select(enrollment_choices).where(_t.user_id == user_id))
        return EnrollmentChoice(**dict(row._mapping)) if row else None

    async def save_enrollment_choice(self, choice: EnrollmentChoice) -> None:
        """The user's latest answer replaces any earlier one (one row per user)."""
        values = asdict(choice)
        dialect_insert = postgresql_insert if self.dialect == "postgresql" else sqlite_insert
        statement = dialect_insert(enrollment_choices).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["user_id"], set_={k: v for k, v in values.items() if k != "user_id"}
        )
        await self._run(statement)
