"""Building the `Runtime` (the composition root): the database, shared secrets, keys, caches.

Used by the app's lifespan, by every CLI command and by tests; nothing else constructs
these collaborators.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from keyturn import i18n, metrics
from keyturn.clock import Clock, SystemClock
from keyturn.context import Context, open_context
from keyturn.domain.events import Requester
from keyturn.errors import KeyturnError
from keyturn.keys import KeyManager, load_key_encryption_key
from keyturn.runtime import InstanceSecrets, Runtime
from keyturn.settings import Settings
from keyturn.store.cache import ConfigCache, PasskeyShapeCache
from keyturn.store.protocols import Database
from keyturn.store.sql.store import open_database
from keyturn.throttles import throttles_for

PUBLIC_URL_FACT = "public_url"
ISSUER_FACT = "issuer"


async def build_runtime(settings: Settings, db: Database, clock: Clock) -> Runtime:
    """Seed the tenant settings and shared secrets on first start (safe when instances race)."""
    async with db.write() as tx:
        await tx.seed_tenant(settings.default_tenant(), now=clock.now())
        enumeration_key = await tx.get_or_create_secret("enumeration_key", secrets.token_bytes(32))
        flow_key = await tx.get_or_create_secret("flow_key", secrets.token_bytes(32))
    longest_token = max(settings.access_token_ttl_seconds, settings.id_token_ttl_seconds)
    kek = load_key_encryption_key(settings)
    keys = KeyManager(db, kek=kek, publish_retired_for=timedelta(seconds=longest_token))
    config = ConfigCache(
        settings.default_tenant,
        check_seconds=settings.config_check_seconds,
        monotonic=lambda: clock.now().timestamp(),  # the runtime's clock, so tests can move it
    )
    config.on_change(keys.forget)
    return Runtime(
        settings=settings,
        db=db,
        clock=clock,
        config=config,
        keys=keys,
        kek=kek,
        secrets=InstanceSecrets(enumeration_key=enumeration_key, flow_key=flow_key),
        passkey_shapes=PasskeyShapeCache(),
        throttles=throttles_for(db, redis_url=settings.redis_url),
    )


async def open_runtime(settings: Settings, *, clock: Clock | None = None) -> Runtime:
    """Open the database (migrating it), then build the runtime; a refused start leaves nothing open."""
    i18n.load_catalogues()  # the .po files, read once now rather than on someone's first page
    db = await open_database(
        settings.resolved_database_url,
        connect_timeout=settings.database_connect_timeout_seconds,
        statement_timeout=settings.database_statement_timeout_seconds,
        observer=metrics.observe_transaction,
    )
    try:
        return await build_runtime(settings, db, clock or SystemClock())
    except BaseException:
        await db.close()
        raise


async def publish_public_url(rt: Runtime) -> None:
    """`serve` records where it is reachable, so CLI commands agree on the issuer and audience."""
    async with rt.db.write() as tx:
        await tx.set_fact(PUBLIC_URL_FACT, rt.settings.base_url)
        await tx.set_fact(ISSUER_FACT, rt.settings.issuer_url)


async def with_served_public_url(settings: Settings) -> Settings:
    """For a CLI command with no public URL of its own: the one the running `serve` published."""
    if settings.public_url is not None:
        return settings
    db = await open_database(settings.resolved_database_url, migrate=False)
    try:
        async with db.read() as reader:
            public, issuer = await reader.get_fact(PUBLIC_URL_FACT), await reader.get_fact(ISSUER_FACT)
    except (KeyturnError, SQLAlchemyError):  # a database no `serve` has migrated yet has none
        public = issuer = None
    finally:
        await db.close()
    if public is None:
        return settings
    update: dict[str, str] = {"public_url": public}
    if settings.issuer is None and issuer is not None:
        update["issuer"] = issuer
    return settings.model_copy(update=update)


@asynccontextmanager
async def command_context(rt: Runtime) -> AsyncIterator[Context]:
    """The `Context` of one CLI command (or test step), as a request would have it."""
    async with open_context(rt, Requester(user_agent="keyturn-cli")) as ctx:
        yield ctx
