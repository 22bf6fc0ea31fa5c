"""The operators' part of the store, against the configured backend: enrollment links spent
once under concurrency, credentials unique, sign counts stored over the verified one, and the
purge of expired links and sessions."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from keyturn.domain.operators import Operator, OperatorEnrollment, OperatorSession
from keyturn.errors import Conflict
from keyturn.ids import hash_token
from keyturn.store.sql.store import open_database
from keyturn.store.sql.tables import operator_enrollments, operator_sessions
from tests.contract.test_store import (
    NOW,
    EachCallCommits,
    Run,
    Store,
    count_rows,
    make_passkey,
    make_user,
)


@pytest.fixture
def with_store(clean_database: str) -> Run:
    """Each store call in a transaction of its own (as tests/contract/test_store.py does)."""

    def run(work: Callable[[Store], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            db = await open_database(clean_database)
            try:
                return await work(EachCallCommits(db))
            finally:
                await db.close()

        return asyncio.run(main())

    return run


def make_operator(email: str = "ops@example.com") -> Operator:
    return Operator(
        id=f"op-{secrets.token_hex(4)}",
        email=email,
        role="owner",
        user_handle=secrets.token_bytes(64),
        created_at=NOW,
    )


def make_enrollment(operator: Operator, token: str, *, minutes: int = 15) -> OperatorEnrollment:
    return OperatorEnrollment(
        token_hash=hash_token(token),
        operator_id=operator.id,
        created_at=NOW,
        expires_at=NOW + timedelta(minutes=minutes),
    )


def test_concurrent_spends_of_one_link_let_exactly_one_through(clean_database: str) -> None:
    operator = make_operator()

    async def work() -> list[bool]:
        db = await open_database(clean_database)
        try:
            async with db.write() as tx:
                await tx.add_operator(operator)
                await tx.add_operator_enrollment(make_enrollment(operator, "link"))

            async def spend() -> bool:
                async with db.write() as tx:
                    return await tx.use_operator_enrollment(hash_token("link"), now=NOW)

            return list(await asyncio.gather(*(spend() for _ in range(5))))
        finally:
            await db.close()

    assert sorted(asyncio.run(work())) == [False, False, False, False, True]


def test_operators_credentials_and_sessions(with_store: Run) -> None:
    operator = make_operator()
    other = make_operator("other@example.com")
    credential = replace(make_passkey(make_user()), user_id=operator.id, user_handle=operator.user_handle)
    session = OperatorSession(
        id="s1",
        token_hash=hash_token("cookie"),
        operator_id=operator.id,
        csrf_token="csrf",
        created_at=NOW,
        expires_at=NOW + timedelta(hours=12),
        last_active_at=NOW,
        ip="127.0.0.1",
        user_agent="pytest",
    )

    async def work(s: Store) -> tuple[Any, ...]:
        await s.add_operator(operator)
        await s.add_operator(other)
        with pytest.raises(Conflict) as taken:
            await s.add_operator(replace(make_operator(), email=operator.email))
        await s.add_operator_credential(credential)
        with pytest.raises(Conflict) as twice:
            await s.add_operator_credential(replace(credential, id="c2", user_id=other.id))
        found = await s.find_operator_credential(credential.credential_id)
        first = await s.record_operator_credential_use(
            credential.id, previous_count=0, sign_count=5, backup_state=False, used_at=NOW
        )
        stale = await s.record_operator_credential_use(
            credential.id, previous_count=0, sign_count=6, backup_state=False, used_at=NOW
        )
        await s.add_operator_session(session)
        await s.touch_operator_session("s1", now=NOW + timedelta(minutes=10))
        touched = await s.find_operator_session(hash_token("cookie"))
        listed = await s.list_operator_credentials(operator.id)
        return taken.value.code, twice.value.code, found, first, stale, touched, listed

    taken, twice, found, first, stale, touched, listed = with_store(work)
    assert (taken, twice) == ("operator_exists", "credential_exists")
    assert found == (credential, operator)
    assert (first, stale) == (True, False)
    assert touched == (replace(session, last_active_at=NOW + timedelta(minutes=10)), operator)
    assert [c.sign_count for c in listed] == [5]


def test_purge_removes_expired_links_and_sessions(with_store: Run) -> None:
    operator = make_operator()

    async def work(s: Store) -> tuple[int, int, int]:
        await s.add_operator(operator)
        await s.add_operator_enrollment(make_enrollment(operator, "old", minutes=1))
        await s.add_operator_enrollment(make_enrollment(operator, "live", minutes=30))
        for name, minutes in (("old", 10), ("live", 720)):
            await s.add_operator_session(
                OperatorSession(
                    id=name,
                    token_hash=hash_token(name),
                    operator_id=operator.id,
                    csrf_token="c",
                    created_at=NOW,
                    expires_at=NOW + timedelta(minutes=minutes),
                    last_active_at=NOW,
                    ip="",
                    user_agent="",
                )
            )
        removed = await s.purge_expired(now=NOW + timedelta(minutes=12), events_before=NOW)
        return removed, await count_rows(s, operator_enrollments), await count_rows(s, operator_sessions)

    assert with_store(work) == (2, 1, 1)
