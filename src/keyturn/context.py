"""`Context`: one request's collaborators, handed to every flow and operation.

The transport opens it (`open_context`) around the work of one request or command: the
process's `Runtime`, the request's `UnitOfWork`, who is asking, and the tenant settings
as of this request. When the work ends it stores what is left: on success, and also on
a refusal (a `KeyturnError`), so the refusal's failure events and spent challenges are
kept. After any other error nothing is kept.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keyturn.domain.events import Event, EventType, Requester, new_event
from keyturn.domain.tenant import TenantSettings
from keyturn.errors import KeyturnError
from keyturn.runtime import Runtime
from keyturn.settings import Settings
from keyturn.store.protocols import ReadTx, WriteTx
from keyturn.store.unit_of_work import UnitOfWork


@dataclass
class Context:
    rt: Runtime
    uow: UnitOfWork
    requester: Requester
    tenant: TenantSettings

    @property
    def settings(self) -> Settings:
        return self.rt.settings

    def now(self) -> datetime:
        return self.rt.clock.now()

    async def read(self) -> ReadTx:
        return await self.uow.reader()

    def writing(self) -> AbstractAsyncContextManager[WriteTx]:
        return self.uow.writing()

    def record(
        self,
        type: EventType,
        *,
        user_id: str | None = None,
        user_name: str | None = None,
        client_id: str | None = None,
        description: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Event:
        """Record an event: it is stored with this request's write transaction (or on its own)."""
        event = new_event(
            type,
            self.requester,
            now=self.now(),
            user_id=user_id,
            user_name=user_name,
            client_id=client_id,
            description=description,
            details=details,
        )
        self.uow.record(event)
        return event


@asynccontextmanager
async def open_context(rt: Runtime, requester: Requester) -> AsyncIterator[Context]:
    uow = UnitOfWork(rt.db)
    try:
        await rt.config.refresh(uow.reader)  # no read at all while the last look is fresh
        ctx = Context(rt=rt, uow=uow, requester=requester, tenant=await rt.config.tenant(uow.reader))
    except BaseException:
        await uow.abandon()
        raise
    try:
        yield ctx
    except KeyturnError:
        await uow.finish()  # a refusal: its failure events and spent challenges are kept
        raise
    except BaseException:
        await uow.abandon()
        raise
    await uow.finish()
