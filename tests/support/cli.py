"""`keyturn ARGS` for the CLI's tests: in this process through typer's CliRunner, or as the real
`python -m keyturn` in a subprocess.

Both see only the test's KEYTURN_* settings. In-process is the same code as the entry point
(the typer app `keyturn.cli.main.app`) without a new interpreter importing Keyturn first,
which costs seconds per call on the CI machine; `process` keeps the entry point itself, its
exit codes and its output streams, under test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from typer.testing import CliRunner

from keyturn.cli.main import app


def _ours(name: str) -> bool:
    return name.upper().startswith("KEYTURN_")


class Done(NamedTuple):
    """What a command did: unpacks as (code, out, err), or read by name like a CompletedProcess."""

    returncode: int
    stdout: str
    stderr: str


class Keyturn:
    """The CLI on one database and data directory (so the same key-encryption key as an app
    given that data directory)."""

    def __init__(self, data_dir: Path, database_url: str) -> None:
        self.env = {"KEYTURN_DATA_DIR": str(data_dir), "KEYTURN_DATABASE_URL": database_url}
        self.runner = CliRunner()

    @classmethod
    def like(cls, env: Mapping[str, str]) -> Keyturn:
        """The CLI with a running server's KEYTURN_* settings (its environment, from
        `tests.support.server.keyturn_env`): what its operator would type commands with."""
        cli = cls(Path(env["KEYTURN_DATA_DIR"]), env["KEYTURN_DATABASE_URL"])
        cli.env |= {name: value for name, value in env.items() if _ours(name)}
        return cli

    def __call__(self, *args: str) -> Done:
        """In this process; the suite's own KEYTURN_* are hidden from the command meanwhile.

        An exception other than the command's exit is raised here, not turned into an exit
        code: an operator would have seen a traceback.
        """
        hidden: dict[str, str | None] = {
            name: None for name in os.environ if name.upper().startswith("KEYTURN_")
        }
        result = self.runner.invoke(app, list(args), env={**hidden, **self.env})
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Done(result.exit_code, result.stdout, result.stderr)

    def process_env(self) -> dict[str, str]:
        """The environment of a `python -m keyturn` process: ours minus any KEYTURN_*, plus the test's."""
        inherited = {
            name: value for name, value in os.environ.items() if not name.upper().startswith("KEYTURN_")
        }
        return {**inherited, **self.env, "PYTHONUNBUFFERED": "1"}

    def args(self, *args: str) -> list[str]:
        """The command line of the real entry point (for a process a test drives itself)."""
        return [sys.executable, "-m", "keyturn", *args]

    def process(self, *args: str) -> Done:
        """As an operator runs it: `python -m keyturn ARGS` in a subprocess."""
        done = subprocess.run(
            self.args(*args), env=self.process_env(), capture_output=True, text=True, timeout=60, check=False
        )
        return Done(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str) -> str:
        code, out, err = self(*args)
        assert code == 0, f"exit {code}\nstdout: {out}\nstderr: {err}"
        return out

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args))
