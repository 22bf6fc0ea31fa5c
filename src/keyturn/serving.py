"""Running the server: one process, or a supervisor and N workers that each own a socket.

With several workers, each binds its own listening socket on the same port with
SO_REUSEPORT, so the kernel spreads incoming connections across them (by a hash of each
connection's addresses). A shared socket, which uvicorn's own `--workers` uses, lets one
process accept a burst of connections all at once, and clients that keep their
connections alive (browsers, proxies) then stay on that one process.

The supervisor restarts a worker that dies, stops them all on SIGINT/SIGTERM, and keeps
the Prometheus multiprocess directory clean (`keyturn.metrics`).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn

from keyturn.background import SHUTDOWN
from keyturn.log_config import LogFormat, configure_logging

log = logging.getLogger("keyturn.serve")
APP = "keyturn.app:create_app_from_environment"
_RESTART_PAUSE_SECONDS = 1.0


def _config(host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        APP,
        factory=True,
        host=host,
        port=port,
        log_config=None,  # Keyturn's own logging (text or JSON) is already in place
        access_log=False,  # Keyturn writes its own access lines (keyturn.http.edge)
        proxy_headers=False,
        server_header=False,
        lifespan="on",
    )


class Server(uvicorn.Server):
    """uvicorn's server, telling long-lived responses when a shutdown begins (see SHUTDOWN)."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        SHUTDOWN.request()
        super().handle_exit(sig, frame)


def reuse_port_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and without it a response written in two parts waits for the client's delayed ACK (40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _worker(host: str, port: int, log_format: LogFormat, log_level: str) -> None:
    """One worker process: its own socket on the shared port, its own app."""
    configure_logging(log_format=log_format, level=log_level)
    _forget_dead_workers()
    sock = reuse_port_socket(host, port)
    # Server.run: the event loop uvicorn would choose for itself (uvloop when installed).
    Server(_config(host, port)).run(sockets=[sock])


def _forget_dead_workers() -> None:
    """A restarted worker: drop live gauges left by processes that no longer exist."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    from prometheus_client import multiprocess

    for name in os.listdir(directory):
        pid = name.rsplit("_", 1)[-1].removesuffix(".db")
        if pid.isdigit() and not _alive(int(pid)):
            multiprocess.mark_process_dead(int(pid), directory)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def serve_forever(*, host: str, port: int, workers: int, log_format: LogFormat, log_level: str) -> None:
    if workers == 1:
        Server(_config(host, port)).run()
        return
    metrics_dir = tempfile.mkdtemp(prefix="keyturn-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    spawn = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> BaseProcess:
        process = spawn.Process(target=_worker, args=(host, port, log_format, log_level), daemon=False)
        process.start()
        return process

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    processes = [start() for _ in range(workers)]
    log.info("started %d workers", workers, extra={"pids": [p.pid for p in processes]})
    try:
        while not stopping:
            for index, process in enumerate(processes):
                if not process.is_alive() and not stopping:
                    log.warning("worker %s exited with %s; starting another", process.pid, process.exitcode)
                    time.sleep(_RESTART_PAUSE_SECONDS)
                    processes[index] = start()
            time.sleep(0.2)
    finally:
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(metrics_dir, ignore_errors=True)
