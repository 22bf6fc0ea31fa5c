"""A worker's own listening socket gives its connections TCP_NODELAY.

Without it a response written in two parts (head, then body) waits for the client's delayed
ACK: about 40 ms on every request of a kept-alive connection, which made a passkey sign-in on
`--workers 2` take 190 ms instead of 20. asyncio sets the option only on sockets whose
protocol says TCP, so the socket must be made with IPPROTO_TCP, not 0.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest
import uvloop

from keyturn.serving import reuse_port_socket

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_accepted_connections_have_nodelay(loop_name: str) -> None:
    async def main() -> int:
        listener = reuse_port_socket("127.0.0.1", 0)
        port = listener.getsockname()[1]
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            value = await asyncio.wait_for(seen, timeout=5)
            writer.close()
        return value

    loop = LOOPS[loop_name]()
    try:
        assert loop.run_until_complete(main()) != 0
    finally:
        loop.close()
