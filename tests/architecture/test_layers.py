"""The package's dependencies point one way, as docs/architecture.md draws them.

The layers are declared once, in pyproject.toml ([tool.importlinter]), and checked by
import-linter over every module of `keyturn` (a new upward import fails here).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_module_imports_a_layer_above_its_own() -> None:
    linter = shutil.which("lint-imports")
    assert linter, "import-linter is part of the test extra: pip install -e '.[test]'"
    result = subprocess.run(
        [linter, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
