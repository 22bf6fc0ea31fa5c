"""The store's rules for second factors, decided by the database under concurrency: a TOTP
time step is accepted once (a conditional UPDATE over the last one), a recovery code is
consumed once (a DELETE's row count), one authenticator app per user, and everything goes
with the user."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from keyturn.domain.factors import TotpCredential
from keyturn.errors import Conflict
from keyturn.store.sql.store import open_database
from tests.contract.test_store import NOW, EachCallCommits, Run, Store, make_user


@pytest.fixture
def with_store(clean_database: str) -> Run:
    def run(work: Callable[[Store], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            db = await open_database(clean_database)
            try:
                return await work(EachCallCommits(db))
            finally:
                await db.close()

        return asyncio.run(main())

    return run


def _app(user_id: str, credential_id: str = "totp-1") -> TotpCredential:
    return TotpCredential(id=credential_id, user_id=user_id, secret_sealed=b"sealed", created_at=NOW)


def test_a_time_step_is_accepted_once_and_never_an_earlier_one(with_store: Run) -> None:
    user = make_user()

    async def work(store: Store) -> list[bool]:
        s = store
        await s.create_user(user)
        await s.add_totp(_app(user.id))
        outcomes = []
        for step in (100, 100, 99, 101):
            outcomes.append(await s.use_totp_step("totp-1", step=step, used_at=NOW))
        return outcomes

    assert with_store(work) == [True, False, False, True]


def test_one_app_per_user(with_store: Run) -> None:
    user = make_user()

    async def work(store: Store) -> None:
        await store.create_user(user)
        await store.add_totp(_app(user.id))
        with pytest.raises(Conflict) as refused:
            await store.add_totp(_app(user.id, "totp-2"))
        assert refused.value.code == "totp_exists"

    with_store(work)


def test_concurrent_uses_of_one_code_let_exactly_one_through(clean_database: str) -> None:
    user = make_user()
    code = hashlib.sha256(b"abcde23456").digest()

    async def work() -> tuple[list[bool], list[bool]]:
        db = await open_database(clean_database)
        try:
            async with db.write() as tx:
                await tx.create_user(user)
                await tx.add_totp(_app(user.id))
                await tx.replace_recovery_codes(user.id, [code], now=NOW)

            async def use_step() -> bool:
                async with db.write() as tx:
                    return await tx.use_totp_step("totp-1", step=7, used_at=NOW)

            async def use_code() -> bool:
                async with db.write() as tx:
                    return await tx.use_recovery_code(user.id, code)

            steps = await asyncio.gather(*(use_step() for _ in range(5)))
            codes = await asyncio.gather(*(use_code() for _ in range(5)))
            return list(steps), list(codes)
        finally:
            await db.close()

    steps, codes = asyncio.run(work())
    assert sorted(steps) == [False, False, False, False, True]
    assert sorted(codes) == [False, False, False, False, True]


def test_new_recovery_codes_replace_the_old_and_factors_go_with_the_user(with_store: Run) -> None:
    user = make_user()
    old, new = hashlib.sha256(b"old").digest(), hashlib.sha256(b"new").digest()

    async def work(store: Store) -> None:
        s = store
        await s.create_user(user)
        await s.replace_recovery_codes(user.id, [old], now=NOW)
        await s.replace_recovery_codes(user.id, [new], now=NOW)
        assert not await s.use_recovery_code(user.id, old)
        await s.add_totp(_app(user.id))
        factors = await s.get_factors(user.id)
        assert factors.totp is not None and factors.recovery.remaining == 1
        assert await s.delete_user(user.id)
        gone = await s.get_factors(user.id)
        assert gone.totp is None and gone.recovery is None

    with_store(work)
