"""Medians of several `python -m bench.run --json` outputs, as the Markdown rows of bench/README.md.

    python -m bench.summarize results/new-sqlite-w1-*.json results/old-sqlite-w1-*.json ...

Files are grouped by served code (its commit, or the folder given as --keyturn-src), database
and workers; each figure is the median over its group's runs, and `n` says how many runs that was.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

FIGURES = (
    ("ops/s", "ops_per_second", 1),
    ("p50 ms", "p50_ms", 0),
    ("p99 ms", "p99_ms", 0),
    ("server CPU ms/op", "server_cpu_ms_per_op", 1),
    ("PostgreSQL CPU ms/op", "pg_backend_cpu_ms_per_op", 1),
    ("client CPU ms/op", "client_cpu_ms_per_op", 1),
    ("Keyturn transactions/op", "transactions_per_op", 1),
    ("statements/op", "statements_per_op", 1),
    ("PostgreSQL xacts/op", "pg_transactions_per_op", 1),
    ("errors", "errors", 0),
)


def _median(values: list[float], digits: int) -> str:
    if not values:
        return "–"
    value = statistics.median(values)
    return f"{value:.{digits}f}" if digits else f"{value:.0f}"


def summarize(paths: list[Path]) -> str:
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for path in paths:
        text = path.read_text()
        if not text.strip():
            continue  # a run still going, or one that failed
        run = json.loads(text)
        code = str(run["commit"]).removesuffix("/src").rsplit("/", 1)[-1]  # a --keyturn-src: its folder
        groups[(code, run["database"], run["workers"])].append(run)
    header = ["database", "workers", "code", "n", "floor ms", *(name for name, _, _ in FIGURES)]
    lines = []
    for scenario in ("signin", "oidc", "client_credentials"):
        lines += ["", f"{scenario}:", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        for (code, database, workers), runs in sorted(
            groups.items(), key=lambda g: (g[0][1], g[0][2], g[0][0])
        ):
            found = [r[scenario] for r in runs if scenario in r]
            if not found:
                continue
            cells = [database, str(workers), code, str(len(found))]
            cells.append(_median([r["floor_ms"] for r in runs], 3))
            for _, key, digits in FIGURES:
                cells.append(_median([s[key] for s in found if s.get(key) is not None], digits))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines).strip()


def main() -> None:
    print(summarize([Path(p) for p in sys.argv[1:]]))


if __name__ == "__main__":
    main()
