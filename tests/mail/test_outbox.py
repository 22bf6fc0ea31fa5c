"""Email through the outbox: queued with what caused it, sent in the background, exactly once.

Messages go to a real SMTP server on loopback (aiosmtpd) and are read from what it received.
Most tests drive the sender by hand (`send_due`) with a frozen clock, so retries and leases
are exact; the last ones run a real `keyturn serve` and kill it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from keyturn.clock import FrozenClock
from keyturn.domain.events import EventType
from keyturn.mail.outbox import LEASE, MAX_ATTEMPTS, OutboxSender, backoff, send_later
from keyturn.mail.transports import DeliveryError, SmtpTransport
from keyturn.runtime import Runtime
from keyturn.settings import Settings
from keyturn.wiring import command_context, open_runtime
from tests.conftest import BASE_URL
from tests.support.server import free_port, keyturn_env, running_server
from tests.support.smtp import SmtpServer

T = TypeVar("T")
ADA = "ada@example.com"


def run(settings: Settings, clock: FrozenClock, work: Callable[[Runtime], Awaitable[T]]) -> T:
    async def main() -> T:
        rt = await open_runtime(settings, clock=clock)
        try:
            return await work(rt)
        finally:
            await rt.close()

    return asyncio.run(main())


async def queue(rt: Runtime, template: str = "test", *, to: str = ADA, fail: bool = False) -> None:
    """Queue one message in a write transaction (which fails after it when `fail`)."""
    async with command_context(rt) as ctx, ctx.writing() as tx:
        await send_later(ctx, tx, template, to_address=to, user_id="user-1")
        if fail:
            raise RuntimeError("the change that would have sent it fails")


async def events(rt: Runtime, *types: EventType) -> list[Any]:
    async with rt.db.read() as reader:
        found, _ = await reader.query_events(types=tuple(types), newest_first=False, limit=100)
    return found


def test_a_message_goes_out_once_its_transaction_commits_and_never_if_it_fails(
    settings: Settings, clock: FrozenClock, smtp: SmtpServer
) -> None:
    configured = settings.model_copy(update={"email": smtp.email_settings()})

    async def work(rt: Runtime) -> tuple[int, int, list[Any]]:
        with pytest.raises(RuntimeError):
            await queue(rt, fail=True)
        await queue(rt)
        sent = await OutboxSender(rt).send_due()
        again = await OutboxSender(rt).send_due()
        return sent, again, await events(rt, EventType.EMAIL_SENT)

    sent, again, logged = run(configured, clock, work)

    assert (sent, again) == (1, 0)
    [message] = smtp.inbox.messages
    assert message.to == [ADA]
    assert message.subject == "A test message from Keyturn"
    assert "Keyturn can send email" in message.text
    assert message.html is not None and f'href="{BASE_URL}"' in message.html
    assert message.message["From"] == "Keyturn <keyturn@localhost>"
    assert [(e.user_id, e.user_name, e.details["template"]) for e in logged] == [("user-1", ADA, "test")]


def test_an_operators_templates_replace_the_built_in_ones(
    settings: Settings, clock: FrozenClock, smtp: SmtpServer, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "test.subject.txt").write_text("Hello from {{ product }}, the operator's way\n")
    (templates / "test.txt").write_text("Visit {{ public_url }}/account\n")
    (templates / "layout.txt").write_text("{{ body }}\n(sent by {{ product }})\n")
    mail = smtp.email_settings(templates_dir=templates, from_name="Example Support")
    configured = settings.model_copy(update={"email": mail})

    async def work(rt: Runtime) -> None:
        await queue(rt)
        await OutboxSender(rt).send_due()

    run(configured, clock, work)

    [message] = smtp.inbox.messages
    assert message.subject == "Hello from Keyturn, the operator's way"
    assert message.text.strip().splitlines() == [f"Visit {BASE_URL}/account", "(sent by Keyturn)"]  # layout
    assert message.html is not None  # the built-in HTML part still comes with it
    assert message.message["From"] == "Example Support <keyturn@localhost>"


def test_a_refused_delivery_is_retried_with_backoff_then_given_up(
    settings: Settings, clock: FrozenClock, smtp: SmtpServer
) -> None:
    configured = settings.model_copy(update={"email": smtp.email_settings()})
    smtp.inbox.refuse_recipients = True

    async def work(rt: Runtime) -> tuple[list[int], list[Any], list[Any]]:
        await queue(rt)
        sender = OutboxSender(rt)
        claimed = [await sender.send_due()]
        clock.advance(seconds=backoff(1).total_seconds() - 1)
        claimed.append(await sender.send_due())  # not due yet
        for attempt in range(1, MAX_ATTEMPTS):
            clock.advance(seconds=backoff(attempt).total_seconds())
            claimed.append(await sender.send_due())
        clock.advance(hours=2)
        claimed.append(await sender.send_due())  # given up: never claimed again
        async with rt.db.read() as reader:
            stored = await reader.list_mail()
        return claimed, stored, await events(rt, EventType.EMAIL_FAILED)

    claimed, stored, failures = run(configured, clock, work)

    assert claimed == [1, 0] + [1] * (MAX_ATTEMPTS - 1) + [0]
    assert [(m.state, m.attempts) for m in stored] == [("failed", MAX_ATTEMPTS)]
    assert "451" in (stored[0].last_error or "")
    assert [e.details["attempt"] for e in failures] == list(range(1, MAX_ATTEMPTS + 1))
    assert [e.details["final"] for e in failures][-1] is True
    assert smtp.inbox.messages == []


def test_a_crash_between_sending_and_marking_sends_the_message_once(
    settings: Settings, clock: FrozenClock, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The body reached the server, then the process "died" before recording the send: the
    server never got the final "." and discarded the message, and the retry (once the dead
    worker's lease ran out) delivers it exactly once."""
    configured = settings.model_copy(update={"email": smtp.email_settings()})
    original = SmtpTransport._send

    def dies_before_marking(self: SmtpTransport, message: Any, commit: Callable[[], None]) -> None:
        def crash() -> None:
            raise DeliveryError("the process died here")

        original(self, message, crash)

    async def work(rt: Runtime) -> tuple[int, int]:
        await queue(rt)
        monkeypatch.setattr(SmtpTransport, "_send", dies_before_marking)
        first = await OutboxSender(rt).send_due()
        monkeypatch.setattr(SmtpTransport, "_send", original)
        clock.advance(seconds=LEASE.total_seconds() + backoff(1).total_seconds())
        return first, await OutboxSender(rt).send_due()

    assert run(configured, clock, work) == (1, 1)
    assert len(smtp.inbox.messages) == 1


def test_a_queued_body_is_sealed_at_rest(settings: Settings, clock: FrozenClock) -> None:
    async def work(rt: Runtime) -> bytes:
        await queue(rt)
        async with rt.db.read() as reader:
            [entry] = await reader.list_mail()
        return entry.sealed

    sealed = run(settings, clock, work)
    assert b"Keyturn can send email" not in sealed and b"test message" not in sealed


def test_the_file_transport_writes_an_eml_and_logs_its_links(
    settings: Settings, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    async def work(rt: Runtime) -> None:
        await queue(rt)
        with caplog.at_level(logging.INFO, logger="keyturn.mail"):
            await OutboxSender(rt).send_due()

    run(settings, clock, work)

    [eml] = list((settings.data_dir / "outbox").glob("*.eml"))
    assert b"Subject: A test message from Keyturn" in eml.read_bytes()
    assert not list((settings.data_dir / "outbox").glob(".*.partial"))
    assert f"{BASE_URL}" in caplog.text and str(eml) in caplog.text


async def _outbox(rt: Runtime) -> list[Any]:
    async with rt.db.read() as reader:
        return await reader.list_mail()


def test_queued_mail_survives_a_killed_server_and_arrives_once(
    clean_database: str, tmp_path: Path, smtp: SmtpServer
) -> None:
    """Messages are queued while the mail server is unreachable; the server is killed; a new
    one, with the mail server back, delivers each exactly once."""
    settings = Settings(database_url=clean_database, data_dir=tmp_path, public_url=BASE_URL)

    async def queue_three(rt: Runtime) -> None:
        for n in range(3):
            await queue(rt, to=f"person{n}@example.com")

    run(settings, FrozenClock(datetime.now(UTC)), queue_three)
    port = free_port()
    unreachable = {**smtp.env(), "KEYTURN_EMAIL__SMTP_PORT": str(free_port())}
    with running_server(
        port=port, data_dir=tmp_path, database_url=clean_database, extra_env=unreachable
    ) as first:
        # Another process's work cannot be awaited: watch the outbox until all three failed once
        # and wait for their retry (a kill mid-delivery is the lease's case, tested above).
        deadline = time.monotonic() + 20
        while (
            sum(
                m.state == "queued" and m.attempts > 0
                for m in run(settings, FrozenClock(datetime.now(UTC)), _outbox)
            )
            < 3
        ):
            assert time.monotonic() < deadline, first.log_tail()
            time.sleep(0.1)
        os.kill(first.pid, signal.SIGKILL)
    with running_server(port=port, data_dir=tmp_path, database_url=clean_database, extra_env=smtp.env()):
        received = smtp.inbox.wait_for(3, seconds=30)  # after their backoff, from the new server
    assert sorted(m.to[0] for m in received) == [f"person{n}@example.com" for n in range(3)]
    assert len(smtp.inbox.messages) == 3


def test_mail_test_sends_a_message_and_says_so(clean_database: str, tmp_path: Path, smtp: SmtpServer) -> None:
    env = {**keyturn_env(data_dir=tmp_path, database_url=clean_database, port=8000), **smtp.env()}
    done = subprocess.run(
        [sys.executable, "-m", "keyturn", "mail", "test", "--to", "Ops@Example.com"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "sent a test message to ops@example.com through smtp" in done.stdout
    [message] = smtp.inbox.messages
    assert message.to == ["ops@example.com"]

    env["KEYTURN_EMAIL__SMTP_PORT"] = str(free_port())  # nobody listens
    failed = subprocess.run(
        [sys.executable, "-m", "keyturn", "mail", "test", "--to", "ops@example.com"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert failed.returncode == 1
    assert "The message was not sent: cannot reach the mail server" in failed.stderr


def test_mail_due_says_whether_a_claim_would_find_anything(
    settings: Settings, clock: FrozenClock, smtp: SmtpServer
) -> None:
    configured = settings.model_copy(update={"email": smtp.email_settings()})

    async def due(rt: Runtime) -> bool:
        async with rt.db.read() as reader:
            return await reader.mail_due(now=rt.clock.now())

    async def work(rt: Runtime) -> list[bool]:
        seen = [await due(rt)]
        await queue(rt)
        seen.append(await due(rt))
        await OutboxSender(rt).send_due()
        seen.append(await due(rt))
        return seen

    assert run(configured, clock, work) == [False, True, False]
    assert len(smtp.inbox.messages) == 1
