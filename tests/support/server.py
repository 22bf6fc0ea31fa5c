"""Run the real `keyturn serve` in a subprocess, for tests that need a listening server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_server(
    *, port: int, data_dir: Path, database_url: str, workers: int = 1, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """Start `keyturn serve` on localhost:port; yield its base URL; always stop it."""
    env = {
        **os.environ,
        "KEYTURN_DATA_DIR": str(data_dir),
        "KEYTURN_DATABASE_URL": database_url,
        **(extra_env or {}),
    }
    log = (data_dir / f"server-{port}.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "keyturn", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://localhost:{port}"
    try:
        _wait_healthy(base_url, process, data_dir / f"server-{port}.log")
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"keyturn serve exited early:\n{log_path.read_text()}")
        try:
            if httpx2.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"keyturn serve did not become healthy:\n{log_path.read_text()}")
