"""Opening the SQL database: engine, migrations, then the `Database` over it."""

from __future__ import annotations

from keyturn.store.sql.database import SqlDatabase, TransactionObserver
from keyturn.store.sql.engine import create_engine
from keyturn.store.sql.migrate import upgrade_to_head


async def open_database(
    database_url: str,
    *,
    migrate: bool = True,
    connect_timeout: float = 3.0,
    statement_timeout: float = 5.0,
    observer: TransactionObserver | None = None,
) -> SqlDatabase:
    """Open the database, applying migrations first unless told not to."""
    engine = create_engine(database_url, connect_timeout=connect_timeout, statement_timeout=statement_timeout)
    if migrate:
        try:
            await upgrade_to_head(engine)
        except BaseException:
            await engine.dispose()
            raise
    reader = create_engine(
        database_url, connect_timeout=connect_timeout, statement_timeout=statement_timeout, reads=True
    )
    return SqlDatabase(engine, reader=reader, observer=observer)
