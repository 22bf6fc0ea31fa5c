"""What this process knows of the tenant's configuration: settings, hooks and clients, read
once and kept until the config version in the database moves.

Every change to any of them bumps that version in the same transaction, and a request reads
it (one primary-key lookup) when the last look is `check_seconds` old, so a `keyturn config
patch`, a new client or a key rotation made by another process reaches this one within that
time (a second by default), while most requests do no read for it at all. A change this
process makes itself (`forget`) applies at its next request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar, cast

from keyturn.domain.hooks import Hook
from keyturn.domain.identity import PasskeyShape
from keyturn.domain.mds import StoredMetadataBlob
from keyturn.domain.oidc import Client
from keyturn.domain.tenant import TenantSettings
from keyturn.store.protocols import ReadTx

T = TypeVar("T")
ReaderSource = Callable[[], Awaitable[ReadTx]]
"""Opens (or reuses) a read connection only when one is needed: `UnitOfWork.reader`."""


class ConfigCache:
    def __init__(
        self,
        default_tenant: Callable[[], TenantSettings],
        *,
        check_seconds: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,  # seconds; a step back means "look now"
    ) -> None:
        self._default_tenant = default_tenant
        self._check_seconds = check_seconds
        self._monotonic = monotonic
        self._checked_at = float("-inf")
        self._version: int | None = None
        self._tenant: TenantSettings | None = None
        self._hooks: dict[str, list[Hook]] = {}
        self._clients: dict[str, Client | None] = {}
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever another version is seen (the key manager forgets its ring)."""
        self._listeners.append(listener)

    async def refresh(self, read: ReaderSource) -> None:
        """Compare the stored version with ours, unless we did so less than `check_seconds`
        ago; forget everything cached if it moved."""
        now = self._monotonic()
        if self._version is not None and 0 <= now - self._checked_at < self._check_seconds:
            return
        version = await (await read()).config_version()
        self._checked_at = now
        if version != self._version:
            self._version = version
            self._tenant = None
            self._hooks.clear()
            self._clients.clear()
            for listener in self._listeners:
                listener()

    def forget(self) -> None:
        """This process changed something: do not wait for the version read to notice."""
        self._version = None

    async def tenant(self, read: ReaderSource) -> TenantSettings:
        if self._tenant is None:
            self._tenant = await (await read()).load_tenant() or self._default_tenant()
        return self._tenant

    async def hooks(self, reader: ReadTx, trigger: str) -> list[Hook]:
        if trigger not in self._hooks:
            self._hooks[trigger] = [h for h in await reader.list_hooks(trigger=trigger) if h.enabled]
        return self._hooks[trigger]

    async def client(self, reader: ReadTx, client_id: str) -> Client | None:
        if client_id not in self._clients:
            if len(self._clients) > 10_000:  # an unbounded stream of made-up ids
                self._clients.clear()
            self._clients[client_id] = await reader.get_client(client_id)
        return self._clients[client_id]


# Until enough accounts exist to learn from: common shapes (ids of platform and synced
# passkeys are 16–32 bytes; security keys' are often 64), one passkey most often.
PRIOR_COUNTS = {1: 70, 2: 20, 3: 10}
PRIOR_SHAPES: list[PasskeyShape] = [
    (20, ("hybrid", "internal")),
    (16, ("hybrid", "internal")),
    (32, ("internal",)),
    (64, ("nfc", "usb")),
]
MIN_ACCOUNTS = 20  # below this many accounts with passkeys, the prior stands in for the data


@dataclass
class PasskeyShapeCache:
    """What stored passkeys look like (see `keyturn.methods.stand_ins`), re-read every few minutes."""

    refresh_seconds: float = 600.0
    sample: int = 500
    counts: dict[int, int] = field(default_factory=lambda: dict(PRIOR_COUNTS))
    shapes: list[PasskeyShape] = field(default_factory=lambda: list(PRIOR_SHAPES))
    loaded_at: float = float("-inf")

    async def current(self, reader: ReadTx) -> PasskeyShapeCache:
        if time.monotonic() - self.loaded_at > self.refresh_seconds:
            histogram, sample = await reader.passkey_shapes(sample=self.sample)
            learned = sum(histogram.values()) >= MIN_ACCOUNTS and bool(sample)
            self.counts = histogram if learned else dict(PRIOR_COUNTS)
            self.shapes = sample if learned else list(PRIOR_SHAPES)
            self.loaded_at = time.monotonic()
        return self


class MetadataCache:
    """The FIDO Metadata Service blob this process verified and parsed, kept until the stored
    serial moves (`keyturn mds update` on any instance). Parsing the real blob (thousands of
    entries) takes a while, so it is done once per serial, not per registration."""

    def __init__(self) -> None:
        self._serial: int | None = None
        self._parsed: object | None = None

    async def current(self, reader: ReadTx, parse: Callable[[StoredMetadataBlob], T]) -> T | None:
        """`parse` of the stored blob (None when none is stored); a parse that raises leaves
        nothing cached, so the next call tries again."""
        serial = await reader.mds_serial()
        if serial is None:
            return None
        if serial != self._serial:
            stored = await reader.load_mds_blob()
            if stored is None:
                return None
            self._parsed, self._serial = None, None
            self._parsed = parse(stored)
            self._serial = stored.serial
        return cast(T, self._parsed)
