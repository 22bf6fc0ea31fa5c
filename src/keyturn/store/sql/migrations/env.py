"""Alembic environment: always handed a live connection by keyturn.store.sql.migrate."""

from __future__ import annotations

from alembic import context

from keyturn.store.sql.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
context.run_migrations()
