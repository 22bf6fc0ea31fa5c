"""A loopback TCP proxy a test controls: forward, or stall (the database stops answering).

Keyturn is pointed at the proxy instead of PostgreSQL, so a test can make the database
unreachable (connections accepted and held, nothing forwarded, as when a network drops
packets) and bring it back, without ever touching the shared PostgreSQL server.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._stalled = False
        self._flowing: asyncio.Event | None = None  # made on the proxy's loop
        self._streams: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    # --- control, from the test's thread

    def stall(self) -> None:
        """From now on nothing is forwarded either way, and new connections hang unanswered."""
        self._loop.call_soon_threadsafe(self._set_stalled, True)

    def resume(self) -> None:
        """Forward again; connections that stalled are cut (the client sees them die)."""
        self._loop.call_soon_threadsafe(self._set_stalled, False)

    def _set_stalled(self, stalled: bool) -> None:
        assert self._flowing is not None
        was = self._stalled
        self._stalled = stalled
        if stalled:
            self._flowing.clear()
            return
        if was:
            for writer in list(self._streams):
                writer.close()
            self._streams.clear()
        self._flowing.set()

    # --- the proxy, on its own loop

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._flowing = asyncio.Event()
        self._flowing.set()
        server = self._loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        for writer in self._streams:
            writer.close()
        server.close()
        self._loop.run_until_complete(server.wait_closed())
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        self._streams.add(writer)
        await self._flowing.wait()  # a stalled network: the connection hangs unanswered
        if writer.is_closing():
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._streams.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                assert self._flowing is not None
                await self._flowing.wait()  # hold what arrived: a silent network
                if writer.is_closing():
                    return
                writer.write(data)
                await writer.drain()
        writer.close()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(5)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@contextmanager
def tcp_proxy(target_host: str, target_port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(target_host, target_port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
