"""A lean HTTP/1.1 client on asyncio streams: one kept-alive connection and a cookie jar.

The benchmark's clients share its process with each other, and that process shares the
machine with the server, so every microsecond the driver spends is one the server cannot
use. This client does only what the scenarios need: Content-Length and chunked bodies,
keep-alive (reopening, like a browser, when the server closed an idle connection before a
request was answered), and name=value cookies with Max-Age/Expires deletion.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit


class HttpError(Exception):
    """The connection failed or the server's answer was not HTTP/1.1 we understand."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[str, str]]  # names lower-cased, in order
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


class Connection:
    """One kept-alive TCP connection; `request` reopens it when the server closed it."""

    def __init__(self, host: str, port: int, timeout: float = 60.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.opened = 0  # connections opened in all: 1 means keep-alive held throughout

    async def _open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self.opened += 1

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def request(self, head: bytes, body: bytes) -> Response:
        """Send one request (its head already serialised) and read the answer."""
        for attempt in (1, 2):
            reused = self._writer is not None
            if not reused:
                await self._open()
            assert self._reader is not None and self._writer is not None
            self._writer.write(head + body)
            try:
                async with asyncio.timeout(self.timeout):
                    return await self._read_response()
            except _Closed:
                await self.close()
                if not reused or attempt == 2:
                    raise HttpError("the server closed the connection without answering") from None
                # An idle kept-alive connection the server had closed: retry once on a new one.
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                await self.close()
                raise HttpError(f"{type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")

    async def _read_response(self) -> Response:
        assert self._reader is not None
        reader = self._reader
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise _Closed from None
            raise
        except ConnectionResetError:
            raise _Closed from None
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = []
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers.append((name.strip().lower(), value.strip()))
        fields = dict(headers)
        if "content-length" in fields:
            body = await reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            body = await _read_chunked(reader)
        elif status in (204, 304) or 100 <= status < 200:
            body = b""
        else:
            body = await reader.read()  # delimited by the end of the connection
            fields["connection"] = "close"
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return Response(status, headers, body)


class _Closed(Exception):
    """The server closed the connection before sending a byte of the answer."""


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


class Browser:
    """What the scenarios need of a browser: a cookie jar and one kept-alive connection.

    It connects to 127.0.0.1 and names the site `localhost:<port>` (Host, Origin), the
    public URL Keyturn derives for itself by default.
    """

    def __init__(self, port: int, *, user_agent: str = "keyturn-bench/2") -> None:
        self.connection = Connection("127.0.0.1", port)
        self.authority = f"localhost:{port}"
        self.origin = f"http://{self.authority}"
        self.cookies: dict[str, str] = {}
        self.user_agent = user_agent

    def keep_only(self, *names: str) -> None:
        """A fresh cookie jar, except for the cookies named."""
        self.cookies = {k: v for k, v in self.cookies.items() if k in names}

    async def close(self) -> None:
        await self.connection.close()

    async def request(
        self,
        method: str,
        target: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        cookies: bool = True,
    ) -> Response:
        target = self.path_of(target)
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.authority}", f"User-Agent: {self.user_agent}"]
        if cookies and self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if content_type is not None:
            lines.append(f"Content-Type: {content_type}")
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        lines.extend(f"{k}: {v}" for k, v in headers)
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        response = await self.connection.request(head, body)
        if cookies:
            for value in response.header_values("set-cookie"):
                self._store_cookie(value)
        return response

    def path_of(self, target: str) -> str:
        """A Location or redirect_to as a request target on this site."""
        if target.startswith(("http://", "https://")):
            parts = urlsplit(target)
            if parts.netloc != self.authority:
                raise HttpError(f"refusing to follow {target} off {self.authority}")
            return parts.path + (f"?{parts.query}" if parts.query else "")
        return target

    async def get(self, target: str) -> Response:
        return await self.request("GET", target, headers=[("Accept", "text/html")])

    async def post_json(self, target: str, data: Any, *, csrf: str) -> Response:
        """A POST as keyturn.js makes it: same origin, JSON body, the CSRF header."""
        return await self.request(
            "POST",
            target,
            body=json.dumps(data, separators=(",", ":")).encode(),
            content_type="application/json",
            headers=[("Origin", self.origin), ("X-CSRF-Token", csrf), ("Accept", "application/json")],
        )

    async def post_form(
        self, target: str, fields: dict[str, str], *, basic: tuple[str, str] | None = None
    ) -> Response:
        """A back-channel form POST (an OAuth client calling the token endpoint): no cookies."""
        headers = [("Accept", "application/json")]
        if basic is not None:
            pair = f"{basic[0]}:{basic[1]}".encode()
            headers.append(("Authorization", "Basic " + base64.b64encode(pair).decode()))
        return await self.request(
            "POST",
            target,
            body=urlencode(fields).encode(),
            content_type="application/x-www-form-urlencoded",
            headers=headers,
            cookies=False,
        )

    def _store_cookie(self, header: str) -> None:
        pair, *attributes = header.split(";")
        name, _, value = pair.strip().partition("=")
        expired = False
        for attribute in attributes:
            key, _, setting = attribute.strip().partition("=")
            key = key.lower()
            if key == "max-age":
                expired = int(setting) <= 0
            elif key == "expires" and "1970" in setting:
                expired = True
        if expired or not value:
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value.strip('"')
