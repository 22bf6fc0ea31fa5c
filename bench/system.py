"""What the benchmark reads from Linux /proc: CPU and memory of process trees, and of PostgreSQL.

Two CPU clocks:
- `cpu_ticks`: utime + stime from /proc/<pid>/stat (clock ticks, 10 ms here), which covers
  every thread the process ever had, live or finished. The measured windows use it.
- `run_ns`: the scheduler's on-CPU nanoseconds from /proc/<pid>/task/<tid>/schedstat, summed
  over live threads. Precise enough to bracket a single request (the per-request probe).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

TICK_SECONDS = 1 / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    name: str  # comm
    ticks: int  # utime + stime


def _read(pid: str) -> Proc | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()  # fields[0] is the state, field 3 of stat(5)
    return Proc(int(pid), int(fields[1]), name, int(fields[11]) + int(fields[12]))


def all_processes() -> list[Proc]:
    found = (_read(entry) for entry in os.listdir("/proc") if entry.isdigit())
    return [p for p in found if p is not None]


def tree(root: int) -> list[Proc]:
    """The process and all its descendants (the supervisor, its workers, helpers)."""
    processes = all_processes()
    children: dict[int, list[Proc]] = {}
    for proc in processes:
        children.setdefault(proc.ppid, []).append(proc)
    result = [p for p in processes if p.pid == root]
    frontier = [root]
    while frontier:
        kids = children.get(frontier.pop(), [])
        result.extend(kids)
        frontier.extend(k.pid for k in kids)
    return result


def cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return ""


def postgres_processes(database: str | None) -> list[Proc]:
    """Every process named postgres, or only the backends serving `database` when given.

    A backend's title is `postgres: <user> <database> <client> <state>`; the server's own
    processes (checkpointer, walwriter, ...) and other databases' backends are left out then.
    """
    found = [p for p in all_processes() if p.name == "postgres"]
    if database is None:
        return found
    return [p for p in found if f" {database} " in cmdline(p.pid)]


def ticks_by_pid(processes: list[Proc]) -> dict[int, int]:
    return {p.pid: p.ticks for p in processes}


def cpu_delta_ms(before: dict[int, int], after: dict[int, int]) -> dict[int, float]:
    """CPU milliseconds each process used between two readings (new processes from zero)."""
    return {pid: (ticks - before.get(pid, 0)) * TICK_SECONDS * 1000 for pid, ticks in after.items()}


def run_ns(pids: list[int]) -> int:
    """On-CPU nanoseconds of the live threads of these processes (schedstat's first field)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError, ValueError, IndexError):
                    total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
    return total


def rss_bytes(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def describe(proc: Proc) -> str:
    """A short label for a process of the server's tree."""
    line = cmdline(proc.pid)
    if "multiprocessing.resource_tracker" in line:
        return "resource tracker"
    if "multiprocessing.spawn" in line:
        return "worker"
    if " serve " in f"{line} ":
        return "serve"
    return proc.name
