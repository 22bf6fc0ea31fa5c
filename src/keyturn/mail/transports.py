"""Delivering one rendered message, in two phases so a crash cannot make it arrive twice.

Each transport gets `commit`: the outbox's "this message is sent" write. It calls it at the
last moment before the delivery becomes irreversible:
- SMTP: after the whole body went to the server, before the final "." that makes the server
  accept it. A crash before the commit leaves the server an unfinished message it discards
  (the retry sends it once); a crash after it could only lose the message in the instant
  between the commit and the ".", never send it twice.
- file: the .eml is written to a temporary name, the commit made, then it is renamed into
  place (atomic).
"""

from __future__ import annotations

import asyncio
import logging
import re
import smtplib
import ssl
from collections.abc import Callable, Coroutine
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path
from typing import Any, Protocol

from keyturn.domain.mail import Mail
from keyturn.settings import EmailSettings

log = logging.getLogger("keyturn.mail")
Commit = Callable[[], Coroutine[Any, Any, None]]
_LINKS = re.compile(r"https?://\S+")


class DeliveryError(Exception):
    """The message was not delivered (and the outbox will retry it)."""


class Transport(Protocol):
    async def deliver(self, mail: Mail, *, message_id: str, sender: str, commit: Commit) -> None: ...


def to_email_message(mail: Mail, *, message_id: str, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to_address
    message["Subject"] = mail.subject
    message["Message-ID"] = message_id
    message.set_content(mail.text)
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html")
    return message


def new_message_id(outbox_id: str, domain: str) -> str:
    return make_msgid(idstring=outbox_id, domain=domain)


class FileTransport:
    """Development: each message an .eml file under the outbox folder, its links in the log."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def deliver(self, mail: Mail, *, message_id: str, sender: str, commit: Commit) -> None:
        data = to_email_message(mail, message_id=message_id, sender=sender).as_bytes()
        name = re.sub(r"[^A-Za-z0-9]", "", message_id)[:60]
        final, partial = self.folder / f"{name}.eml", self.folder / f".{name}.eml.partial"
        await asyncio.to_thread(self._write, partial, data)
        await commit()
        partial.replace(final)
        links = _LINKS.findall(mail.text)
        log.info(  # the file transport is for development: its links are what a developer clicks
            "email written to %s for %s: %s %s", final, mail.to_address, mail.subject, " ".join(links)
        )

    def _write(self, path: Path, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _smtp_body(message: EmailMessage) -> bytes:
    """The DATA payload without its terminating line: CRLF line ends, leading dots doubled."""
    data = re.sub(rb"(?:\r\n|\n|\r(?!\n))", b"\r\n", message.as_bytes())
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


class SmtpTransport:
    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings

    async def deliver(self, mail: Mail, *, message_id: str, sender: str, commit: Commit) -> None:
        loop = asyncio.get_running_loop()
        message = to_email_message(mail, message_id=message_id, sender=sender)

        def commit_from_thread() -> None:
            asyncio.run_coroutine_threadsafe(commit(), loop).result(timeout=30)

        await asyncio.to_thread(self._send, message, commit_from_thread)

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        context = ssl.create_default_context()
        if s.smtp_security == "tls":
            server: smtplib.SMTP = smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds, context=context
            )
        else:
            server = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)
            if s.smtp_security == "starttls":
                server.starttls(context=context)  # required, never "if offered": no silent downgrade
        server.ehlo_or_helo_if_needed()
        password = s.password()
        if s.smtp_username and password is not None:
            server.login(s.smtp_username, password)
        return server

    def _send(self, message: EmailMessage, commit: Callable[[], None]) -> None:
        try:
            server = self._connect()
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"cannot reach the mail server: {type(exc).__name__}: {exc}") from exc
        try:
            code, reply = server.mail(str(self.settings.from_address))
            if code != 250:
                raise DeliveryError(f"MAIL FROM refused: {code} {reply!r}")
            code, reply = server.rcpt(str(message["To"]))
            if code not in (250, 251):
                raise DeliveryError(f"RCPT TO refused: {code} {reply!r}")
            code, reply = server.docmd("DATA")
            if code != 354:
                raise DeliveryError(f"DATA refused: {code} {reply!r}")
            server.send(_smtp_body(message))
            commit()  # the outbox says "sent" before the server can accept it, never after
            server.send(b".\r\n")
            code, reply = server.getreply()
            if code != 250:
                raise DeliveryError(f"message refused: {code} {reply!r}")
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            try:
                server.quit()
            except (OSError, smtplib.SMTPException):
                server.close()


def transport_for(settings: EmailSettings, *, outbox_dir: Path) -> Transport:
    if settings.transport == "smtp":
        return SmtpTransport(settings)
    return FileTransport(outbox_dir)


def sender_of(settings: EmailSettings, display_name: str) -> str:
    return formataddr((settings.from_name or display_name, settings.from_address))
