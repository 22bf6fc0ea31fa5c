"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for email tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from keyturn.settings import EmailSettings
from tests.support.server import free_port


@dataclass
class Received:
    to: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())

    @property
    def html(self) -> str | None:
        part = self.message.get_body(preferencelist=("html",))
        return str(part.get_content()) if part is not None else None


@dataclass
class Inbox:
    """What the server accepted, and how it answers the next RCPT (to make deliveries fail)."""

    messages: list[Received] = field(default_factory=list)
    refuse_recipients: bool = False
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.refuse_recipients:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.arrived:
            self.messages.append(Received(to=list(envelope.rcpt_tos), message=parsed))
            self.arrived.notify_all()
        return "250 OK"

    def wait_for(self, count: int, *, seconds: float = 20) -> list[Received]:
        """Block until `count` messages arrived (they are sent in the background) or fail."""
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.messages) >= count, timeout=seconds), (
                f"{len(self.messages)} of {count} messages arrived within {seconds}s"
            )
            return list(self.messages)

    def wait_for_matching(
        self, subject: str, *, to: str | None = None, count: int = 1, seconds: float = 20
    ) -> list[Received]:
        """Block until `count` messages whose subject starts with `subject` (to `to`, if given)
        arrived, and return those in arrival order: the outbox sends due mail in any order."""

        def found() -> list[Received]:
            return [
                m for m in self.messages if m.subject.startswith(subject) and (to is None or m.to == [to])
            ]

        with self.arrived:
            assert self.arrived.wait_for(lambda: len(found()) >= count, timeout=seconds), (
                f"{len(found())} of {count} {subject!r} messages arrived within {seconds}s: "
                f"{[m.subject for m in self.messages]}"
            )
            return found()


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    inbox: Inbox

    def email_settings(self, **more: Any) -> EmailSettings:
        """Keyturn's email settings for sending here (in-process apps and runtimes)."""
        return EmailSettings(
            transport="smtp", smtp_host=self.host, smtp_port=self.port, smtp_security="none", **more
        )

    def env(self) -> dict[str, str]:
        """What `keyturn serve` needs in its environment to send here."""
        return {
            "KEYTURN_EMAIL__TRANSPORT": "smtp",
            "KEYTURN_EMAIL__SMTP_HOST": self.host,
            "KEYTURN_EMAIL__SMTP_PORT": str(self.port),
            "KEYTURN_EMAIL__SMTP_SECURITY": "none",
        }


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield SmtpServer(host="127.0.0.1", port=controller.port, inbox=inbox)
    finally:
        controller.stop()
