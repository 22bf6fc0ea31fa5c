"""Run real servers in subprocesses (`keyturn serve`, the example client app) for tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2

STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class RunningServer:
    base_url: str
    env: dict[str, str]
    log_path: Path
    pid: int = 0

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def running_process(
    args: list[str], *, env: dict[str, str], base_url: str, health_path: str, log_path: Path
) -> Iterator[RunningServer]:
    """Start `args`, wait until `health_path` answers 200, yield, and always stop it."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(f"{base_url}{health_path}", process, log_path)
        yield RunningServer(base_url=base_url, env=env, log_path=log_path, pid=process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def keyturn_env(
    *, data_dir: Path, database_url: str, port: int, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment of a `keyturn` process: ours minus any KEYTURN_* of the caller's."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("KEYTURN_")}
    return {
        **inherited,
        "KEYTURN_DATA_DIR": str(data_dir),
        "KEYTURN_DATABASE_URL": database_url,
        "KEYTURN_PORT": str(port),
        "KEYTURN_CONFIG_CHECK_SECONDS": "0",  # the CLI's changes reach the server at once (conftest.py)
        "PYTHONUNBUFFERED": "1",
        **(extra or {}),
    }


@contextmanager
def running_server(
    *, port: int, data_dir: Path, database_url: str, workers: int = 1, extra_env: dict[str, str] | None = None
) -> Iterator[RunningServer]:
    """`keyturn serve` on localhost:port."""
    env = keyturn_env(data_dir=data_dir, database_url=database_url, port=port, extra=extra_env)
    args = [sys.executable, "-m", "keyturn", "serve", "--port", str(port), "--workers", str(workers)]
    with running_process(
        args,
        env=env,
        base_url=f"http://localhost:{port}",
        health_path="/health/live",
        log_path=data_dir / f"server-{port}.log",
    ) as server:
        yield server


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited early:\n{log_path.read_text(errors='replace')}")
        try:
            if httpx2.get(url, timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(
        f"{url} did not answer within {STARTUP_SECONDS}s:\n{log_path.read_text(errors='replace')}"
    )
