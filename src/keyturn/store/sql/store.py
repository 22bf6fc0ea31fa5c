"""SqlStore: every repository over one engine, plus opening and migrating it."""

from __future__ import annotations

from keyturn.store.sql.engine import create_engine
from keyturn.store.sql.events import SqlEventStore
from keyturn.store.sql.flows import SqlFlowStore, SqlSessionStore
from keyturn.store.sql.hooks import SqlHookStore
from keyturn.store.sql.migrate import upgrade_to_head
from keyturn.store.sql.oidc import SqlOidcStore
from keyturn.store.sql.tenant import SqlTenantStore
from keyturn.store.sql.users import SqlPasskeyStore, SqlUserStore


class SqlStore(
    SqlUserStore,
    SqlPasskeyStore,
    SqlFlowStore,
    SqlSessionStore,
    SqlTenantStore,
    SqlOidcStore,
    SqlEventStore,
    SqlHookStore,
):
    """The `keyturn.store.protocols.Store` for SQLite and PostgreSQL."""

    async def close(self) -> None:
        await self._engine.dispose()


async def open_store(database_url: str, *, migrate: bool = True) -> SqlStore:
    """Open the database, applying migrations first unless told not to."""
    engine = create_engine(database_url)
    if migrate:
        await upgrade_to_head(engine)
    return SqlStore(engine)
