"""The outbox: email written in the transaction of what caused it, sent off the request path.

`send_later` renders a message and queues it in the caller's write transaction, so it
exists exactly when what caused it does, and sending never changes a response or its
timing. Its subject and bodies are sealed under the KEK (their links carry tokens).

`OutboxSender` runs in every worker: it claims due messages (other workers skip them),
delivers each through the transport in two phases (`keyturn.mail.transports`), and retries
a failure with exponential backoff until `MAX_ATTEMPTS`; every outcome is an event
(`email_sent`, `email_failed`). A message claimed by a worker that died is claimed again
when its lease runs out, so nothing queued is lost to a restart.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta
from typing import Any

from keyturn.background import first_of
from keyturn.context import Context
from keyturn.domain.events import EventType, Requester, new_event
from keyturn.domain.mail import Mail, OutboxEntry
from keyturn.ids import new_id
from keyturn.mail.render import render
from keyturn.mail.transports import DeliveryError, Transport, new_message_id, sender_of, transport_for
from keyturn.runtime import Runtime
from keyturn.sealing import seal, unseal
from keyturn.store.protocols import WriteTx
from keyturn.store.unit_of_work import UnitOfWork

log = logging.getLogger("keyturn.mail")
LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8
POLL_SECONDS = 2.0
BATCH = 20


def _sealed(rt: Runtime, mail_id: str, mail: Mail) -> bytes:
    content = {"subject": mail.subject, "text": mail.text, "html": mail.html}
    return seal(rt.kek, json.dumps(content).encode(), bound_to=f"outbox:{mail_id}")


def _opened(rt: Runtime, entry: OutboxEntry) -> Mail:
    content = json.loads(unseal(rt.kek, entry.sealed, bound_to=f"outbox:{entry.id}"))
    return Mail(
        to_address=entry.to_address, subject=content["subject"], text=content["text"], html=content["html"]
    )


async def send_later(
    ctx: Context, tx: WriteTx, template: str, *, to_address: str, user_id: str | None = None, **values: Any
) -> str:
    """Render `template` and queue it in `tx`: it is sent once (and only if) `tx` commits."""
    mail = render(ctx, template, to_address=to_address, **values)
    mail_id = new_id()
    now = ctx.now()
    await tx.enqueue_mail(
        OutboxEntry(
            id=mail_id,
            template=template,
            to_address=to_address,
            user_id=user_id,
            sealed=_sealed(ctx.rt, mail_id, mail),
            state="queued",
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
    )
    ctx.rt.outbox_wakeup.set()
    return mail_id


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s … at most an hour."""
    return timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 3600))


class OutboxSender:
    def __init__(self, rt: Runtime, transport: Transport | None = None) -> None:
        self.rt = rt
        self.transport = transport or transport_for(
            rt.settings.email, outbox_dir=rt.settings.resolved_outbox_dir
        )

    async def run_until(self, stopping: asyncio.Event) -> None:
        """Send what is due, then wait for mail queued here (at once) or elsewhere (within
        POLL_SECONDS); return between two rounds once `stopping` is set, never mid-delivery."""
        wakeup = self.rt.outbox_wakeup
        while not stopping.is_set():
            try:
                while await self.send_due() == BATCH and not stopping.is_set():
                    pass
            except Exception:
                log.exception("sending email failed; will retry")
            await first_of(wakeup, stopping, seconds=POLL_SECONDS)
            wakeup.clear()

    async def send_due(self) -> int:
        """Claim and deliver what is due now; how many were claimed."""
        now = self.rt.clock.now()
        async with self.rt.db.read() as reader:  # the usual answer is "nothing": no write for it
            if not await reader.mail_due(now=now):
                return 0
        async with self.rt.db.write() as tx:
            claimed = await tx.claim_mail(now=now, lease_until=now + LEASE, limit=BATCH)
        if claimed:
            tenant = await self._display_name()
            await asyncio.gather(*(self._deliver(entry, tenant) for entry in claimed))
        return len(claimed)

    async def _display_name(self) -> str:
        uow = UnitOfWork(self.rt.db)
        try:
            await self.rt.config.refresh(uow.reader)
            return (await self.rt.config.tenant(uow.reader)).product_name
        finally:
            await uow.release()

    async def _deliver(self, entry: OutboxEntry, display_name: str) -> None:
        mail = _opened(self.rt, entry)
        sender = sender_of(self.rt.settings.email, display_name)
        domain = self.rt.settings.email.from_address.rpartition("@")[2] or "keyturn.invalid"

        async def commit() -> None:
            async with self.rt.db.write() as tx:
                await tx.mark_mail_sent(entry.id, now=self.rt.clock.now())
                await tx.append_events([self._event(EventType.EMAIL_SENT, entry)])

        try:
            await self.transport.deliver(
                mail, message_id=new_message_id(entry.id, domain), sender=sender, commit=commit
            )
        except DeliveryError as error:
            await self._failed(entry, str(error))

    async def _failed(self, entry: OutboxEntry, error: str) -> None:
        give_up = entry.attempts >= MAX_ATTEMPTS
        now = self.rt.clock.now()
        log.warning(
            "email not sent",
            extra={"outbox_id": entry.id, "attempt": entry.attempts, "error": error, "final": give_up},
        )
        async with self.rt.db.write() as tx:
            await tx.retry_mail(
                entry.id, next_attempt_at=now + backoff(entry.attempts), error=error, give_up=give_up
            )
            await tx.append_events(
                [
                    self._event(
                        EventType.EMAIL_FAILED, entry, error=error, attempt=entry.attempts, final=give_up
                    )
                ]
            )

    def _event(self, type: EventType, entry: OutboxEntry, **details: Any) -> Any:
        return new_event(
            type,
            Requester(user_agent="keyturn-outbox"),
            now=self.rt.clock.now(),
            user_id=entry.user_id,
            user_name=entry.to_address,
            details={"template": entry.template, "outbox_id": entry.id, **details},
        )


async def send_now(rt: Runtime, mail: Mail, *, display_name: str) -> datetime:
    """Deliver one message at once, outside the outbox (`keyturn mail test`); raises DeliveryError."""
    transport = transport_for(rt.settings.email, outbox_dir=rt.settings.resolved_outbox_dir)
    domain = rt.settings.email.from_address.rpartition("@")[2] or "keyturn.invalid"

    async def commit() -> None:
        return None

    await transport.deliver(
        mail,
        message_id=new_message_id(new_id(), domain),
        sender=sender_of(rt.settings.email, display_name),
        commit=commit,
    )
    return rt.clock.now()
