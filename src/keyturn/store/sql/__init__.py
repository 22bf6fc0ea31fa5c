"""SQLAlchemy Core implementation of `keyturn.store.protocols` for SQLite and PostgreSQL."""
