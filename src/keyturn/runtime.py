"""The few collaborators every flow needs, built once per app and passed explicitly."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from keyturn.clock import Clock
from keyturn.domain.tenant import TenantSettings
from keyturn.events.log import EventLog
from keyturn.methods.password import PasswordHasher
from keyturn.oidc.keys import KeyManager, load_key_encryption_key
from keyturn.settings import Settings
from keyturn.store.protocols import Store


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    store: Store
    clock: Clock
    hasher: PasswordHasher
    enumeration_key: bytes  # HMAC key for the stand-in answers given about unknown emails
    keys: KeyManager  # OIDC signing keys
    kek: bytes  # key-encryption key for secrets at rest (keyturn.sealing)
    events: EventLog

    async def tenant(self) -> TenantSettings:
        """The tenant settings as stored now (every worker reads the same row)."""
        tenant = await self.store.load_tenant()
        return tenant if tenant is not None else self.settings.default_tenant()


async def build_runtime(settings: Settings, store: Store, clock: Clock) -> Runtime:
    """Seed the tenant settings and shared secrets on first start."""
    await store.seed_tenant(settings.default_tenant(), now=clock.now())
    key = await store.get_or_create_secret("enumeration_key", secrets.token_bytes(32))
    longest_token = max(settings.access_token_ttl_seconds, settings.id_token_ttl_seconds)
    kek = load_key_encryption_key(settings)
    keys = KeyManager(store, kek=kek, publish_retired_for=timedelta(seconds=longest_token))
    return Runtime(
        settings=settings,
        store=store,
        clock=clock,
        hasher=PasswordHasher(),
        enumeration_key=key,
        keys=keys,
        kek=kek,
        events=EventLog(store, clock),
    )
