"""The collaborators every flow needs, built once per process (`keyturn.wiring`) and handed
down inside each request's `Context`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from keyturn.clock import Clock
from keyturn.keys import KeyManager
from keyturn.settings import Settings
from keyturn.store.cache import ConfigCache, MetadataCache, PasskeyShapeCache
from keyturn.store.protocols import Database
from keyturn.throttles import Throttles


@dataclass(frozen=True)
class InstanceSecrets:
    """Secrets every worker and instance shares, created once and kept in the database."""

    enumeration_key: bytes  # HMAC key for the stand-in answers about unknown emails
    flow_key: bytes  # AES-256-GCM key sealing flows and challenges carried by browsers


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    db: Database
    clock: Clock
    config: ConfigCache
    keys: KeyManager  # token signing keys
    kek: bytes  # key-encryption key for secrets at rest (keyturn.sealing)
    secrets: InstanceSecrets
    passkey_shapes: PasskeyShapeCache  # what stand-in passkeys must look like
    throttles: Throttles  # rate counters shared by every worker and instance
    outbox_wakeup: asyncio.Event = field(default_factory=asyncio.Event)  # mail was queued here
    metadata: MetadataCache = field(default_factory=MetadataCache)  # the verified FIDO MDS blob

    async def close(self) -> None:
        """Let go of every connection (database pool, Redis)."""
        try:
            await self.throttles.close()
        finally:
            await self.db.close()
