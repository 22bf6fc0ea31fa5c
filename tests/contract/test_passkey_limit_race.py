"""The passkey limit holds when two registrations race: two writers, each through its own
database instance (its own engine and pool, as two Keyturn instances or workers have), add
a passkey to a user one below the limit at the same moment, and exactly one succeeds.

`add_passkey` locks the owner's row before counting (PostgreSQL: SELECT … FOR UPDATE;
SQLite: BEGIN IMMEDIATE queues writers), so the second counts the first's passkey. Mirrors
tests/contract/test_store.py's racing removals.
"""

from __future__ import annotations

import asyncio

from keyturn.domain.identity import User
from keyturn.errors import Conflict
from keyturn.store.sql.database import SqlDatabase
from keyturn.store.sql.store import open_database
from tests.contract.test_store import make_passkey, make_user

LIMIT = 3
TRIALS = 10


def test_two_instances_adding_a_passkey_at_the_limit_minus_one_store_exactly_one(
    clean_database: str,
) -> None:
    async def main() -> list[tuple[list[str], int]]:
        first, second = await open_database(clean_database), await open_database(clean_database)
        try:
            results: list[tuple[list[str], int]] = []
            for _ in range(TRIALS):
                user = make_user(f"racer-{len(results)}@example.com")
                async with first.write() as tx:
                    await tx.create_user(user, passkey=make_passkey(user))
                    for minute in range(1, LIMIT - 1):
                        await tx.add_passkey(make_passkey(user, minutes=minute), limit=LIMIT)

                async def add(db: SqlDatabase, user: User, minutes: int) -> str:
                    async with db.write() as tx:
                        await tx.add_passkey(make_passkey(user, minutes=minutes), limit=LIMIT)
                    return "added"

                racing = add(first, user, 10), add(second, user, 11)
                outcomes = await asyncio.gather(*racing, return_exceptions=True)
                async with first.read() as reader:
                    stored = len(await reader.list_passkeys(user.id))
                results.append(([o.code if isinstance(o, Conflict) else str(o) for o in outcomes], stored))
            return results
        finally:
            await first.close()
            await second.close()

    for outcomes, stored in asyncio.run(main()):
        assert sorted(outcomes) == ["added", "passkey_limit_reached"], outcomes
        assert stored == LIMIT
