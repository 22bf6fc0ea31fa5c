"""The store's contract, run against the configured backend (KEYTURN_TEST_DATABASE).

Each test opens the real database on a freshly emptied schema inside `asyncio.run`, the way
the CLI does. Most calls go through `EachCallCommits`, which runs every transaction method
in a write transaction of its own; the tests about transactions themselves (all or nothing,
rollback) open them directly. The rules the flows rely on (atomic sign-up, one use per
challenge, never losing the last way to sign in, counts that cannot race) are checked
here, where both backends must agree.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Connection, Integer, MetaData, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine

from keyturn.domain.enrollment import EnrollmentChoice
from keyturn.domain.events import EventType, Requester, new_event
from keyturn.domain.identity import Passkey, User
from keyturn.domain.session import AuthEvent, Session
from keyturn.domain.tenant import TenantSettings
from keyturn.errors import Conflict
from keyturn.ids import hash_token
from keyturn.store.sql.database import SqlDatabase
from keyturn.store.sql.engine import create_engine
from keyturn.store.sql.migrate import current_revision, head_revision, upgrade_to_head
from keyturn.store.sql.store import open_database
from keyturn.store.sql.tables import events, metadata, sessions, spent_challenges

T = TypeVar("T")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class EachCallCommits:
    """Every `WriteTx` method, each run in a write transaction of its own."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db
        self.engine = db.engine

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            async with self.db.write() as tx:
                return await getattr(tx, name)(*args, **kwargs)

        return call


Store = Any  # an EachCallCommits: typed by the WriteTx protocol it forwards to


@pytest.fixture
def with_store(clean_database: str) -> Callable[[Callable[[Store], Awaitable[T]]], T]:
    def run(work: Callable[[Store], Awaitable[T]]) -> T:
        async def main() -> T:
            db = await open_database(clean_database)
            try:
                return await work(EachCallCommits(db))
            finally:
                await db.close()

        return asyncio.run(main())

    return run


Run = Callable[[Callable[[Store], Awaitable[Any]]], Any]


def make_user(email: str = "ada@example.com", *, password_hash: str | None = None) -> User:
    return User(
        id=f"user-{secrets.token_hex(4)}",
        email=email,
        user_handle=secrets.token_bytes(64),
        password_hash=password_hash,
        created_at=NOW,
        updated_at=NOW,
    )


def make_passkey(user: User, *, credential_id: bytes | None = None, minutes: int = 0) -> Passkey:
    return Passkey(
        id=f"passkey-{secrets.token_hex(4)}",
        user_id=user.id,
        credential_id=credential_id or secrets.token_bytes(32),
        public_key=secrets.token_bytes(77),
        sign_count=0,
        aaguid="fbfc3007-154e-4ecc-8c0b-6e020557d7bd",
        transports=("internal", "hybrid"),
        backup_eligible=True,
        backup_state=False,
        user_handle=user.user_handle,
        rp_id="localhost",
        name="Apple Passwords",
        created_at=NOW + timedelta(minutes=minutes),
        last_used_at=None,
        user_agent="pytest",
    )


def make_session(user: User, *, expires_in: timedelta = timedelta(days=7)) -> Session:
    return Session(
        id=f"session-{secrets.token_hex(4)}",
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(),
        authenticated=(
            AuthEvent(method="password", at=NOW),
            AuthEvent(method="passkey", at=NOW + timedelta(minutes=1)),
        ),
        created_at=NOW,
        expires_at=NOW + expires_in,
        user_agent="pytest",
        ip="127.0.0.1",
    )


async def count_rows(store: Store, table: Any) -> int:
    async with store.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


# --- users ------------------------------------------------------------------------------------


def test_create_and_find_users(with_store: Run) -> None:
    user = make_user(password_hash="$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA")

    async def work(store: Store) -> tuple[Any, ...]:
        await store.create_user(user)
        return (
            await store.get_user(user.id),
            await store.find_user_by_email("ada@example.com"),
            await store.get_user("nobody"),
            await store.find_user_by_email("nobody@example.com"),
        )

    by_id, by_email, missing_id, missing_email = with_store(work)

    assert by_id == user
    assert by_email == user
    assert by_id.created_at.tzinfo is not None and by_id.created_at == NOW
    assert missing_id is None and missing_email is None


def test_a_user_and_their_first_passkey_are_created_together(with_store: Run) -> None:
    user = make_user()
    passkey = make_passkey(user)

    async def work(store: Store) -> Any:
        await store.create_user(user, passkey=passkey)
        return await store.list_passkeys(user.id)

    assert with_store(work) == [passkey]


@pytest.mark.parametrize("clash", ["email", "user_handle"])
def test_a_duplicate_email_or_user_handle_is_a_conflict(with_store: Run, clash: str) -> None:
    first = make_user()
    second = make_user("bob@example.com")
    second = replace(second, **{clash: getattr(first, clash)})

    async def work(store: Store) -> tuple[Conflict, Any, list[Passkey]]:
        await store.create_user(first)
        with pytest.raises(Conflict) as caught:
            await store.create_user(second, passkey=make_passkey(second))
        return caught.value, await store.get_user(second.id), await store.list_passkeys(second.id)

    error, stored_second, passkeys = with_store(work)

    assert error.status == 409
    assert stored_second is None, "nothing of the refused user is stored"
    assert passkeys == []


def test_sign_up_with_a_credential_id_already_registered_stores_nothing(with_store: Run) -> None:
    owner = make_user()
    taken = make_passkey(owner)
    newcomer = make_user("bob@example.com")

    async def work(store: Store) -> tuple[Any, int]:
        await store.create_user(owner, passkey=taken)
        with pytest.raises(Conflict):
            await store.create_user(
                newcomer, passkey=make_passkey(newcomer, credential_id=taken.credential_id)
            )
        return await store.find_user_by_email("bob@example.com"), await store.count_passkeys()

    assert with_store(work) == (None, 1)


def test_update_email(with_store: Run) -> None:
    ada, bob = make_user(), make_user("bob@example.com")
    later = NOW + timedelta(hours=1)

    async def work(store: Store) -> tuple[Any, ...]:
        await store.create_user(ada)
        await store.create_user(bob)
        await store.update_email(ada.id, "ada@new.example", now=later)
        with pytest.raises(Conflict):
            await store.update_email(bob.id, "ada@new.example", now=later)
        return await store.get_user(ada.id), await store.get_user(bob.id)

    moved, unchanged = with_store(work)

    assert (moved.email, moved.updated_at) == ("ada@new.example", later)
    assert unchanged == bob


# --- passkeys ---------------------------------------------------------------------------------


def test_add_passkey_enforces_the_limit(with_store: Run) -> None:
    user = make_user()

    async def work(store: Store) -> tuple[Conflict, list[Passkey]]:
        await store.create_user(user, passkey=make_passkey(user))
        await store.add_passkey(make_passkey(user, minutes=1), limit=2)
        with pytest.raises(Conflict) as caught:
            await store.add_passkey(make_passkey(user, minutes=2), limit=2)
        return caught.value, await store.list_passkeys(user.id)

    error, passkeys = with_store(work)

    assert error.code == "passkey_limit_reached"
    assert len(passkeys) == 2


def test_a_credential_id_belongs_to_one_user_only(with_store: Run) -> None:
    ada, bob = make_user(), make_user("bob@example.com")
    adas = make_passkey(ada)

    async def work(store: Store) -> tuple[Conflict, list[Passkey], Any]:
        await store.create_user(ada, passkey=adas)
        await store.create_user(bob)
        with pytest.raises(Conflict) as caught:
            await store.add_passkey(make_passkey(bob, credential_id=adas.credential_id), limit=20)
        return caught.value, await store.list_passkeys(bob.id), await store.find_passkey(adas.credential_id)

    error, bobs, found = with_store(work)

    assert error.code == "credential_exists"
    assert bobs == []
    assert found == adas


def test_passkeys_are_listed_oldest_first_and_counted(with_store: Run) -> None:
    user, other = make_user(), make_user("bob@example.com")
    newest, oldest, middle = (make_passkey(user, minutes=m) for m in (20, 0, 10))

    async def work(store: Store) -> tuple[list[Passkey], int]:
        await store.create_user(user, passkey=newest)
        await store.add_passkey(oldest, limit=20)
        await store.add_passkey(middle, limit=20)
        await store.create_user(other, passkey=make_passkey(other))
        return await store.list_passkeys(user.id), await store.count_passkeys()

    listed, total = with_store(work)

    assert listed == [oldest, middle, newest]
    assert total == 4


def test_record_use_and_rename_touch_only_the_owners_passkey(with_store: Run) -> None:
    ada, bob = make_user(), make_user("bob@example.com")
    adas = make_passkey(ada)
    used = NOW + timedelta(days=1)

    async def work(store: Store) -> tuple[Any, ...]:
        await store.create_user(ada, passkey=adas)
        await store.create_user(bob)
        await store.record_passkey_use(
            adas.id, previous_count=0, sign_count=7, backup_state=True, used_at=used
        )
        renamed_by_bob = await store.rename_passkey(bob.id, adas.id, "Stolen")
        renamed_by_ada = await store.rename_passkey(ada.id, adas.id, "Phone")
        renamed_missing = await store.rename_passkey(ada.id, "no-such-passkey", "Phone")
        return renamed_by_bob, renamed_by_ada, renamed_missing, await store.find_passkey(adas.credential_id)

    by_bob, by_ada, missing, stored = with_store(work)

    assert (by_bob, by_ada, missing) == (False, True, False)
    assert (stored.name, stored.sign_count, stored.backup_state, stored.last_used_at) == (
        "Phone",
        7,
        True,
        used,
    )


def test_delete_passkey_refuses_the_last_way_to_sign_in(with_store: Run) -> None:
    user = make_user()
    only = make_passkey(user)

    async def work(store: Store) -> tuple[Conflict, list[Passkey]]:
        await store.create_user(user, passkey=only)
        with pytest.raises(Conflict) as caught:
            await store.delete_passkey(user.id, only.id)
        return caught.value, await store.list_passkeys(user.id)

    error, remaining = with_store(work)

    assert error.code == "last_sign_in_method"
    assert remaining == [only]


def test_delete_passkey_when_another_way_remains(with_store: Run) -> None:
    with_two = make_user()
    first, second = make_passkey(with_two), make_passkey(with_two, minutes=1)
    with_password = make_user("bob@example.com", password_hash="$argon2id$stand-in")
    bobs = make_passkey(with_password)

    async def work(store: Store) -> tuple[Any, ...]:
        await store.create_user(with_two, passkey=first)
        await store.add_passkey(second, limit=20)
        await store.create_user(with_password, passkey=bobs)
        return (
            await store.delete_passkey(with_two.id, bobs.id),  # not theirs
            await store.delete_passkey(with_two.id, "no-such-passkey"),
            await store.delete_passkey(with_two.id, first.id),
            await store.delete_passkey(with_password.id, bobs.id),
            await store.list_passkeys(with_two.id),
            await store.list_passkeys(with_password.id),
        )

    not_theirs, missing, deleted, deleted_last, twos, bobs_left = with_store(work)

    assert (not_theirs, missing, deleted, deleted_last) == (False, False, True, True)
    assert twos == [second]
    assert bobs_left == []


def test_removing_the_password_refuses_an_account_without_passkeys(with_store: Run) -> None:
    password_only = make_user(password_hash="$argon2id$stand-in")
    both = make_user("bob@example.com", password_hash="$argon2id$stand-in")

    async def work(store: Store) -> tuple[Conflict, Any, Any]:
        await store.create_user(password_only)
        await store.create_user(both, passkey=make_passkey(both))
        with pytest.raises(Conflict) as caught:
            await store.set_password_hash(password_only.id, None, now=NOW)
        await store.set_password_hash(both.id, None, now=NOW)
        return caught.value, await store.get_user(password_only.id), await store.get_user(both.id)

    error, kept, removed = with_store(work)

    assert error.code == "last_sign_in_method"
    assert kept.password_hash == "$argon2id$stand-in"
    assert removed.password_hash is None


# --- spent challenges and sessions ------------------------------------------------------------


def test_a_challenge_can_be_spent_once(with_store: Run) -> None:
    challenge, other = secrets.token_bytes(32), secrets.token_bytes(32)

    async def work(store: Store) -> tuple[Any, ...]:
        before = await store.challenge_spent(challenge)
        first = await store.spend_challenge(challenge, expires_at=NOW + timedelta(minutes=5))
        second = await store.spend_challenge(challenge, expires_at=NOW + timedelta(minutes=5))
        return (
            before,
            first,
            second,
            await store.challenge_spent(challenge),
            await store.challenge_spent(other),
        )

    before, first, second, spent, other_spent = with_store(work)

    assert (before, first, second, spent, other_spent) == (False, True, False, True, False)


def test_concurrent_spends_of_one_challenge_let_exactly_one_through(clean_database: str) -> None:
    """Each transaction holds its spend until it commits: the database decides the race."""
    challenge = secrets.token_bytes(32)

    async def work() -> list[bool]:
        db = await open_database(clean_database)
        try:

            async def spend() -> bool:
                async with db.write() as tx:
                    return await tx.spend_challenge(challenge, expires_at=NOW + timedelta(minutes=5))

            return list(await asyncio.gather(*(spend() for _ in range(5))))
        finally:
            await db.close()

    assert sorted(asyncio.run(work())) == [False, False, False, False, True]


def test_sessions_are_found_by_token_hash_until_they_expire(with_store: Run) -> None:
    user = make_user()
    session = make_session(user)
    token_hash = hash_token("the cookie value")

    async def work(store: Store) -> tuple[Any, ...]:
        await store.create_user(user)
        await store.create_session(session, token_hash=token_hash)
        found = await store.find_session(token_hash, now=NOW)
        wrong = await store.find_session(hash_token("another cookie"), now=NOW)
        expired = await store.find_session(token_hash, now=session.expires_at)
        await store.delete_session(session.id)
        deleted = await store.find_session(token_hash, now=NOW)
        return found, wrong, expired, deleted

    found, wrong, expired, deleted = with_store(work)

    assert found == (session, user)
    assert found[0].amr == ["pwd", "phr"]
    assert (wrong, expired, deleted) == (None, None, None)


def test_a_users_sessions_are_listed_touched_and_ended_only_by_their_owner(with_store: Run) -> None:
    ada, bob = make_user(), make_user("bob@example.com")
    first, second, bobs = make_session(ada), make_session(ada), make_session(bob)
    later = NOW + timedelta(minutes=5)

    async def work(store: Store) -> tuple[Any, ...]:
        for user in (ada, bob):
            await store.create_user(user)
        for number, session in enumerate((first, second, bobs)):
            await store.create_session(session, token_hash=hash_token(f"cookie {number}"))
        await store.touch_session(second.id, at=later, before=later - timedelta(minutes=1))
        await store.touch_session(second.id, at=later + timedelta(seconds=1), before=NOW)  # too soon
        listed = [s.id for s in await store.list_user_sessions(ada.id, now=NOW)]
        touched = (await store.list_user_sessions(ada.id, now=NOW))[0].last_active_at
        foreign = await store.delete_user_session(ada.id, bobs.id)
        ended_others = await store.delete_user_sessions(ada.id, keep=first.id)
        left = [s.id for s in await store.list_user_sessions(ada.id, now=NOW)]
        bobs_left = [s.id for s in await store.list_user_sessions(bob.id, now=NOW)]
        return listed, touched, foreign, ended_others, left, bobs_left

    listed, touched, foreign, ended_others, left, bobs_left = with_store(work)

    assert listed == [second.id, first.id]  # most recently active first
    assert touched == later
    assert foreign is False and bobs_left == [bobs.id]
    assert ended_others == 1 and left == [first.id]


def test_an_enrollment_choice_is_one_per_user_replaced_and_gone_with_the_user(with_store: Run) -> None:
    ada, bob = make_user(), make_user("bob@example.com")
    snoozed = EnrollmentChoice(user_id=ada.id, updated_at=NOW, snoozed_until=NOW + timedelta(days=14))
    declined = EnrollmentChoice(user_id=ada.id, updated_at=NOW + timedelta(days=1), declined_at=NOW)

    async def work(store: Store) -> tuple[Any, ...]:
        for user in (ada, bob):
            await store.create_user(user)
        none_yet = await store.get_enrollment_choice(ada.id)
        await store.save_enrollment_choice(snoozed)
        first = await store.get_enrollment_choice(ada.id)
        await store.save_enrollment_choice(declined)
        replaced = await store.get_enrollment_choice(ada.id)
        bobs = await store.get_enrollment_choice(bob.id)
        await store.delete_user(ada.id)
        gone = await store.get_enrollment_choice(ada.id)
        return none_yet, first, replaced, bobs, gone

    none_yet, first, replaced, bobs, gone = with_store(work)

    assert none_yet is None and bobs is None and gone is None
    assert first == snoozed
    assert replaced == declined  # the latest answer, whole: the snooze is gone
    assert not replaced.allows_offer(NOW + timedelta(days=10_000))
    assert not first.allows_offer(NOW + timedelta(days=13)) and first.allows_offer(NOW + timedelta(days=14))


def test_purge_expired_removes_expired_state_and_old_events_only(with_store: Run) -> None:
    user = make_user(password_hash="$argon2id$stand-in")
    passkey = make_passkey(user)
    live_challenge, dead_challenge = secrets.token_bytes(32), secrets.token_bytes(32)
    live_session, dead_session = make_session(user), make_session(user, expires_in=timedelta(seconds=-1))
    tenant = TenantSettings.model_validate({"passkey_options": {"challenge_ui": "button"}})
    requester = Requester(ip="203.0.113.7", user_agent="pytest")
    old_event = new_event(EventType.SUCCESS_LOGIN, requester, now=NOW - timedelta(days=31))
    new_event_ = new_event(EventType.SUCCESS_LOGIN, requester, now=NOW - timedelta(days=1))

    async def work(store: Store) -> tuple[Any, ...]:
        await store.create_user(user, passkey=passkey)
        await store.save_tenant(tenant, now=NOW)
        secret = await store.get_or_create_secret("purge-test", b"s" * 32)
        await store.spend_challenge(live_challenge, expires_at=NOW + timedelta(minutes=1))
        await store.spend_challenge(dead_challenge, expires_at=NOW - timedelta(seconds=1))
        await store.create_session(live_session, token_hash=hash_token("live"))
        await store.create_session(dead_session, token_hash=hash_token("dead"))
        await store.append_events([old_event, new_event_])

        removed = await store.purge_expired(now=NOW, events_before=NOW - timedelta(days=30))

        async with store.engine.connect() as conn:
            left = {
                table.name: sorted(await conn.scalars(select(table.c[key])))
                for table, key in ((spent_challenges, "id"), (sessions, "id"), (events, "log_id"))
            }
        return (
            removed,
            left,
            await store.get_user(user.id),
            await store.list_passkeys(user.id),
            await store.load_tenant(),
            await store.get_or_create_secret("purge-test", b"other"),
            secret,
        )

    removed, left, kept_user, kept_passkeys, kept_tenant, secret_after, secret = with_store(work)

    assert removed == 3
    assert left == {
        "spent_challenges": [live_challenge],
        "sessions": [live_session.id],
        "events": [new_event_.log_id],
    }
    assert kept_user == user
    assert kept_passkeys == [passkey]
    assert kept_tenant == tenant
    assert secret_after == secret


# --- transactions -------------------------------------------------------------------------


def _db_run(clean_database: str, work: Callable[[SqlDatabase], Awaitable[T]]) -> T:
    async def main() -> T:
        db = await open_database(clean_database)
        try:
            return await work(db)
        finally:
            await db.close()

    return asyncio.run(main())


def test_a_write_transaction_is_all_or_nothing(clean_database: str) -> None:
    """A failure anywhere in the block (here a conflict after two good statements) leaves
    nothing of it: not the user, not its passkey, not the event recording it."""
    ada, bob = make_user(), make_user("bob@example.com")
    bob = replace(bob, user_handle=ada.user_handle)
    event = new_event(EventType.SUCCESS_SIGNUP, Requester(), now=NOW)

    async def work(db: SqlDatabase) -> tuple[Any, ...]:
        with pytest.raises(Conflict):
            async with db.write() as tx:
                await tx.create_user(ada, passkey=make_passkey(ada))
                await tx.append_events([event])
                await tx.create_user(bob)  # same user handle: the unique constraint refuses it
        async with db.read() as reader:
            return (
                await reader.get_user(ada.id),
                await reader.count_passkeys(),
                await reader.get_event(event.log_id),
            )

    assert _db_run(clean_database, work) == (None, 0, None)


def test_a_sign_count_is_stored_only_over_the_count_it_was_verified_against(with_store: Run) -> None:
    """§7.2 step 21 decided by the database: once another sign-in stored its count, a sign-in
    verified against the older count stores nothing (and is refused by the flow)."""
    user = make_user()
    passkey = replace(make_passkey(user), sign_count=5)

    async def work(store: Store) -> tuple[Any, ...]:
        await store.create_user(user, passkey=passkey)
        first = await store.record_passkey_use(
            passkey.id, previous_count=5, sign_count=6, backup_state=False, used_at=NOW
        )
        stale = await store.record_passkey_use(
            passkey.id, previous_count=5, sign_count=7, backup_state=True, used_at=NOW
        )
        return first, stale, await store.find_passkey(passkey.credential_id)

    first, stale, stored = with_store(work)

    assert (first, stale) == (True, False)
    assert (stored.sign_count, stored.backup_state) == (6, False)


@pytest.mark.parametrize("order", ["passkey first", "password first"])
def test_removing_both_ways_to_sign_in_at_once_leaves_one(clean_database: str, order: str) -> None:
    """Issue 8's race: the passkey and the password removed by two concurrent transactions.
    Each removal locks the owner's row before counting what remains, so one of the two is
    refused (last_sign_in_method) and the account keeps a way in, on both backends."""
    user = make_user(password_hash="$argon2id$stand-in")
    passkey = make_passkey(user)

    async def work(db: SqlDatabase) -> tuple[list[str], Any, int]:
        async with db.write() as tx:
            await tx.create_user(user, passkey=passkey)

        async def remove_passkey() -> str:
            async with db.write() as tx:
                await tx.delete_passkey(user.id, passkey.id)
            return "passkey removed"

        async def remove_password() -> str:
            async with db.write() as tx:
                await tx.set_password_hash(user.id, None, now=NOW)
            return "password removed"

        removals = [remove_passkey(), remove_password()]
        if order == "password first":
            removals.reverse()
        outcomes = await asyncio.gather(*removals, return_exceptions=True)
        async with db.read() as reader:
            kept = await reader.get_user(user.id)
            left = len(await reader.list_passkeys(user.id))
        return [o.code if isinstance(o, Conflict) else str(o) for o in outcomes], kept, left

    outcomes, kept, passkeys_left = _db_run(clean_database, work)

    assert sorted(outcomes)[0] == "last_sign_in_method", outcomes
    assert (kept.password_hash is not None) or passkeys_left == 1


def test_the_config_version_is_new_at_every_change(with_store: Run) -> None:
    tenant = TenantSettings.model_validate({"passkey_options": {"challenge_ui": "button"}})

    async def work(store: Store) -> list[int]:
        seen = [await store.config_version()]
        await store.seed_tenant(tenant, now=NOW)
        seen.append(await store.config_version())
        await store.seed_tenant(TenantSettings(), now=NOW)  # already seeded: changes nothing
        seen.append(await store.config_version())
        await store.save_tenant(tenant, now=NOW)
        seen.append(await store.config_version())
        await store.bump_config_version()
        seen.append(await store.config_version())
        return seen

    versions = with_store(work)
    assert versions[0] == 0  # nothing stored yet
    assert versions[1] == versions[2]  # a seed that finds settings changes nothing
    assert len({versions[1], versions[3], versions[4]}) == 3 and 0 not in versions[1:]


def test_a_passkey_is_found_with_its_owner_and_its_challenge_spent_or_not_in_one_query(
    with_store: Run,
) -> None:
    user = make_user()
    passkey = make_passkey(user)
    challenge = b"c" * 32

    async def work(store: Store) -> tuple[Any, Any, Any]:
        await store.create_user(user, passkey=passkey)
        fresh = await store.find_passkey_with_owner(passkey.credential_id, challenge_id=challenge)
        await store.spend_challenge(challenge, expires_at=NOW + timedelta(minutes=5))
        spent = await store.find_passkey_with_owner(passkey.credential_id, challenge_id=challenge)
        return fresh, spent, await store.find_passkey_with_owner(b"\x00" * 16, challenge_id=challenge)

    assert with_store(work) == ((passkey, user, False), (passkey, user, True), None)


def test_instance_facts_are_set_and_replaced(with_store: Run) -> None:
    async def work(store: Store) -> tuple[Any, ...]:
        missing = await store.get_fact("public_url")
        await store.set_fact("public_url", "http://localhost:9000")
        first = await store.get_fact("public_url")
        await store.set_fact("public_url", "https://id.example.com")
        return missing, first, await store.get_fact("public_url")

    assert with_store(work) == (None, "http://localhost:9000", "https://id.example.com")


# --- tenant and secrets -------------------------------------------------------------------


def test_tenant_settings_round_trip(with_store: Run) -> None:
    first = TenantSettings.model_validate(
        {
            "rp": {"id": "example.com", "origins": ["https://id.example.com"], "display_name": "Example"},
            "authentication_methods": {"password": {"enabled": False}},
            "passkey_options": {"challenge_ui": "autofill", "max_passkeys_per_user": 3},
            "login": {"reveal_account_existence": True},
        }
    )
    second = TenantSettings.model_validate({"passkey_options": {"user_verification": "preferred"}})

    async def work(store: Store) -> tuple[Any, ...]:
        empty = await store.load_tenant()
        await store.save_tenant(first, now=NOW)
        loaded = await store.load_tenant()
        await store.save_tenant(second, now=NOW)
        return empty, loaded, await store.load_tenant()

    empty, loaded, replaced = with_store(work)

    assert empty is None
    assert loaded == first
    assert replaced == second


def test_get_or_create_secret_is_stable(with_store: Run) -> None:
    async def work(store: Store) -> tuple[bytes, ...]:
        created = await store.get_or_create_secret("enumeration_key", b"\x00" * 32)
        again = await store.get_or_create_secret("enumeration_key", b"\xff" * 32)
        other = await store.get_or_create_secret("other", b"\x01" * 32)
        return created, again, other

    created, again, other = with_store(work)

    assert created == again == b"\x00" * 32
    assert other == b"\x01" * 32


# --- migrations -------------------------------------------------------------------------------


def _schema_differences(connection: Connection, target: MetaData) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, target))


async def _differences(engine: AsyncEngine, target: MetaData) -> list[Any]:
    async with engine.connect() as conn:
        return await conn.run_sync(_schema_differences, target)


def test_the_migrated_schema_matches_the_declared_tables(clean_database: str) -> None:
    """Alembic's autogenerate comparison, column types and server defaults included, finds no
    difference between the database the migrations built and `tables.metadata`.

    Nothing is filtered out: on both backends the comparison comes back empty as it is, so
    any difference (a missing column, index or constraint, another type or length, a
    different nullability or default) fails. Alembic leaves its own version table out.
    """
    tripwire = MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(tripwire)
    tripwire.tables["users"].append_column(Column("tripwire", Integer, nullable=True))

    async def work() -> tuple[list[Any], list[Any], str | None]:
        engine = create_engine(clean_database)
        try:
            await upgrade_to_head(engine)
            return (
                await _differences(engine, metadata),
                await _differences(engine, tripwire),
                await current_revision(engine),
            )
        finally:
            await engine.dispose()

    differences, tripped, revision = asyncio.run(work())

    assert differences == []
    assert [d[0] for d in tripped] == ["add_column"], "the comparison does see a missing column"
    assert revision == head_revision()


def test_the_declared_tables_all_exist_after_migrating(clean_database: str) -> None:
    async def work() -> set[str]:
        engine = create_engine(clean_database)
        try:
            async with engine.connect() as conn:
                return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
        finally:
            await engine.dispose()

    assert set(metadata.tables) <= asyncio.run(work())
